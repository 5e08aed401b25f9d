"""Text renderings of the startup context (for an LLM) and of `status` (for people)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from gitcoord import output

# Where to see what the startup context left out, per section.
_MORE = {
    "help_requests": "gitcoord help-requests list --open",
    "messages": "gitcoord inbox",
    "my_tasks": "gitcoord task list",
    "decisions": "gitcoord decisions list",
    "errors": "gitcoord errors list --open",
    "active_claims": "gitcoord claims",
    "stale_agents": "gitcoord status",
    "lost_claims": "gitcoord claims",
    "conflicts": "gitcoord conflicts",
}


def _help(h: Mapping[str, Any]) -> str:
    about = f" (resource {h['resource']})" if h.get("resource") else ""
    if h["status"] == "acknowledged":
        act = f'gitcoord help-requests resolve {h["id"]} --note "..."'
        return (
            f"{h['id']} [{h['priority']}] from {h['from_agent']}, you are on it{about}: "
            f"{h['message']} -> {act}"
        )
    return (
        f"{h['id']} [{h['priority']}] from {h['from_agent']}{about}: {h['message']} "
        f"-> gitcoord help-requests ack {h['id']}"
    )


def _message(m: Mapping[str, Any]) -> str:
    to = " (to all)" if m.get("to") == "any" else ""
    return (
        f"{m['id']} from {m['from_agent']}{to}: {m['body']} "
        f'-> reply: gitcoord send --to {m["from_agent"]} --reply-to {m["id"]} "..."'
    )


def _task(t: Mapping[str, Any]) -> str:
    on = f" on {', '.join(t['resources'])}" if t.get("resources") else ""
    head = f"{t['id']} [{t['priority']}] {t['title']}{on}"
    if t["status"] == "in_progress":
        return f'{head} (in progress) -> gitcoord task done {t["id"]} -m "..."'
    if t["status"] == "blocked":
        return f"{head} (blocked: {t.get('block_reason', '')}) -> gitcoord task unblock {t['id']}"
    who = "yours" if t.get("assignee") else "unassigned"
    if t.get("waiting_on"):
        return f"{head} ({who}, waits on {', '.join(t['waiting_on'])})"
    return f"{head} (ready, {who}) -> gitcoord task next"


def _decision(d: Mapping[str, Any]) -> str:
    note = f" ({d['review_note']})" if d.get("review_note") else ""
    act = f" -> gitcoord decisions implement {d['id']}" if d["status"] == "approved" else ""
    proof = {
        True: f" (verified: {d.get('review_signer')})",
        False: " (UNVERIFIED: not signed by an allowed signer)",
    }
    said = proof.get(d["review_verified"], "") if "review_verified" in d else ""
    return f"{d['id']} {d['status']} by {d.get('reviewed_by', '?')}{said}: {d['title']}{note}{act}"


def _error(e: Mapping[str, Any]) -> str:
    on = f" on {e['resource']}" if e.get("resource") else ""
    return (
        f"{e['id']} [{e['severity']}] {e['type']} from {e['agent']}{on}: {e['message']} "
        f'-> gitcoord errors resolve {e["id"]} --note "..."'
    )


def removal_proof(c: Mapping[str, Any]) -> str:
    """Who removed a lost claim and whether a signature proves a person did (allowed signers set)."""
    if "verified" not in c:
        return ""
    how = "forced release" if c.get("action") == "force-release" else (c.get("action") or "removal")
    proof = f"signed by {c['signed_by']}" if c["verified"] else "UNVERIFIED: not signed by an allowed signer"
    return f" ({how} by {c.get('removed_by') or '?'}, {proof})"


def _lost(c: Mapping[str, Any]) -> str:
    now = f"now held by {c['now_held_by']}" if c["now_held_by"] else "nobody holds it now"
    return f"{c['id']} {c['resource']}: {now}{removal_proof(c)} -> gitcoord claim {c['resource']} --wait 600"


def _claim(c: Mapping[str, Any]) -> str:
    who = "yours" if c["mine"] else c["agent"]
    until = output.when(c["expires_at"])
    head = f"{c['id']} {c['resource']} ({output.claim_mode(c)}, {who})"
    if c.get("state") == "expired":  # still honoured: the lease ran out, the grace period runs
        return f"{head} lease ran out at {until}, in its grace period"
    return f"{head} until {until}"


def coming_conflicts(items: Sequence[Mapping[str, Any]]) -> list[str]:
    """One line per branch an agent's work would conflict with: the paths, and the next step."""
    by_branch: dict[tuple[str, str], list[str]] = {}
    nexts: dict[tuple[str, str], str] = {}
    for item in items:
        key = (item["with"], item["branch"])
        by_branch.setdefault(key, []).append(item["path"])
        nexts[key] = item["next"]
    return [
        f"{', '.join(paths)} with {who}'s branch {branch} -> {nexts[(who, branch)]}"
        for (who, branch), paths in by_branch.items()
    ]


