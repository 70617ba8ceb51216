"""Syntax checks for app code that cannot be built on this machine (the Android app's Kotlin, the iOS app's Swift).

A tree-sitter parse of the file with the language's published grammar (PyPI ``tree-sitter-kotlin``,
``tree-sitter-swift``); any ERROR or MISSING node is a syntax error. This is a syntax check, not a build: it does not
resolve names, types or APIs.
"""

from __future__ import annotations

import functools
from pathlib import Path

GRAMMARS = {"kotlin": "tree_sitter_kotlin", "swift": "tree_sitter_swift"}


@functools.cache
def parser(language: str):
    import importlib

    from tree_sitter import Language, Parser

    return Parser(Language(importlib.import_module(GRAMMARS[language]).language()))


def syntax_errors(source: bytes | str | Path, language: str) -> list[str]:
    """``line:column: ERROR|MISSING text`` for each error node of ``source`` (a path, or the code itself)."""
    if isinstance(source, Path):
        source = source.read_bytes()
    elif isinstance(source, str):
        source = source.encode()
    tree = parser(language).parse(source)
    found: list[str] = []
    stack = [tree.root_node]
    while stack:
        node = stack.pop()
        if node.is_error or node.is_missing:
            kind = "MISSING" if node.is_missing else "ERROR"
            text = source[node.start_byte : node.end_byte].decode(errors="replace").splitlines()
            found.append(f"{node.start_point[0] + 1}:{node.start_point[1] + 1}: {kind} {text[0][:60] if text else ''}")
        elif node.has_error:
            stack.extend(node.children)
    return sorted(found)
