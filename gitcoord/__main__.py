"""`python -m gitcoord`: what the committed launcher runs, the console script's twin.

It is `gitcoord.warm.client.entry`: the call goes to the warm server when one can take it, else it
runs in this process (`gitcoord.console.entry`, where a plain `guard --format claude|codex` goes
straight to the stdlib-only guard). The editor guard runs on every single edit an agent makes, so
this is the path that has to be cheap.
"""

from __future__ import annotations

from gitcoord.warm.client import entry

entry()