def _check_in_due(ctx: Mapping[str, Any]) -> str:
    """When to check in: only an agent holding claims has a lease to keep alive."""
    if not any(c.get("mine") for c in ctx.get("active_claims", [])):
        return "You hold no claims, so no check-in is due."
    return f'Check in by {output.when(ctx["next_check_in"])}: gitcoord check-in --progress N -m "..."'


def render_context(ctx: Mapping[str, Any]) -> str:
    """The startup context as short ordered lines, each with its id and the command to act."""
    lines = [f"You are {ctx['agent']} (session {ctx['session_id']}). {_check_in_due(ctx)}"]
    sections: list[tuple[str, str, list[str]]] = [
        (
            "lost_claims",
            "Claims taken from you since your last write (stop editing these; claim again first)",
            [_lost(c) for c in ctx.get("lost_claims", [])],
        ),
        (
            "conflicts",
            "Your files that would conflict with another branch (before anyone merges)",
            coming_conflicts(ctx.get("conflicts", [])),
        ),
        (
            "help_requests",
            "Help requests for you (answer these first)",
            [_help(h) for h in ctx["help_requests"]],
        ),
        (
            "messages",
            "Unread messages (then: gitcoord inbox --mark-read)",
            [_message(m) for m in ctx["messages"]],
        ),
        ("my_tasks", "Your tasks", [_task(t) for t in ctx["my_tasks"]]),
        (
            "decisions",
            "Your decisions reviewed since your last session",
            [_decision(d) for d in ctx["decisions"]],
        ),
        ("errors", "Open errors of high severity", [_error(e) for e in ctx["errors"]]),
        (
            "active_claims",
            "Live claims (do not edit others' resources)",
            [_claim(c) for c in ctx["active_claims"]],
        ),
        ("stale_agents", "Stale agents (missed their check-in)", list(ctx.get("stale_agents", []))),
    ]
    omitted = ctx.get("omitted", {})
    for key, title, items in sections:
        more = omitted.get(key, 0)
        if not items and not more:
            continue
        lines.append(f"{title}:")
        lines += [f"  - {item}" for item in items]
        if more:
            lines.append(f"  - ... {more} more: {_MORE[key]}")
    if not ctx["help_requests"] and not ctx["my_tasks"]:
        lines.append('Nothing is queued for you: gitcoord task list, or ask: gitcoord send --to any "..."')
    if ctx.get("hooks_mode") == "auto":
        lines.append(
            "Auto mode: your first edit of a file (and a commit) claims it for you; an edit of another "
            "agent's file is denied. Release when done: gitcoord release PATH."
        )
    else:
        lines.append(
            'Claim before you edit: gitcoord claim PATH -m "why"; release when done: gitcoord release PATH.'
        )
    return "\n".join(lines)


def render_status(report: Mapping[str, Any]) -> None:
    """`status` for people: see `gitcoord.status_view`."""
    from gitcoord.status_view import render_status as draw

    draw(report)
