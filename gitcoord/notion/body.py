"""Page bodies: an error's trace as `code` blocks under its row.

A trace (up to 64 KiB) does not fit a property, so it goes into the page body
as code blocks in plain text: 2,000-unit rich text items, at most 100 items a
block (so a 64 KiB trace is one block), at most 100 blocks a request. Our blocks
carry a caption starting with `TRACE_CAPTION`: that is how the sync tells them
from anything a person wrote in the page, which it never touches.

Blocks are compared in plain form (caption, language, text) so that a resync
with the same trace costs no write.
"""

from __future__ import annotations

from typing import Any

from gitcoord.notion.schema import TEXT_ITEMS, chunk_text, rich_items

TRACE_CAPTION = "gitcoord trace"
LANGUAGE = "plain text"
BLOCKS_PER_REQUEST = 100
ITEMS_PER_BLOCK = TEXT_ITEMS

Shape = tuple[str, str, str]  # caption, language, text


def trace_blocks(trace: str) -> list[dict[str, Any]]:
    """The code blocks showing `trace` (none for an empty trace).

    >>> [b["code"]["language"] for b in trace_blocks("x" * 5000)]
    ['plain text']
    """
    pieces = chunk_text(trace)
    groups = [pieces[i : i + ITEMS_PER_BLOCK] for i in range(0, len(pieces), ITEMS_PER_BLOCK)]
    return [_code(group, _caption(n, len(groups))) for n, group in enumerate(groups, 1)]


def _caption(part: int, parts: int) -> str:
    return TRACE_CAPTION if parts == 1 else f"{TRACE_CAPTION} (part {part} of {parts})"


def _code(pieces: list[str], caption: str) -> dict[str, Any]:
    return {
        "object": "block",
        "type": "code",
        "code": {"rich_text": rich_items(pieces), "caption": rich_items([caption]), "language": LANGUAGE},
    }


def batches(blocks: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """The blocks in requests of at most 100."""
    return [blocks[i : i + BLOCKS_PER_REQUEST] for i in range(0, len(blocks), BLOCKS_PER_REQUEST)]


def is_ours(block: dict[str, Any]) -> bool:
    """A trace block the sync wrote (a person's own code blocks do not carry our caption)."""
    if block.get("type") != "code":
        return False
    return _plain(block["code"].get("caption")).startswith(TRACE_CAPTION)


def shape(block: dict[str, Any]) -> Shape:
    """A code block, as sent or as Notion answers it, in plain form."""
    code = block.get("code") or {}
    return _plain(code.get("caption")), str(code.get("language", "")), _plain(code.get("rich_text"))


def _plain(items: Any) -> str:
    """The text of a rich text array; a request's items have no `plain_text`, Notion's answers do."""
    out = []
    for item in items or []:
        text = item.get("plain_text")
        out.append(text if isinstance(text, str) else str((item.get("text") or {}).get("content", "")))
    return "".join(out)
