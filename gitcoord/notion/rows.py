"""What Notion should show: each coord record as the row of its database (DESIGN §9).

Pure mapping from git to Notion property values; `gitcoord.notion.sync` compares these rows
with the ones Notion holds and writes only the differences.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

from gitcoord import leases
from gitcoord.notion.schema import Plain, when
from gitcoord.records import Claim, Decision, ErrorRecord, HelpRequest, Summary, Task
from gitcoord.snapshot import ROOT

if TYPE_CHECKING:
    from gitcoord.coordinator import Coordinator


def _agent_row(a: Mapping[str, Any]) -> dict[str, Plain]:
    return {
        "Name": a["name"],
        "Record ID": a["name"],
        "Rev": a.get("updated_rev", 0),
        "Status": a["status"],
        "Role": a.get("role", ""),
        "Current resource": a.get("resource", ""),
        "Progress": a.get("progress"),
        "Last check-in": a.get("last_check_in"),
        "Next check-in": a.get("next_check_in"),
        "Stale": a["status"] == "stale",
        "Message": a.get("message", ""),
    }


def _claim_row(c: Claim, state: str) -> dict[str, Plain]:
    return {
        "Name": c.resource,
        "Record ID": c.id,
        "Rev": c.updated_rev,
        "Agent": c.agent,
        "Resource": c.resource,
        "Mode": c.mode,
        "State": state,
        "Token": c.token,
        "Progress": c.progress,
        "Since": when(c.created_at),
        "Until": when(c.expires_at),
        "Message": c.message,
    }


def _error_row(e: ErrorRecord) -> dict[str, Plain]:
    return {
        "Name": e.message[:200],
        "Record ID": e.id,
        "Rev": e.updated_rev,
        "Agent": e.agent,
        "Type": e.type,
        "Severity": e.severity,
        "Status": e.status,
        "Resource": e.resource,
        "Message": e.message,
        "Created": when(e.created_at),
        "Resolved by": e.resolved_by,
        "Resolution": e.resolution_note,
    }


def _decision_row(d: Decision, proof: Mapping[str, Any]) -> dict[str, Plain]:
    return {
        "Name": d.title,
        "Record ID": d.id,
        "Rev": d.updated_rev,
        "Agent": d.agent,
        "Category": d.category,
        "Impact": d.impact,
        "Status": d.status,
        "Rationale": d.rationale,
        "Alternatives": "; ".join(d.alternatives),
        "Created": when(d.created_at),
        "Reviewed by": d.reviewed_by,
        "Review note": d.review_note,
        "Review proof": _review_proof(proof),
    }


def _review_proof(proof: Mapping[str, Any]) -> str:
    """Whether a signature proves the review: "" when no allowed signers are set or nobody reviewed it."""
    if proof.get("review_verified") is None:
        return ""
    if proof["review_verified"]:
        return f"verified: {proof['review_signer']}"
    return "UNVERIFIED (not signed by an allowed signer)"


def _help_row(h: HelpRequest) -> dict[str, Plain]:
    return {
        "Name": h.message[:200],
        "Record ID": h.id,
        "Rev": h.updated_rev,
        "From": h.from_agent,
        "To": h.to,
        "Priority": h.priority,
        "Status": h.status,
        "Resource": h.resource,
        "Message": h.message,
        "Created": when(h.created_at),
        "Resolved by": h.resolved_by,
        "Resolution": h.resolution_note,
    }


def _task_row(t: Task) -> dict[str, Plain]:
    return {
        "Name": t.title,
        "Record ID": t.id,
        "Rev": t.updated_rev,
        "Assignee": t.assignee,
        "Priority": t.priority,
        "Status": t.status,
        "Resources": ", ".join(t.resources),
        "Depends on": ", ".join(t.depends_on),
        "Created": when(t.created_at),
        "Done": when(t.done_at),
        "Note": t.block_reason or t.note,
    }


def _summary_row(s: Summary) -> dict[str, Plain]:
    return {
        "Name": f"{s.agent} {s.day.isoformat()}",
        "Record ID": s.key,
        "Rev": s.updated_rev,
        "Agent": s.agent,
        "Day": s.day.isoformat(),
        "Completed": s.completed,
        "Next": s.next,
        "Blockers": s.blockers,
        "Metrics": ", ".join(f"{k}={v}" for k, v in sorted(s.metrics.items())),
    }


def desired_traces(coord: Coordinator) -> dict[str, str]:
    """Each error's trace (the page body of its row), by Record ID."""
    return {e.id: e.trace for e in coord.snapshot().records(ErrorRecord)}


