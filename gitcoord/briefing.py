"""Text renderings of the startup context (for an LLM) and of `status` (for people)."""

from __future__ import annotations

from typing import Any

from gitcoord import output


def render_context(ctx: dict[str, Any]) -> str:
    """The startup context as short ordered lines, each with its id and the command to act."""
    lines = [f"You are {ctx['agent']} (session {ctx['session_id']}). "
             f"Check in by {output.short_time(ctx['next_check_in'])} UTC: gitcoord check-in --progress N -m \"...\""]
    sections: list[tuple[str, list[str]]] = [
        ("Help requests for you (answer first)", [
            f"{h['id']} [{h['priority']}] from {h['from_agent']}: {h['message']}"
            + (f" (resource {h['resource']})" if h.get("resource") else "")
            + f" -> gitcoord help-requests ack {h['id']}" for h in ctx.get("help_requests", [])]),
        ("Messages", [f"{m['id']} from {m['from_agent']}: {m['body']} -> gitcoord send --to {m['from_agent']} "
                      f"--reply-to {m['id']} \"...\"" for m in ctx.get("messages", [])]),
        ("Your tasks", [f"{t['id']} [{t['priority']}] {t['title']} ({t['status']})"
                        + (f" on {', '.join(t['resources'])}" if t.get("resources") else "")
                        for t in ctx.get("my_tasks", [])]),
        ("Decisions reviewed since your last session", [
            f"{d['id']} {d['status']}: {d['title']}" + (f" ({d['review_note']})" if d.get("review_note") else "")
            for d in ctx.get("decisions", [])]),
        ("Open errors (high severity)", [f"{e['id']} [{e['severity']}] {e['agent']}: {e['message']}"
                                         for e in ctx.get("errors", [])]),
        ("Active claims", [f"{c['id']} {c['resource']} {c['mode']} by "
                           f"{'you' if c['mine'] else c['agent']} until {output.short_time(c['expires_at'])}"
                           for c in ctx.get("active_claims", [])]),
        ("Stale agents", [f"{a}" for a in ctx.get("stale_agents", [])]),
    ]
    for title, items in sections:
        if items:
            lines.append(f"{title}:")
            lines += [f"  - {item}" for item in items]
    lines.append("Claim before you edit: gitcoord claim PATH -m \"why\"; release when done.")
    return "\n".join(lines)


def render_status(report: dict[str, Any]) -> None:
    output.say(f"coord store at rev {report['rev']} ({output.short_time(report['now'])} UTC)", style="bold")
    output.table("agents", ["agent", "status", "resource", "%", "last check-in", "message"], [
        [a["name"], a["status"], a.get("resource", ""), a.get("progress", ""),
         output.short_time(a.get("last_check_in")), a.get("message", "")] for a in report["agents"]])
    output.table("claims", ["id", "agent", "resource", "mode", "state", "min left"], [
        [c["id"], c["agent"], c["resource"], c["mode"], c["state"], max(0, c["seconds_left"] // 60)]
        for c in report["claims"]])
    for key, title, columns in _OPTIONAL_TABLES:
        if key in report:
            output.table(title, columns, [[row.get(col, "") for col in columns] for row in report[key]])
    if report.get("skipped"):
        output.say(f"warning: skipped malformed records: {', '.join(report['skipped'])}", style="yellow")


_OPTIONAL_TABLES: list[tuple[str, str, list[str]]] = [
    ("help_requests", "open help requests", ["id", "priority", "from_agent", "to", "status", "message"]),
    ("errors", "open errors", ["id", "severity", "type", "agent", "message"]),
    ("decisions", "pending decisions", ["id", "impact", "agent", "status", "title"]),
    ("tasks", "tasks", ["id", "priority", "status", "assignee", "title"]),
]
