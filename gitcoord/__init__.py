"""gitcoord: coordinate several coding agents in one git repository, through git itself.

The library is the product: `Coordinator` offers every operation the CLI has.
Imports are lazy so that the git hooks and `gitcoord claim` stay fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from gitcoord.errors import GitcoordError, InvalidInput, Refused, Unavailable

if TYPE_CHECKING:
    from gitcoord.coordinator import Coordinator

__all__ = ["Coordinator", "GitcoordError", "InvalidInput", "Refused", "Unavailable"]


def __getattr__(name: str) -> Any:
    if name == "Coordinator":
        from gitcoord.coordinator import Coordinator

        return Coordinator
    raise AttributeError(name)
