"""The console entry of every in-process call: a plain read first, else the CLI.

`gitcoord.lean_reads` answers a plain `claims` or `inbox` without click or pydantic; only when it
hands the call over is `gitcoord.cli` imported. The console script (`gitcoord.warm.client`), the
warm server's children and `python -m gitcoord` all end here, so each runs a call the same way.
"""

from __future__ import annotations

import os
import sys


def entry() -> None:
    """Run the call in this process, flush, and leave without the interpreter's teardown."""
    from gitcoord.hooks.run import leave

    # pydantic looks for plugins (a scan of every installed package's entry points) when it
    # builds its first validator; gitcoord's records use none. Set it to "" to let them load.
    os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")
    from gitcoord.lean_reads import run as lean

    # A plain read answers without pydantic (gitcoord.lean_reads), else it hands the full path
    # the arguments to run (`--no-fetch` once it has fetched: one fetch per call).
    answer = lean(sys.argv[1:])
    if isinstance(answer, int):
        leave(answer)
    from gitcoord.cli import main

    leave(main(answer))
