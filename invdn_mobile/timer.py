"""Seconds per named step of a run, for ``invdn denoise --profile`` and the whole-photo benchmark."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator


class Timer:
    """Seconds spent per named step (``with timer("network"): ...``), summed over calls; thread-safe."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self._lock = threading.Lock()

    def __call__(self, step: str):
        return self._span(step)

    def add(self, step: str, seconds: float) -> None:
        """Count ``seconds`` spent on ``step`` elsewhere (e.g. by a thread that is not timed here)."""
        with self._lock:
            self.seconds[step] = self.seconds.get(step, 0.0) + seconds

    @contextlib.contextmanager
    def _span(self, step: str) -> Iterator[None]:
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self.add(step, time.perf_counter() - t0)
