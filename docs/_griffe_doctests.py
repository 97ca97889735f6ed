"""A griffe extension for the API reference: doctests outside an ``Examples:`` section render as code.

Google style puts doctests under ``Examples:``, which mkdocstrings renders as code; many docstrings
here end with a bare ``>>>`` example instead (doctest runs it all the same). As Markdown, such a
block is a paragraph, and an output like ``[[0, 1, 3], [2]]`` reads as a reference link that does
not resolve, a warning that ``mkdocs build --strict`` fails on. Fencing the block as ``pycon`` shows
it as the session it is. Blocks under an ``Examples:`` section are left to griffe.
"""

from __future__ import annotations

import re
from typing import Any

import griffe

_SECTION = re.compile(r"\w[\w ]*:")


def fence_doctests(text: str) -> str:
    """Wrap every ``>>>`` block of ``text`` (up to its blank line) in a ``pycon`` fence, at its indentation.

    Blocks under an ``Examples:`` header stay as they are: griffe renders those as code itself.
    """
    out: list[str] = []
    block_indent: str | None = None
    in_fence = False
    examples_indent: int | None = None
    for line in text.splitlines():
        stripped = line.lstrip()
        indent = len(line) - len(stripped)
        if stripped.startswith("```"):
            in_fence = not in_fence
        if stripped and block_indent is None and (examples_indent is None or indent <= examples_indent):
            examples_indent = indent if _SECTION.fullmatch(stripped) and stripped.lower() == "examples:" else None
        if block_indent is not None and not stripped:
            out.append(block_indent + "```")
            block_indent = None
        elif not in_fence and block_indent is None and examples_indent is None and stripped.startswith(">>>"):
            block_indent = line[:indent]
            out.append(block_indent + "```pycon")
        out.append(line)
    if block_indent is not None:
        out.append(block_indent + "```")
    return "\n".join(out)


class FenceDoctests(griffe.Extension):
    """Fence bare doctests in every docstring griffe loads."""

    def on_instance(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        """Rewrite ``obj``'s docstring once it is loaded."""
        if obj.docstring is not None and ">>>" in obj.docstring.value:
            obj.docstring.value = fence_doctests(obj.docstring.value)
