"""What an agent reads on `start` (its startup context), and the open items of `status` (DESIGN §5).

The startup context is read into an LLM's context window on every session: item caps
per list, texts clipped to one line, and a hard byte budget for `start --json`. Over
the budget, items go least urgent first, and `omitted` counts what was left out.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, cast

from gitcoord import leases
from gitcoord.claiming import live_claims
from gitcoord.help import help_key
from gitcoord.host import EVERYONE, for_me, one_line
from gitcoord.journal import decision_key, error_key, review_proofs
from gitcoord.records import Agent, Claim, Decision, ErrorRecord, HelpRequest, IdRecord, Message, Task
from gitcoord.results import (
    ActiveClaimView,
    AgentView,
    ClaimState,
    DecisionView,
    ErrorView,
    HelpView,
    LostClaim,
    MessageView,
    ReviewProof,
    StartContext,
    TaskView,
)
from gitcoord.tasks import is_ready, task_key, unfinished

if TYPE_CHECKING:
    from gitcoord.host import Host
    from gitcoord.store import Snapshot

CONTEXT_BUDGET = 7600
_CONTEXT_CAPS = {
    "lost_claims": 10,
    "help_requests": 6,
    "messages": 5,
    "my_tasks": 5,
    "decisions": 3,
    "errors": 3,
    "active_claims": 12,
    "stale_agents": 10,
}
# Over the budget, items go least urgent first: first down to a few of each kind, then to none.
_DROP_ORDER = (
    "active_claims",
    "stale_agents",
    "decisions",
    "errors",
    "messages",
    "my_tasks",
    "help_requests",
)
_FLOOR = 2
_CONTEXT_ORDER = (
    "agent",
    "session_id",
    "role",
    "next_check_in",
    "lost_claims",
    "help_requests",
    "messages",
    "my_tasks",
    "decisions",
    "errors",
    "active_claims",
    "stale_agents",
    "omitted",
)


def startup_context(
    host: Host, snap: Snapshot, now: datetime, me: Agent, lost: Sequence[LostClaim], stale: list[str]
) -> StartContext:
    """The context of `me`'s new session; `lost` are its claims someone else removed since its
    last write, `stale` the other agents that stopped checking in. Fits `CONTEXT_BUDGET`."""
    name = me.name
    helps = sorted(
        (
            h
            for h in snap.records(HelpRequest)
            if (h.status == "open" and h.to in (name, EVERYONE) and h.from_agent != name)
            or (h.status == "acknowledged" and h.acked_by == name)
        ),
        key=help_key,
    )
    messages = sorted(
        (m for m in snap.records(Message) if for_me(m, name) and name not in m.read_by),
        key=lambda m: -m.created_rev,
    )
    tasks = snap.records(Task)
    by_id = {t.id: t for t in tasks}
    mine = sorted((t for t in tasks if t.assignee == name and t.status != "done"), key=task_key)
    mine += sorted((t for t in tasks if not t.assignee and is_ready(t, by_id, name)), key=task_key)
    since = me.previous_session_at
    reviewed = sorted(
        (
            d
            for d in snap.records(Decision)
            if d.agent == name and d.reviewed_at is not None and (since is None or d.reviewed_at >= since)
        ),
        key=lambda d: -d.updated_rev,
    )
    errors = sorted(
        (e for e in snap.records(ErrorRecord) if e.status == "open" and e.severity in ("high", "critical")),
        key=error_key,
    )
    claims = sorted(live_claims(host, snap, now), key=lambda c: (c.agent != name, c.expires_at, c.resource))
    proof = review_proofs(host, reviewed[: _CONTEXT_CAPS["decisions"]]) if reviewed else {}
    sections: dict[str, list[Any]] = {
        "lost_claims": list(lost),
        "help_requests": [_help_view(h) for h in helps],
        "messages": [_message_view(m) for m in messages],
        "my_tasks": [_task_view(t, by_id) for t in mine],
        "decisions": [_decision_view(d, proof.get(d.id)) for d in reviewed],
        "errors": [_error_view(e) for e in errors],
        "active_claims": [_claim_view(c, name, now, host) for c in claims],
        "stale_agents": stale,
    }
    ctx: dict[str, Any] = {
        "agent": name,
        "session_id": me.session_id,
        "role": me.role,
        "next_check_in": me.next_check_in,
    }
    omitted = _fit(sections, ctx)
    ctx.update((key, sections[key]) for key in _CONTEXT_ORDER if key in sections)
    if omitted:
        ctx["omitted"] = omitted
    if host.config.hooks.mode == "auto":
        ctx["hooks_mode"] = "auto"  # the agent's edits and commits claim by themselves: say so
    # Each section holds the views its key names in StartContext; `hooks` is added by `start`.
    return cast("StartContext", ctx)


def stale_agents(agents: list[AgentView], me: str) -> list[str]:
    return [a["name"] for a in agents if a["status"] == "stale" and a["name"] != me]


def open_items(host: Host, snap: Snapshot) -> dict[str, list[dict[str, Any]]]:
    """The open help requests, errors, decisions and tasks of a status report."""
    pending = [
        d for d in sorted(snap.records(Decision), key=decision_key) if d.status in ("proposed", "approved")
    ]
    proof = review_proofs(host, pending)
    return {
        "help_requests": [
            _dump(h) for h in sorted(snap.records(HelpRequest), key=help_key) if h.status != "resolved"
        ],
        "errors": [
            _dump(e, exclude=["trace"]) | {"has_trace": bool(e.trace)}
            for e in sorted(snap.records(ErrorRecord), key=error_key)
            if e.status == "open"
        ],
        "decisions": [_dump(d) | dict(proof[d.id]) for d in pending],
        "tasks": [_dump(t) for t in sorted(snap.records(Task), key=task_key) if t.status != "done"],
    }


def _dump(record: IdRecord, *, exclude: Sequence[str] = ()) -> dict[str, Any]:
    return record.model_dump(mode="json", exclude=set(exclude))


# -- compact views for the startup context ----------------------------------------------------


def _compact(view: dict[str, Any]) -> dict[str, Any]:
    """Drop empty values: every byte of the startup context costs an agent's context window."""
    return {k: v for k, v in view.items() if v not in ("", None, [])}


