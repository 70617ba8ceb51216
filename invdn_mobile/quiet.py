"""Converters print pages of progress, warnings and log lines; export shows its own one-line summaries instead."""

from __future__ import annotations

import contextlib
import io
import logging
import os
import warnings
from collections.abc import Iterator

# native (absl/glog) logging of the TFLite and CoreML toolchains; read when their libraries load
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("GLOG_minloglevel", "2")
os.environ.setdefault("LITERT_TORCH_SHOW_PROGRESS", "n")


@contextlib.contextmanager
def quiet() -> Iterator[io.StringIO]:
    """Silence Python warnings, logging below ERROR and stdout/stderr writes inside the block (yields the sink)."""
    sink = io.StringIO()
    previous = logging.root.manager.disable
    logging.disable(logging.WARNING)
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
            warnings.simplefilter("ignore")
            yield sink
    finally:
        logging.disable(previous)
