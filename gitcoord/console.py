"""The console entry of every in-process call: the guard or a plain read first, else the CLI.

A plain `guard --format claude|codex` goes straight to `gitcoord.hooks.guard` (stdlib only), which
answers and exits exactly as the click command does; any other guard call (a bad `--format`,
`--help`, group options) is the CLI's to judge. `gitcoord.lean_reads` answers a plain `claims`,
`inbox` or `status` without click or pydantic; only when it hands the call over is `gitcoord.cli`
imported. The console script (`gitcoord.warm.client`), the warm server's children and
`python -m gitcoord` all end here, so each runs a call the same way.
"""

from __future__ import annotations

import os
import sys

# Not `typing.TYPE_CHECKING`: importing `typing` costs the guard (every edit) a few ms.
TYPE_CHECKING = False
if TYPE_CHECKING:
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


def entry() -> None:
    """Run the call in this process, flush, and leave without the interpreter's teardown."""
    from gitcoord.hooks.run import leave

    fmt = guard_format(sys.argv[1:])
    # The CLI's `-C .` check comes first there: a vanished working directory is its exit 2.
    if fmt is not None and os.path.isdir("."):
        leave(_guard(fmt))

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


def _guard(fmt: Literal["claude", "codex"]) -> int:
    """The editor guard on the edit JSON on stdin; its exit code, its answer written."""
    from gitcoord.hooks.guard import run_guard

    try:
        code, answer = run_guard(fmt, sys.stdin.read())
        if answer:
            sys.stdout.write(answer + "\n")
    except Exception:  # stdin that is not text: what the CLI says of any failure it did not foresee
        import traceback

        sys.stderr.write("gitcoord: internal error (please report it with what follows):\n")
        traceback.print_exc(file=sys.stderr)
        code = 1
    return code