def _help_view(h: HelpRequest) -> HelpView:
    return cast(
        "HelpView",
        _compact(
            {
                "id": h.id,
                "priority": h.priority,
                "from_agent": h.from_agent,
                "to": h.to,
                "status": h.status,
                "resource": one_line(h.resource, 120),
                "message": one_line(h.message, 160),
            }
        ),
    )


def _message_view(m: Message) -> MessageView:
    return cast(
        "MessageView",
        _compact(
            {
                "id": m.id,
                "from_agent": m.from_agent,
                "to": m.to,
                "reply_to": m.reply_to,
                "body": one_line(m.body, 160),
            }
        ),
    )


def _task_view(t: Task, by_id: dict[str, Task]) -> TaskView:
    return cast(
        "TaskView",
        _compact(
            {
                "id": t.id,
                "priority": t.priority,
                "status": t.status,
                "assignee": t.assignee,
                "title": one_line(t.title, 100),
                "resources": [one_line(r, 120) for r in t.resources[:3]],
                "waiting_on": unfinished(t, by_id)[:5],
                "block_reason": one_line(t.block_reason, 120),
            }
        ),
    )


def _decision_view(d: Decision, proof: ReviewProof | None) -> DecisionView:
    return cast(
        "DecisionView",
        _compact(
            {
                "id": d.id,
                "status": d.status,
                "impact": d.impact,
                "title": one_line(d.title, 100),
                "reviewed_by": d.reviewed_by,
                "review_note": one_line(d.review_note, 100),
                **(proof or {}),
            }
        ),
    )


def _error_view(e: ErrorRecord) -> ErrorView:
    return cast(
        "ErrorView",
        _compact(
            {
                "id": e.id,
                "severity": e.severity,
                "type": e.type,
                "agent": e.agent,
                "resource": one_line(e.resource, 120),
                "message": one_line(e.message, 120),
            }
        ),
    )


def _claim_view(c: Claim, me: str, now: datetime, host: Host) -> ActiveClaimView:
    view: ActiveClaimView = {
        "id": c.id,
        "agent": c.agent,
        "resource": one_line(c.resource, 120),
        "mode": c.mode,
        "expires_at": c.expires_at,
        "state": cast("ClaimState", leases.state(c, now, host.grace)),
        "seconds_left": int((c.expires_at - now).total_seconds()),
        "mine": c.agent == me,
    }
    if c.auto:
        view["auto"] = True
    return view


def _fit(sections: dict[str, list[Any]], head: dict[str, Any]) -> dict[str, int]:
    """Cap every list, then drop the least urgent items until the JSON fits the budget.

    Returns what was left out, per section, so the agent knows to look further.
    """
    from gitcoord.output import to_json

    omitted: dict[str, int] = {}

    def drop(key: str, keep: int) -> None:
        extra = len(sections[key]) - keep
        if extra > 0:
            del sections[key][keep:]
            omitted[key] = omitted.get(key, 0) + extra

    def size() -> int:
        return len(to_json({**head, **sections, **({"omitted": omitted} if omitted else {})}).encode()) + 1

    for key, cap in _CONTEXT_CAPS.items():
        drop(key, cap)
    for floor in (_FLOOR, 0):
        for key in _DROP_ORDER:
            while len(sections[key]) > floor and size() > CONTEXT_BUDGET:
                drop(key, len(sections[key]) - 1)
    return omitted
