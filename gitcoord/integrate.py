"""`gitcoord integrate`: the agents' instructions in AGENTS.md / CLAUDE.md, and the editor guard.

The block sits between two marker lines; everything else in the file is kept
byte for byte, and writing it again replaces only the block (idempotent).
`claude` writes CLAUDE.md, `codex` and `agents-md` write AGENTS.md; `claude`
and `codex` also merge the pre-edit guard into the editor's settings when the
enforcement module is there, write the committed launcher `.coord/gitcoord` it runs
through, and record this clone's interpreter for it. No file is written through a
symbolic link that leaves the repository (exit 2, before anything is written). Example::

    integrate(Path("."), "claude")            # CLAUDE.md + .claude/settings.json
    integrate(Path("."), "claude", remove=True)
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from gitcoord.errors import InvalidInput
from gitcoord.launcher import LAUNCHER, ensure_launcher, installed_version, remember_interpreter
from gitcoord.safepath import check_inside, write_inside

BEGIN = "<!-- gitcoord:begin (written by `gitcoord integrate`; edit outside these markers) -->"
END = "<!-- gitcoord:end -->"
FILES = {"agents-md": "AGENTS.md", "codex": "AGENTS.md", "claude": "CLAUDE.md"}

BLOCK = """\
## Working with other agents (gitcoord)

Several agents work in this repository at once. They coordinate through `gitcoord`, whose records
live on the `coord` branch. Your identity is `GITCOORD_AGENT` (or `gitcoord start --agent NAME`).

1. **Start** every session with `gitcoord start --json` and read it: help requests addressed to you
   come first, then messages, your tasks, decisions and errors, and the claims others hold.
2. **Claim before you edit**: `gitcoord claim PATH... -m "what you are doing"` (paths, `dir/`, globs).
   Exit 3 means someone else holds it: the message names them. Do not edit it. Ask them with
   `gitcoord request-help --to AGENT --resource PATH "..."`, pick other work, or wait with `--wait 600`.
   Take queued work with `gitcoord task next` and finish it with `gitcoord task done ID`.
3. **Check in** at least every 15 minutes while you hold claims:
   `gitcoord check-in --progress 60 -m "what you are doing now"`. A refused check-in means the claim
   is no longer yours: stop editing that path and claim it again.
4. **Release** what you are done with: `gitcoord release PATH -m "what was done"` (or `--all`).
5. **Ask for help** with `gitcoord request-help --to AGENT|any --priority high "..."`; answer the
   ones for you with `gitcoord help-requests ack ID` then `gitcoord help-requests resolve ID --note "..."`.
6. **Log errors** you hit: `gitcoord log-error --type code_error --severity high "..."`
   (types: conflict, dependency, code_error, timeout, other), and resolve them when fixed.
7. **Log decisions** a human should review before you rely on them:
   `gitcoord log-decision --category api_design --impact high --rationale "..." "TITLE"`.
8. **Write the daily summary** before you stop:
   `gitcoord daily-summary --completed "..." --next "..." --blockers "..."`.

Never bypass a refused commit with `--no-verify`; `gitcoord verify` catches it later. Add `--json`
to any read command for machine output. Exit codes: 0 done, 2 bad input, 3 refused, 4 unavailable.
"""


def render_block() -> str:
    """The block with its markers, as it appears in the file."""
    return f"{BEGIN}\n{BLOCK}{END}\n"


def update_text(text: str, *, remove: bool = False) -> str:
    """`text` with the block added, replaced, or (with `remove`) taken out; the rest untouched."""
    start, end = text.find(BEGIN), text.find(END)
    if start != -1 and (end == -1 or end < start):
        raise InvalidInput(
            "the file has a gitcoord begin marker without its end marker.",
            hint=f"fix it by hand: the block ends with the line {END}",
        )
    if start == -1:
        if remove:
            return text
        sep = "" if not text else ("\n" if text.endswith("\n") else "\n\n")
        return text + sep + render_block()
    after = text[end + len(END) :]
    after = after[1:] if after.startswith("\n") else after
    if remove:
        before = text[:start]
        # Take out the blank line we put before the block when we added it.
        if before.endswith("\n\n"):
            before = before[:-1]
        return before + after
    return text[:start] + render_block() + after


def instructions_path(top: Path, target: str) -> Path:
    if target not in FILES:
        raise InvalidInput(f"unknown target {target!r}.", hint="use agents-md, claude or codex.")
    return top / FILES[target]


def _guard(top: Path, target: str, remove: bool) -> list[str]:
    """Install (or remove) the editor guard; lines saying what happened."""
    if target not in ("claude", "codex"):
        return []
    try:
        from gitcoord.hooks.editors import install_guard
    except ImportError:
        return ["editor guard skipped: this gitcoord has no gitcoord.hooks.editors."]
    path = install_guard(top, "claude" if target == "claude" else "codex", remove=remove)
    rel = path.relative_to(top) if path.is_relative_to(top) else path
    if remove:
        return [f"removed the guard from {rel}"]
    done = [f"guard installed in {rel}"]
    if ensure_launcher(top):
        done.append(f"wrote the launcher {LAUNCHER} (the guard runs gitcoord through it): commit it")
    if remember_interpreter(_common_dir(top)):
        done.append(f"recorded {sys.executable} as this clone's gitcoord")
    return done


def _preflight(top: Path, target: str, remove: bool) -> None:
    """Refuse before writing anything: a file that leads out of the repository, a foreign launcher."""
    check_inside(top, instructions_path(top, target))
    if target in ("claude", "codex"):
        from gitcoord.hooks.editors import SETTINGS

        check_inside(top, top / SETTINGS[target])
        if not remove:
            check_inside(top, top / LAUNCHER)
            if installed_version(top / LAUNCHER) == -1:
                ensure_launcher(top)  # raises the refusal, names the file


def integrate(top: Path, target: str, *, remove: bool = False) -> dict[str, Any]:
    """Write (or remove) the block for `target` in the repository at `top`; what was done."""
    top = _worktree_top(top)
    _preflight(top, target, remove)
    path = instructions_path(top, target)
    old = path.read_text(encoding="utf-8") if path.exists() else ""
    new = update_text(old, remove=remove)
    changed = new != old
    if changed:
        write_inside(top, path, new)
    verb = ("removed the block from" if remove else "wrote the block in") if changed else "unchanged:"
    done = [f"{verb} {path.name}"]
    guard = _guard(top, target, remove)
    done += guard
    return {
        "file": str(path),
        "changed": changed,
        "removed": remove,
        "guard": guard[0] if guard else None,
        "done": done,
    }


def _common_dir(top: Path) -> Path:
    from gitcoord.git import Git

    found = Git(top).run("rev-parse", "--path-format=absolute", "--git-common-dir")
    return Path(found.stdout.decode().strip())


def _worktree_top(path: Path) -> Path:
    from gitcoord.git import Git

    found = Git(path).run("rev-parse", "--show-toplevel")
    if found.returncode != 0:
        raise InvalidInput(
            f"{path} is not inside a git work tree.", hint="run it at the top of your repository."
        )
    return Path(found.stdout.decode().strip())
