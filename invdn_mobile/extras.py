"""Optional dependencies, in one table: which distribution and which extra of ``pyproject.toml`` bring each module
the package imports only when a command needs it, and the one way to import such a module: :func:`need` imports it or
raises one line naming the ``pip install`` that brings it. A test checks the table against ``pyproject.toml``."""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
from importlib.metadata import PackageNotFoundError, version
from types import ModuleType

from invdn_mobile.errors import InvdnError, first_line
from invdn_mobile.quiet import quiet

# top-level import name -> (distribution, extra)
EXTRAS = {
    "onnx": ("onnx", "export-onnx"),
    "onnxruntime": ("onnxruntime", "export-onnx"),
    "onnxslim": ("onnxslim", "export-onnx"),
    "onnxconverter_common": ("onnxconverter-common", "export-onnx"),
    "litert_torch": ("litert-torch", "export-tflite"),
    "ai_edge_quantizer": ("ai-edge-quantizer", "export-tflite"),
    "ai_edge_litert": ("ai-edge-litert", "export-tflite"),
    "coremltools": ("coremltools", "export-coreml"),
    "executorch": ("executorch", "export-executorch"),
    "torchao": ("torchao", "export-executorch"),
    "bm3d": ("bm3d", "train"),
    "matplotlib": ("matplotlib", "bench"),
    "jsonschema": ("jsonschema", "bench"),
}


def _entry(module: str) -> tuple[str, str]:
    top = module.split(".")[0]
    if top not in EXTRAS:
        raise KeyError(f"{top} is not an optional dependency listed in invdn_mobile.extras.EXTRAS")
    return EXTRAS[top]


def install_hint(module: str) -> str:
    """``pip install 'invdn-mobile[EXTRA]'`` for the extra that brings ``module``."""
    return f"pip install 'invdn-mobile[{_entry(module)[1]}]'"


def need(module: str, silent: bool = False) -> ModuleType:
    """Import ``module`` (dotted names allowed) of an optional dependency, or raise :class:`InvdnError` naming the
    distribution and the extra that brings it. ``silent``: silence what the library prints while it loads."""
    dist, _ = _entry(module)
    try:
        with quiet() if silent else contextlib.nullcontext():
            return importlib.import_module(module)
    except ImportError as exc:
        raise InvdnError(f"{dist} is not installed ({first_line(exc)}): {install_hint(module)}") from None


def have(module: str) -> bool:
    """Whether the optional dependency ``module`` is installed (without importing it): for optional steps."""
    _entry(module)
    return importlib.util.find_spec(module.split(".")[0]) is not None


def dist_version(module: str) -> str:
    """The installed version of the distribution that brings ``module`` (``"not installed"`` when absent)."""
    try:
        return version(_entry(module)[0])
    except PackageNotFoundError:
        return "not installed"
