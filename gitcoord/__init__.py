"""gitcoord: coordinate several coding agents in one git repository, through git itself.

The library is the product: `Coordinator` offers every operation the CLI has.
Imports are lazy so that the git hooks and `gitcoord claim` stay fast.
"""

from __future__ import annotations

from gitcoord.errors import GitcoordError, InvalidInput, Refused, Unavailable

# Not `typing.TYPE_CHECKING`: importing `typing` costs the warm client (every call) a few ms.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from gitcoord.coordinator import Coordinator

__all__ = ["Coordinator", "GitcoordError", "InvalidInput", "Refused", "Unavailable"]


def __getattr__(name: str) -> Any:
    if name == "Coordinator":
        from gitcoord.coordinator import Coordinator

        return Coordinator
    raise AttributeError(name)
