"""`python -m gitcoord`: what the committed launcher runs, the console script's twin.

Under `-P` (the launcher's) it is `gitcoord.warm.client.entry`: the call goes to the warm server
when one can take it, else it runs in this process (`gitcoord.console.entry`, where a plain `guard
--format claude|codex` goes straight to the stdlib-only guard). The editor guard runs on every
single edit an agent makes, so this is the path that has to be cheap.
"""

from __future__ import annotations

import sys

if sys.flags.safe_path:
    from gitcoord.warm.client import entry
else:
    # Without -P the caller's working directory is first on sys.path: a server started from here
    # would import from that directory for every later call. Only the launcher's -P is served.
    from gitcoord.console import entry

entry()
