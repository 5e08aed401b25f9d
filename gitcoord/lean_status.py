"""The lean `status` (issue 13): the report `Coordinator.status` builds, from plain tables.

Part of the lean reads (`gitcoord.lean_reads`, which opens the store, fetches and prints): the
same records, the same order, the same views as the full path (`Coordinator.status`,
`context.open_items`), the conflict radar run by the same function (`conflicts.radar_of`).
What it does not plainly understand raises, and the full path runs the call:
a record `plain.well_formed` does not accept (the full path skips it with a warning), and
allowed signers (`review.allowed_signers`) set at HEAD, where an approved decision's review is
verified through the signing machinery. The radar runs last, once nothing can hand over: it
may rewrite the guard's index, exactly as the full path would.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, NamedTuple

from gitcoord import plain
from gitcoord.clock import parse_utc
from gitcoord.constants import (
    DECISION_STATUSES,
    HELP_STATUS_ORDER,
    IMPACT_ORDER,
    PRIORITY_ORDER,
    SEVERITY_ORDER,
    TASK_STATUS_ORDER,
)
from gitcoord.lean_reads import NotPlain

if TYPE_CHECKING:
    from gitcoord.lean_reads import _Reader
    from gitcoord.snapshot import Snapshot

Table = dict[str, Any]


class _Position(NamedTuple):  # where an agent works, for the radar (`conflicts.Position`)
    name: str
    branch: str
    head: str


class _Holder(NamedTuple):  # a live claim, for the radar's next step
    agent: str
    resource: str


def status(r: _Reader, tip: str | None, me: str | None, *, all_: bool, as_json: bool) -> Callable[[], None]:
    """The status report (`StatusReport`) and the function that prints it, as `status` does."""
    del all_  # `status` has no --all
    snap = r.store.snapshot_at(tip)
    now = r.store.clock()
    agents = r.records_of(snap, "agents", plain.AGENT, "")
    claims = r.records_of(snap, "claims", plain.CLAIM, "C")
    report: dict[str, Any] = {
        "rev": _rev(snap) if snap.exists else None,
        "now": now,
        "agents": [_agent_view(t, now, r.grace) for t in agents],
        "claims": [
            plain.claim_view(plain.dumped(t, plain.CLAIM), parse_utc(t["expires_at"]), now, r.grace, me)
            for t in claims
            if _live(t, now, r.grace)
        ],
        **_open_items(r, snap),
    }
    report["conflicts"] = _conflicts(r, snap, agents, claims)
    report["skipped"] = []  # a malformed record hands the call over (NotPlain)

    def show() -> None:
        from gitcoord import output

        if as_json:
            return output.print_json(report)
        from gitcoord.status_view import render_status

        render_status(report)

    return show


def _rev(snap: Snapshot) -> int:
    """`snap.rev` without the `Meta` model: the count of `meta.toml`, or the tip's own trailer's
    when that is higher. NotPlain for a meta.toml the model would have to judge."""
    import tomllib

    from gitcoord.snapshot import ROOT

    raw = snap.read(f"{ROOT}/meta.toml")
    meta = tomllib.loads(raw.decode()) if raw else None
    if not isinstance(meta, dict) or any(type(meta.get(k, 0)) is not int for k in ("format", "rev")):
        raise NotPlain("meta.toml: the full path judges it")
    rev: int = meta.get("rev", 0)
    return max(rev, snap.tip_rev)


def _live(claim: Mapping[str, Any], now: datetime, grace: timedelta) -> bool:
    return plain.lease_state(parse_utc(claim["expires_at"]), now, grace) != "dead"


def _agent_view(t: Table, now: datetime, grace: timedelta) -> Table:
    """As `Coordinator.agents`: the record, and stale (missed its check-in), active or idle."""
    due = t.get("next_check_in")
    if due is not None and now > parse_utc(due) + grace:
        status = "stale"
    else:
        status = "active" if t.get("resource") else "idle"
    return {**plain.dumped(t, plain.AGENT), "status": status}


def _open_items(r: _Reader, snap: Snapshot) -> dict[str, list[Table]]:
    """As `context.open_items`: the open help requests, errors, decisions and tasks, in the
    order of the full path's keys (`help.help_key`, `journal.error_key` and `decision_key`,
    `tasks.task_key`)."""
    decisions = [
        plain.dumped(t, plain.DECISION) for t in r.records_of(snap, "decisions", plain.DECISION, "D")
    ]
    pending = sorted(
        (d for d in decisions if d["status"] in ("proposed", "approved")),
        key=lambda d: (DECISION_STATUSES.index(d["status"]), IMPACT_ORDER[d["impact"]], d["created_rev"]),
    )
    _refuse_authority(r)
    helps = [plain.dumped(t, plain.HELP) for t in r.records_of(snap, "help", plain.HELP, "H")]
    errors = [plain.dumped(t, plain.ERROR) for t in r.records_of(snap, "errors", plain.ERROR, "E")]
    tasks = [plain.dumped(t, plain.TASK) for t in r.records_of(snap, "tasks", plain.TASK, "T")]
    return {
        "help_requests": sorted(
            (h for h in helps if h["status"] != "resolved"),
            key=lambda h: (HELP_STATUS_ORDER[h["status"]], PRIORITY_ORDER[h["priority"]], h["created_rev"]),
        ),
        "errors": [
            {k: v for k, v in e.items() if k != "trace"} | {"has_trace": bool(e["trace"])}
            for e in sorted(
                (e for e in errors if e["status"] == "open"),
                key=lambda e: (e["status"] != "open", SEVERITY_ORDER[e["severity"]], -e["created_rev"]),
            )
        ],
        # Without allowed signers no review is verified: the full path's proof is None, None.
        "decisions": [d | {"review_verified": None, "review_signer": None} for d in pending],
        "tasks": sorted(
            (t for t in tasks if t["status"] != "done"),
            key=lambda t: (TASK_STATUS_ORDER[t["status"]], PRIORITY_ORDER[t["priority"]], t["created_rev"]),
        ),
    }


def _refuse_authority(r: _Reader) -> None:
    """Allowed signers set at HEAD (`signing.Authority.load`): reviews are verified through
    `gitcoord.signing`'s machinery, which the full path runs. Read through the store's cat-file
    process instead of a `git cat-file blob` of its own; a setting the full path would refuse
    (not TOML, not a path inside the repository) hands over too, and the full path says so."""
    import tomllib

    from gitcoord.constants import CONFIG_PATH

    found = r.git.read_object(f"HEAD:{CONFIG_PATH}")
    if found is None or found[1] != "blob":
        return  # no committed config: no allowed signers
    try:
        review = tomllib.loads(found[2].decode()).get("review", {})
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise NotPlain("the committed config: the full path says what is wrong") from exc
    value = review.get("allowed_signers", "") if isinstance(review, dict) else ""
    if not isinstance(value, str) or value.startswith("/") or ".." in value.split("/") or value.strip():
        raise NotPlain("allowed signers: reviews are verified by the full path")


def _conflicts(r: _Reader, snap: Snapshot, agents: list[Table], claims: list[Table]) -> list[Table]:
    """As `conflicts.for_status`: the radar over the agents' positions ([] when git cannot answer)."""
    from gitcoord import conflicts
    from gitcoord.errors import GitcoordError

    def positions() -> list[_Position]:
        return [_Position(t["name"], t.get("branch", ""), t.get("head", "")) for t in agents]

    def holders() -> list[_Holder]:
        if not snap.exists:
            return []
        now = r.store.clock()
        return [_Holder(t["agent"], t["resource"]) for t in claims if _live(t, now, r.grace)]

    try:
        return conflicts.status_rows(conflicts.radar_of(r, positions, holders))
    except GitcoordError:
        return []
