"""The package's layers (docs/architecture.md) are true in the code: no module imports one of a higher layer, and no
two modules import each other, directly or round a loop — function-level imports included (read with ``ast``)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "invdn_mobile"

# Bottom to top; a module's layer is that of its longest matching prefix. Imports within a layer are allowed.
LAYERS = [
    (
        "foundation",
        ["invdn_mobile", "errors", "atomic", "quiet", "metrics", "device", "gates", "schema", "extras", "timer"],
    ),
    ("signals", ["imageio", "tiling", "noise", "strength"]),
    ("model and data", ["model", "data", "stress"]),
    ("denoiser and runtimes", ["denoise", "runtimes"]),
    ("pipelines", ["train", "evaluate", "export", "parity"]),
    ("products", ["bench", "evaluate.frontier", "web", "golden", "samples_report"]),
    ("interface", ["cli", "__main__"]),
]


def _layer_of(module: str) -> int:
    name = module.removeprefix("invdn_mobile").removeprefix(".") or "invdn_mobile"
    best, layer = -1, None
    for index, (_, prefixes) in enumerate(LAYERS):
        for prefix in prefixes:
            if (name == prefix or name.startswith(prefix + ".")) and len(prefix) > best:
                best, layer = len(prefix), index
    assert layer is not None, f"{module} is in no layer: add it to LAYERS and docs/architecture.md"
    return layer


def _modules() -> dict[str, Path]:
    out = {}
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


def import_graph() -> dict[str, set[str]]:
    """Module -> the package modules it imports anywhere in its file."""
    modules = _modules()
    graph = {}
    for name, path in modules.items():
        found = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").startswith("invdn_mobile"):
                for alias in node.names:
                    sub = f"{node.module}.{alias.name}"
                    found.add(sub if sub in modules else node.module)
            elif isinstance(node, ast.Import):
                found.update(a.name for a in node.names if a.name.startswith("invdn_mobile"))
            elif isinstance(node, ast.ImportFrom) and node.level:
                raise AssertionError(f"{path}: relative import; the package uses absolute imports")
        graph[name] = found - {name}
    return graph


def test_no_module_imports_a_higher_layer():
    upward = [
        f"{m} ({LAYERS[_layer_of(m)][0]}) imports {d} ({LAYERS[_layer_of(d)][0]})"
        for m, deps in sorted(import_graph().items())
        for d in sorted(deps)
        if _layer_of(d) > _layer_of(m)
    ]
    assert not upward, "\n".join(upward)


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_no_import_cycles():
    graph = import_graph()
    # a package's __init__ may re-export its own submodules; that is not a cycle of the layers
    for name in graph:
        graph[name] = {
            d
            for d in graph[name]
            if not (d.startswith(name + ".") and (PACKAGE.parent / name.replace(".", "/")).is_dir())
        }
    assert not _cycles(graph)


def test_the_checks_see_a_planted_violation():
    """The two checks work: an upward import and a loop, planted in a copy of the graph, are found."""
    graph = import_graph()
    assert _layer_of("invdn_mobile.tiling") < _layer_of("invdn_mobile.export.run") < _layer_of("invdn_mobile.cli.main")
    assert _layer_of("invdn_mobile.evaluate.frontier") > _layer_of("invdn_mobile.evaluate.run")
    graph["invdn_mobile.tiling"] = graph["invdn_mobile.tiling"] | {"invdn_mobile.golden"}
    assert any({"invdn_mobile.golden", "invdn_mobile.tiling"} <= set(c) for c in _cycles(graph))
    assert "invdn_mobile.export.run" in import_graph()["invdn_mobile.web"]  # function-level imports are read too
