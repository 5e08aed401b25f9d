"""`gitcoord integrate`: the agents' instructions in AGENTS.md / CLAUDE.md, and the editor guard.

The block sits between two marker lines; everything else in the file is kept
byte for byte, and writing it again replaces only the block (idempotent).
`claude` writes CLAUDE.md, `codex` and `agents-md` write AGENTS.md; `claude`
and `codex` also merge the pre-edit guard into the editor's settings when the
enforcement module is there. Example::

    integrate(Path("."), "claude")            # CLAUDE.md + .claude/settings.json
    integrate(Path("."), "claude", remove=True)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from gitcoord.errors import InvalidInput

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
        raise InvalidInput("the file has a gitcoord begin marker without its end marker.",
                           hint=f"fix it by hand: the block ends with the line {END}")
    if start == -1:
        if remove:
            return text
        sep = "" if not text else ("\n" if text.endswith("\n") else "\n\n")
        return text + sep + render_block()
    after = text[end + len(END):]
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


def _guard(top: Path, target: str, remove: bool) -> str | None:
    """Install (or remove) the editor guard; a line saying what happened, or None."""
    if target not in ("claude", "codex"):
        return None
    try:
        from gitcoord.hooks.editors import install_guard
    except ImportError:
        return "editor guard skipped: this gitcoord has no gitcoord.hooks.editors."
    path = install_guard(top, "claude" if target == "claude" else "codex", remove=remove)
    rel = path.relative_to(top) if path.is_relative_to(top) else path
    return f"{'removed the guard from' if remove else 'guard installed in'} {rel}"


def integrate(top: Path, target: str, *, remove: bool = False) -> dict[str, Any]:
    """Write (or remove) the block for `target` in the repository at `top`; what was done."""
    top = _worktree_top(top)
    path = instructions_path(top, target)
    old = path.read_text(encoding="utf-8") if path.exists() else ""
    new = update_text(old, remove=remove)
    changed = new != old
    if changed:
        path.write_text(new, encoding="utf-8")
    verb = ("removed the block from" if remove else "wrote the block in") if changed else "unchanged:"
    done = [f"{verb} {path.name}"]
    guard = _guard(top, target, remove)
    if guard:
        done.append(guard)
    return {"file": str(path), "changed": changed, "removed": remove, "guard": guard, "done": done}


def _worktree_top(path: Path) -> Path:
    from gitcoord.git import Git

    found = Git(path).run("rev-parse", "--show-toplevel")
    if found.returncode != 0:
        raise InvalidInput(f"{path} is not inside a git work tree.", hint="run it at the top of your repository.")
    return Path(found.stdout.decode().strip())