def desired_rows(coord: Coordinator) -> dict[str, dict[str, dict[str, Plain]]]:
    """Every row the databases should hold (Activity aside), by kind and Record ID."""
    snap = coord.snapshot()
    now = coord.store.clock()
    rows: dict[str, dict[str, dict[str, Plain]]] = {}
    rows["agents"] = {a["name"]: _agent_row(a) for a in coord.agents(snap, now)}
    rows["claims"] = {c.id: _claim_row(c, leases.state(c, now, coord.grace)) for c in snap.records(Claim)}
    rows["errors"] = {e.id: _error_row(e) for e in snap.records(ErrorRecord)}
    decisions = snap.records(Decision)
    proof = coord.review_status(decisions)
    rows["decisions"] = {d.id: _decision_row(d, proof[d.id]) for d in decisions}
    rows["help"] = {h.id: _help_row(h) for h in snap.records(HelpRequest)}
    rows["tasks"] = {t.id: _task_row(t) for t in snap.records(Task)}
    summaries = [
        s
        for name, e in snap.entries(f"{ROOT}/{Summary.directory}").items()
        if e.is_tree
        for s in snap.records(Summary, name)
    ]
    rows["summaries"] = {s.key: _summary_row(s) for s in summaries}
    return rows


def conflict_key(pair: Mapping[str, Any]) -> str:
    """A pair's Record ID: its two agents, or `branch:<default>` and the agent whose branch it is."""
    first = pair["a"] or f"branch:{pair['a_branch']}"
    return f"{first}|{pair['b']}"


def _conflict_row(pair: Mapping[str, Any]) -> dict[str, Plain]:
    first = pair["a"] or pair["a_branch"]
    return {
        "Name": f"{first} × {pair['b']}",
        "Record ID": conflict_key(pair),
        "State": "conflict" if pair["conflicts"] else "overlap",
        "Agent A": pair["a"],
        "Branch A": pair["a_branch"],
        "Agent B": pair["b"],
        "Branch B": pair["b_branch"],
        "Conflicting paths": ", ".join(pair["conflicts"]),
        "Overlapping paths": ", ".join(pair["overlap"]),
        "Next step": pair["next"],
    }


def conflict_rows(coord: Coordinator) -> dict[str, dict[str, Plain]] | None:
    """One row per pair of branches the radar names (`gitcoord conflicts`); None when git cannot tell.

    None (no default branch, git failing) leaves the Conflicts database as it is: an empty
    answer would mark every pair resolved.
    """
    from gitcoord.conflicts import radar
    from gitcoord.errors import GitcoordError

    try:
        report = radar(coord, fetch=bool(coord.store.remote))
    except GitcoordError:
        return None
    if report["default"] is None:
        return None
    return {conflict_key(p): _conflict_row(p) for p in report["pairs"]}


def activity_rev(entry: dict[str, Any]) -> int:
    try:
        return int(entry.get("rev", -1))
    except ValueError:
        return -1


def activity_row(entry: dict[str, Any]) -> dict[str, Plain]:
    stamp = datetime.fromisoformat(entry["time"])
    return {
        "Name": entry["subject"][:200],
        "Record ID": entry["commit"][:12],
        "Rev": activity_rev(entry),
        "When": when(stamp),
        "Agent": entry.get("agent", ""),
        "Action": entry.get("action", ""),
        "Records": ", ".join(entry.get("records", [])),
        "Subject": entry["subject"],
    }
