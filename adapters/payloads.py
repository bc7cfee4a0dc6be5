"""Reading platform JSON and fitting text into platform limits: pure pieces every adapter's translator shares."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

ELLIPSIS = "…"


def text_or_none(value: Any) -> str | None:
    """A non-empty string, or None for anything else."""
    return value if isinstance(value, str) and value else None


def value_at(body: Mapping[str, Any], *path: str) -> Any:
    """The value at a key path, or None where the path breaks off (payloads omit what they like)."""
    node: Any = body
    for key in path:
        if not isinstance(node, Mapping):
            return None
        node = node.get(key)
    return node


def truncate(text: str, limit: int) -> str:
    """Text cut to at most `limit` characters, ending in an ellipsis when something was cut."""
    if len(text) <= limit:
        return text
    if limit <= 0:
        return ""
    return text[: limit - 1].rstrip() + ELLIPSIS
