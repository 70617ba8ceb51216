"""The benchmark results schema: one JSON document per run, written by ``invdn bench`` and by the demo apps'
benchmark mode, read by ``invdn report``. The schema file is ``results.schema.json`` beside this module
(``benchmarks/schema/results.schema.json`` links to it)."""

from __future__ import annotations

import functools
import json
from pathlib import Path

from invdn_mobile.errors import InvdnError
from invdn_mobile.extras import need

SCHEMA_PATH = Path(__file__).with_name("results.schema.json")


@functools.cache
def schema() -> dict:
    return json.loads(SCHEMA_PATH.read_text())


def validate(doc: object, where: str = "results") -> dict:
    """Raise :class:`InvdnError` naming the first problem (with its JSON path) unless ``doc`` follows the schema."""
    jsonschema = need("jsonschema")
    validator = jsonschema.Draft202012Validator(schema())
    errors = sorted(validator.iter_errors(doc), key=lambda e: list(e.absolute_path))
    if errors:
        err = errors[0]
        path = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in err.absolute_path) or "(top level)"
        more = f" (and {len(errors) - 1} more problem(s))" if len(errors) > 1 else ""
        raise InvdnError(f"{where}: {path}: {err.message}{more}")
    return doc  # type: ignore[return-value]


def load(path: Path) -> dict:
    """Read and validate one results file; every problem is one :class:`InvdnError` line."""
    return validate(read_json(path), str(path))


def read_json(path: Path) -> object:
    """The JSON in ``path``; one :class:`InvdnError` line when it cannot be read or parsed."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InvdnError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InvdnError(f"{path}: cannot read ({exc.__class__.__name__})") from None
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvdnError(f"{path}: not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})") from None
    return doc
