"""Where the warm path keeps its sockets, locks, the hooks' C client and what served hooks keep:
one rule for the warm client and server (`warm.keys`), the hooks' client builder
(`hooks.native`, whose hook lines say the same rule in `sh`) and `doctor`.

Stdlib only and cheap: the warm client asks it on every call before it imports gitcoord.
"""

from __future__ import annotations

import os


def runtime_dir() -> str:
    """`$XDG_RUNTIME_DIR/gitcoord`, else `/tmp/gitcoord-<uid>`."""
    base = os.environ.get("XDG_RUNTIME_DIR")
    if base and os.path.isabs(base):
        return os.path.join(base, "gitcoord")
    return f"/tmp/gitcoord-{os.getuid()}"
