"""`gitcoord guard --format claude|codex`: deny an editor's edit of a path another agent claims.

Both editors run a PreToolUse command hook with the tool call as JSON on stdin:

- Claude Code: `tool_name` Edit, Write, MultiEdit (`tool_input.file_path`) or NotebookEdit
  (`tool_input.notebook_path`); paths are absolute.
- Codex: `tool_name` apply_patch with the patch text in `tool_input.command` (its `*** Add File:`,
  `*** Update File:`, `*** Delete File:` and `*** Move to:` lines name the paths, relative to
  `cwd`); Edit/Write-style inputs with `file_path` are read the same way as Claude's.

A deny is `{"hookSpecificOutput": {"hookEventName": "PreToolUse", "permissionDecision": "deny",
"permissionDecisionReason": ...}}` on stdout with exit 0, which both editors honour. Allowing prints
nothing (so the editor's own permission rules still apply). A guard that fails internally warns on
stderr and allows: an agent must never be wedged by it. A conflict always denies, and so do claims
that exist but cannot be read (a partial clone whose promisor remote is down): the deny says why
and what to do, and lifts by itself once the records can be read again.

An "implicit claim" is a path another agent's unmerged branch already changed, as the last radar
run recorded it (gitcoord.conflicts_index; the guard never merges anything itself). It is told as
`{"hookSpecificOutput": {"hookEventName": "PreToolUse", "additionalContext": ...}}`, which both
editors add to the model's context without deciding anything; in mode strict it is a deny.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Literal

from gitcoord.cache import RecordsUnreadable
from gitcoord.clock import wall_clock
from gitcoord.conflicts_index import Change, advice, changes, head_branch, read_index, still_unmerged
from gitcoord.git import run_plain
from gitcoord.hooks.claims import ClaimIndex, HeldClaim
from gitcoord.hooks.lean import LeanRepo, scrub_hook_env

Format = Literal["claude", "codex"]
EDIT_TOOLS = ("Edit", "Write", "MultiEdit", "NotebookEdit")
PATCH_TOOLS = ("apply_patch",)
_PATCH_MARKERS = ("*** Add File: ", "*** Update File: ", "*** Delete File: ", "*** Move to: ")


def tool_paths(call: dict[str, Any]) -> list[str]:
    """The file paths a tool call would write, as given (absolute or relative to its cwd)."""
    tool = str(call.get("tool_name", ""))
    args = call.get("tool_input") or {}
    if not isinstance(args, dict):
        return []
    if tool in PATCH_TOOLS:
        return patch_paths(str(args.get("command") or args.get("patch") or args.get("input") or ""))
    paths = [args.get(key) for key in ("file_path", "notebook_path", "path")]
    return [p for p in paths if isinstance(p, str) and p]


def patch_paths(patch: str) -> list[str]:
    """Paths named by an apply_patch envelope (both ends of a move)."""
    found = []
    for line in patch.splitlines():
        for marker in _PATCH_MARKERS:
            if line.startswith(marker):
                found.append(line[len(marker) :].strip())
    return list(dict.fromkeys(p for p in found if p))


def repo_relative(path: str, cwd: Path, top: Path) -> list[str]:
    """Every spelling of `path` relative to the work tree (as written, and with symlinks
    resolved), POSIX style; empty when it lies outside. Both are checked, so a link to a
    claimed directory is no way around the claim."""
    full = Path(os.path.normpath(cwd / path))
    found: list[str] = []
    for candidate, root in ((full, top), (full.resolve(), top.resolve())):
        try:
            relative = candidate.relative_to(root).as_posix()
        except ValueError:
            continue
        if relative not in found:
            found.append(relative)
    return found


def conflicts(call: dict[str, Any], repo: LeanRepo, cwd: Path) -> list[tuple[str, HeldClaim | None]]:
    """(path, claim) for every path of the call under another agent's exclusive claim, and
    in mode strict (path, None) for every path the agent has not claimed."""
    return check(call, repo, cwd)[0]


def check(
    call: dict[str, Any], repo: LeanRepo, cwd: Path
) -> tuple[list[tuple[str, HeldClaim | None]], str | None, list[Change]]:
    """(conflicts, auto mode's deny reason or None, implicit claims): in mode auto, an edit no
    other agent's claim stops claims what it needs first (gitcoord.hooks.auto), and is denied
    if it cannot. Implicit claims are the paths of the call another agent's unmerged branch
    already changed (the radar's index, gitcoord.conflicts_index), told as context."""
    if repo.top is None:
        return [], None, []
    relative = [r for p in tool_paths(call) for r in repo_relative(p, cwd, repo.top)]
    if not relative:
        return [], None, []
    agent = repo.agent()
    now = wall_clock()
    index = repo.claim_index(now=now)
    mode = repo.mode(None)
    found = _conflicts(relative, index, agent, strict=mode == "strict")
    implicit = [] if mode == "off" else implicit_claims(repo, list(dict.fromkeys(relative)), index, agent)
    if found or mode != "auto":
        return found, None, implicit
    from gitcoord.hooks.auto import edit_denial

    return found, edit_denial(repo, agent, list(dict.fromkeys(relative)), index, now), implicit


def implicit_claims(repo: LeanRepo, paths: list[str], index: ClaimIndex, agent: str | None) -> list[Change]:
    """The paths another agent's unmerged branch changed, as the last radar run saw them; a
    path the agent claims itself is its own. No git process unless a path matches and the
    default branch moved since (then one, to leave out a branch that has landed)."""
    data = read_index(repo.workspace.common_dir)
    if not data:
        return []
    free = [p for p in paths if not any(c.agent == agent for c in index.covering(p))]
    hits = changes(data, free, agent=agent, own_branch=head_branch(repo.git_dir), ignorecase=repo.ignorecase)
    if not hits:
        return []

    def landed(commit: str, tip: str) -> bool:
        return run_plain(repo.top or repo.cwd, "merge-base", "--is-ancestor", commit, tip).returncode == 0

    return still_unmerged(repo.workspace.common_dir, data, hits, landed)


def _conflicts(
    relative: list[str], index: ClaimIndex, agent: str | None, *, strict: bool
) -> list[tuple[str, HeldClaim | None]]:
    found: list[tuple[str, HeldClaim | None]] = []
    for path in relative:
        holders = index.covering(path)
        found += [(path, c) for c in holders if c.agent != agent and c.mode == "exclusive"]
        if strict and not any(c.agent == agent for c in holders) and not any(p == path for p, _ in found):
            found.append((path, None))
    return found


def deny_reason(found: Iterable[tuple[str, HeldClaim | None]]) -> str:
    items = list(found)
    lines = [
        f"gitcoord: {path} is claimed: {claim.describe()}."
        if claim
        else f"gitcoord: {path} is not claimed by you, and this repository is in strict mode."
        for path, claim in items
    ]
    held = next((claim for _, claim in items if claim is not None), None)
    if held is not None:
        lines.append(
            f"Do not edit it. Ask for it: gitcoord request-help --to {held.agent} --resource {held.resource} "
            f'"..."; or wait for it: gitcoord claim {held.resource} --wait 600; or work on something else.'
        )
    else:
        lines.append(f'Claim it first: gitcoord claim {items[0][0]} -m "why", then edit.')
    return "\n".join(lines)


def context(text: str) -> dict[str, Any]:
    """The PreToolUse answer that adds context and leaves the decision to the editor's own
    rules (no permissionDecision: "allow" would skip the user's permission prompt)."""
    return {"hookSpecificOutput": {"hookEventName": "PreToolUse", "additionalContext": text}}


def decision(reason: str) -> dict[str, Any]:
    """The PreToolUse deny document, the same for Claude Code and Codex."""
    return {
        "hookSpecificOutput": {
            "hookEventName": "PreToolUse",
            "permissionDecision": "deny",
            "permissionDecisionReason": reason,
        }
    }


def run_guard(fmt: Format, stdin: str) -> tuple[int, str]:
    """(exit code, stdout) for one tool call; never raises."""
    try:
        call = json.loads(stdin) if stdin.strip() else {}
        if not isinstance(call, dict):
            raise ValueError("the tool call is not a JSON object")
        scrub_hook_env()
        cwd = Path(str(call.get("cwd") or os.getcwd()))
        if not cwd.is_dir():
            return 0, ""  # outside any repository we can read
        found, auto_denied, implicit = check(call, LeanRepo(cwd), cwd) if tool_paths(call) else ([], None, [])
    except RecordsUnreadable as exc:  # claims we cannot see may cover this path: never "unclaimed"
        reason = f"gitcoord: this edit cannot be checked, so it is denied: {exc.render()}"
        return 0, json.dumps(decision(reason))
    except Exception as exc:  # the guard must never wedge an agent
        sys.stderr.write(f"gitcoord guard ({fmt}): warning: could not check this edit, allowing it: {exc}\n")
        return 0, ""
    if auto_denied:
        return 0, json.dumps(decision(auto_denied))
    if found:
        told = [c for c in implicit if any(p == c.path for p, _ in found)]  # strict mode: why, too
        reason = "\n".join([advice(told), deny_reason(found)]) if told else deny_reason(found)
        return 0, json.dumps(decision(reason))
    if implicit:
        return 0, json.dumps(context(advice(implicit)))
    return 0, ""
