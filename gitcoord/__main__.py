"""`python -m gitcoord`: what the committed launcher runs.

The editor guard runs on every single edit an agent makes, so `guard --format claude|codex`
goes straight to `gitcoord.hooks.guard` (stdlib only) instead of through click, pydantic and the
command modules; it answers and exits exactly as the click command does. Any other arguments,
including a guard call click must judge (a bad `--format`, `--help`, group options), run the CLI.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from typing import Literal


def guard_format(argv: Sequence[str]) -> Literal["claude", "codex"] | None:
    """The editor of a plain `guard --format EDITOR` call, else None (the CLI decides)."""
    if len(argv) == 3 and argv[:2] == ["guard", "--format"]:
        fmt = argv[2]
    elif len(argv) == 2 and argv[0] == "guard" and argv[1].startswith("--format="):
        fmt = argv[1].removeprefix("--format=")
    else:
        return None
    return "claude" if fmt == "claude" else "codex" if fmt == "codex" else None


def _run() -> None:
    argv = sys.argv[1:]
    fmt = guard_format(argv)
    # The CLI's `-C .` check comes first there: a vanished working directory is its exit 2.
    if fmt is not None and os.path.isdir("."):
        from gitcoord.hooks.guard import run_guard
        from gitcoord.hooks.run import leave

        try:
            code, answer = run_guard(fmt, sys.stdin.read())
            if answer:
                sys.stdout.write(answer + "\n")
        except Exception:  # stdin that is not text: what the CLI says of any failure it did not foresee
            import traceback

            sys.stderr.write("gitcoord: internal error (please report it with what follows):\n")
            traceback.print_exc(file=sys.stderr)
            code = 1
        leave(code)
    from gitcoord.console import entry

    entry()


_run()
