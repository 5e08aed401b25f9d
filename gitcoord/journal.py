"""The team's journal: errors, decisions (reviewed by people), daily summaries (DESIGN §5).

Lifecycles (anything else is refused, exit 3, with the reason)::

    error          open -> resolved
    decision       proposed -> approved -> implemented   (proposed -> rejected)

Example::

    coord = Coordinator(".", agent="alpha")
    coord.log_error("timeout", "the LMS test server did not answer", severity="high")
    coord.log_decision("api_design", "REST, not GraphQL", "the LMS speaks REST", impact="medium")
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Literal, cast

from gitcoord.constants import DECISION_STATUSES, ERROR_TYPES, IMPACT_ORDER, IMPACTS, SEVERITIES
from gitcoord.errors import InvalidInput, Refused
from gitcoord.host import (
    MAX_LIST,
    MAX_NOTE,
    MAX_TITLE,
    Host,
    act,
    actor_of,
    check_actor,
    check_required,
    check_resource,
    choice,
    get_record,
    one_line,
    resolve_record,
)
from gitcoord.records import (
    MAX_MESSAGE,
    MAX_TRACE,
    SEVERITY_ORDER,
    Decision,
    ErrorRecord,
    ErrorType,
    Impact,
    Severity,
    Summary,
)
from gitcoord.results import ReviewProof
from gitcoord.validate import quoted, require_id
from gitcoord.workspace import check_agent_name

if TYPE_CHECKING:
    from gitcoord.store import Txn

REVIEWED_STATUSES = ("approved", "rejected")
_METRIC_KEY = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,59}")
_ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


def error_key(e: ErrorRecord) -> tuple[int, int, int]:
    """Open first, most severe first, newest first."""
    return (e.status != "open", SEVERITY_ORDER[e.severity], -e.created_rev)


def decision_key(d: Decision) -> tuple[int, int, int]:
    """Proposed (awaiting review) first, high impact first, oldest first."""
    return (DECISION_STATUSES.index(d.status), IMPACT_ORDER[d.impact], d.created_rev)


def clean_trace(trace: str) -> str:
    """A stack trace as plain text: colour codes removed, other control characters as '?'.

    Test runners colour their tracebacks; refusing those would lose the error.
    """
    return _CONTROL.sub("?", _ANSI.sub("", trace.replace("\r\n", "\n").replace("\r", "\n")))


def _parse_metric(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not _METRIC_KEY.fullmatch(key.strip()):
        raise InvalidInput(
            f"{quoted(text)} is not a metric.", hint="write metrics as KEY=VALUE, e.g. --metric tests=42."
        )
    return key.strip(), value.strip()


def parse_metrics(items: Iterable[str]) -> dict[str, str]:
    """`["tests=42", "coverage=81%"]` as a dict (exit 2 on a malformed item)."""
    return dict(_parse_metric(item) for item in items)


class JournalOps:
    """Log and resolve errors; propose, review and implement decisions; write daily summaries."""

    # -- errors ----------------------------------------------------------------------------

    def log_error(
        self: Host, type: str, message: str, *, severity: str, resource: str = "", trace: str = ""
    ) -> ErrorRecord:
        """Record an error for the team and the humans (traces up to 64 KiB)."""
        actor = actor_of(self)
        kind = cast("ErrorType", choice(type, ERROR_TYPES, "error type"))
        level = cast("Severity", choice(severity, SEVERITIES, "severity"))
        check_required(message, "message", MAX_MESSAGE, required=True)
        size = len(trace.encode())
        if size > MAX_TRACE:
            raise InvalidInput(
                f"the trace is {size} bytes; the limit is {MAX_TRACE} (64 KiB).",
                hint="keep its last part: tail -c 60000 trace.txt",
            )
        trace = clean_trace(trace)
        resource = check_resource(resource)

        def work(txn: Txn) -> ErrorRecord:
            record = ErrorRecord(
                id=txn.new_id("E"),
                agent=actor,
                type=kind,
                severity=level,
                resource=resource,
                message=message,
                trace=trace,
                created_at=txn.now,
            )
            txn.put(record)
            txn.action, txn.what = "error-log", f"{record.id} {type} ({severity})"
            return record

        return act(self, actor, work)

    def errors(
        self: Host, *, open_only: bool = False, severity: str | None = None, fetch: bool = True
    ) -> list[ErrorRecord]:
        """Errors, open ones first, most severe first, newest first."""
        if severity is not None:
            choice(severity, SEVERITIES, "severity")
        found = [
            e
            for e in self.snapshot(fetch=fetch).records(ErrorRecord)
            if (not open_only or e.status == "open") and (severity is None or e.severity == severity)
        ]
        return sorted(found, key=error_key)

    def resolve_error(self: Host, error_id: str, note: str, *, actor: str | None = None) -> ErrorRecord:
        """Close an open error with what fixed it."""
        return resolve_record(
            self,
            ErrorRecord,
            error_id,
            note,
            actor,
            what="error",
            listing="errors list",
            action="error-resolve",
        )

    # -- decisions -------------------------------------------------------------------------

    def log_decision(
        self: Host,
        category: str,
        title: str,
        rationale: str,
        *,
        impact: str,
        alternatives: Sequence[str] = (),
    ) -> Decision:
        """Propose a decision; a human approves or rejects it, then it is implemented."""
        actor = actor_of(self)
        check_required(category, "category", 60, required=True)
        if "\n" in category:
            raise InvalidInput("the category is one line, e.g. api_design.")
        check_required(title, "title", MAX_TITLE, required=True)
        check_required(rationale, "rationale", MAX_MESSAGE, required=True)
        weight = cast("Impact", choice(impact, IMPACTS, "impact"))
        if len(alternatives) > MAX_LIST:
            raise InvalidInput(f"at most {MAX_LIST} alternatives.")
        for alternative in alternatives:
            check_required(alternative, "alternative", 1000, required=True)

        def work(txn: Txn) -> Decision:
            record = Decision(
                id=txn.new_id("D"),
                agent=actor,
                category=category,
                impact=weight,
                title=title,
                rationale=rationale,
                alternatives=list(alternatives),
                created_at=txn.now,
            )
            txn.put(record)
            txn.action, txn.what = "decision-propose", f"{record.id} {one_line(title, 60)}"
            return record

        return act(self, actor, work)

    def decisions(self: Host, *, status: str | None = None, fetch: bool = True) -> list[Decision]:
        """Decisions, proposed (awaiting review) first, high impact first."""
        if status is not None:
            choice(status, DECISION_STATUSES, "decision status")
        found = [
            d for d in self.snapshot(fetch=fetch).records(Decision) if status is None or d.status == status
        ]
        return sorted(found, key=decision_key)

    def approve_decision(
        self: Host, decision_id: str, *, note: str = "", reviewer: str | None = None
    ) -> Decision:
        """Approve a proposed decision (humans only; see `_reviewer`). Signed when allowed signers are set."""
        return _review(self, decision_id, "approved", note, _reviewer(self, reviewer))

    def reject_decision(
        self: Host, decision_id: str, *, note: str = "", reviewer: str | None = None
    ) -> Decision:
        """Reject a proposed decision (humans only). Signed when allowed signers are set."""
        return _review(self, decision_id, "rejected", note, _reviewer(self, reviewer))

    def review_from_notion(
        self: Host, decision_id: str, verdict: Literal["approved", "rejected"], user: str, *, note: str = ""
    ) -> Decision:
        """The Notion bridge: apply a review a Notion user made, as `notion:USER`.

        Run by the sync job: refused for a process named as an agent (`--agent`,
        GITCOORD_AGENT, `Coordinator(agent=...)`); a worktree's remembered identity
        does not count, as the sync may run in any clone. What proves the act is
        the signature: with allowed signers set, the commit is signed with the
        job's own key, listed under the bridge's principal, so it vouches for the
        bridge while the reviewer stays the Notion user. Without allowed signers
        it is trusted like every unsigned act.
        """
        named = self.named_agent()
        if named is not None:
            raise Refused(f"applying a Notion review is the sync job's act, and you are the agent {named}.")
        if not user.startswith("notion:"):
            raise Refused(f"{quoted(user)} is not a Notion user (notion:USER).")
        if verdict not in REVIEWED_STATUSES:
            raise InvalidInput(f"{quoted(verdict)} is not a review verdict (approved, rejected).")
        return _review(self, decision_id, verdict, note, _allowed_reviewer(self, user))

    def review_status(self: Host, decisions: Sequence[Decision]) -> dict[str, ReviewProof]:
        """`review_verified` / `review_signer` per decision: proved by a signed commit, from history.

        Both are None for every decision when no allowed signers are configured,
        and `review_verified` is None for a decision nobody has reviewed yet.
        """
        return review_proofs(self, decisions)

    def implement_decision(self: Host, decision_id: str) -> Decision:
        """Mark an approved decision implemented."""
        require_id(decision_id, "D")
        actor = actor_of(self)

        def work(txn: Txn) -> Decision:
            record = get_record(txn, Decision, decision_id, "decision", "decisions list")
            if record.status != "approved":
                why = (
                    "it needs a human's approval first"
                    if record.status == "proposed"
                    else f"it is {record.status}"
                )
                raise Refused(f"{decision_id} cannot be implemented: {why}.")
            _require_verified(self, txn, record)
            record.status, record.implemented_at = "implemented", txn.now
            txn.put(record)
            txn.action, txn.what = "decision-implement", f"{decision_id} {one_line(record.title, 60)}"
            return record

        return act(self, actor, work)

    # -- daily summaries -------------------------------------------------------------------

    def daily_summary(
        self: Host,
        *,
        completed: str,
        next: str,
        blockers: str = "",
        messages: str = "",
        metrics: dict[str, str] | None = None,
        day_number: int | None = None,
    ) -> Summary:
        """My summary of today (UTC); a second one the same day replaces the first."""
        agent = self.require_agent()
        for value, what in (
            (completed, "completed"),
            (next, "next"),
            (blockers, "blockers"),
            (messages, "messages"),
        ):
            check_required(value, what, MAX_MESSAGE)
        clean = {k: check_required(str(v), f"metric {k}", 500) for k, v in (metrics or {}).items()}
        for key in clean:
            if not _METRIC_KEY.fullmatch(key):
                raise InvalidInput(f"{quoted(key)} is not a metric name (letters, digits, '.', '_', '-').")
        if len(clean) > 50:
            raise InvalidInput("at most 50 metrics.")
        if day_number is not None and not 0 <= day_number <= 100_000:
            raise InvalidInput(f"--day is a day number from 0, not {day_number}.")

        def work(txn: Txn) -> Summary:
            record = Summary(
                agent=agent,
                day=txn.now.date(),
                day_number=day_number,
                completed=completed,
                next=next,
                blockers=blockers,
                messages=messages,
                metrics=clean,
                created_at=txn.now,
            )
            old = txn.snap.record(Summary, record.key)
            if old is not None:
                record.created_rev = old.created_rev
            txn.put(record)
            txn.action = "summary-write"
            txn.what = f"{record.day.isoformat()}" + (" (replaced)" if old is not None else "")
            return record

        return act(self, agent, work)

    def summaries(self: Host, *, agent: str | None = None, fetch: bool = True) -> list[Summary]:
        """Daily summaries, newest day first (of one agent, or all)."""
        from gitcoord.store import ROOT

        snap = self.snapshot(fetch=fetch)
        if agent is not None:
            names = [check_agent_name(agent)]
        else:
            names = sorted(
                name for name, entry in snap.entries(f"{ROOT}/{Summary.directory}").items() if entry.is_tree
            )
        found = [s for name in names for s in snap.records(Summary, subdir=name)]
        return sorted(found, key=lambda s: (s.day, s.agent), reverse=True)


# -- reviews ----------------------------------------------------------------------------------


def review_proofs(host: Host, decisions: Sequence[Decision]) -> dict[str, ReviewProof]:
    """See `JournalOps.review_status`."""
    checks = host.review_checks()
    out: dict[str, ReviewProof] = {}
    for d in decisions:
        check = checks.get(d.id) if checks is not None else None
        if checks is None or d.status == "proposed":
            out[d.id] = {"review_verified": None, "review_signer": None}
        else:
            out[d.id] = {
                "review_verified": bool(check and check.verified),
                "review_signer": check.signer if check else None,
            }
    return out


def _reviewer(host: Host, reviewer: str | None) -> str:
    """A human act: refused for agents; limited to `review.reviewers` when that is set.

    The reviewer is derived (the git identity of the person at this machine),
    never chosen by the caller: `reviewer` is accepted only when it names that
    same person. The Notion bridge has its own path, `review_from_notion`.
    """
    if host.agent is not None:
        raise Refused(
            f"reviewing a decision is a human act, and you are the agent {host.agent}.",
            hint="a person runs it with no agent identity (no --agent, GITCOORD_AGENT "
            "unset, no `gitcoord start` in that worktree), or reviews it in Notion.",
        )
    derived = host.human()
    if reviewer is not None and reviewer != derived:
        raise Refused(
            f"a reviewer is who runs the review ({derived}), not {quoted(reviewer)}.",
            hint="the Notion bridge applies Notion reviews with review_from_notion().",
        )
    return _allowed_reviewer(host, derived)


def _allowed_reviewer(host: Host, reviewer: str) -> str:
    check_actor(reviewer)
    allowed = [r.lower() for r in host.config.review.reviewers]
    if allowed and reviewer.split(":", 1)[1].lower() not in allowed:
        raise Refused(
            f"{reviewer} may not review decisions here; the reviewers are {', '.join(allowed)}.",
            hint="review.reviewers in .coord/config.toml lists them (git emails).",
        )
    return reviewer


def _review(
    host: Host, decision_id: str, verdict: Literal["approved", "rejected"], note: str, who: str
) -> Decision:
    require_id(decision_id, "D")
    check_required(note, "note", MAX_NOTE)
    sign = host.sign_human_act()

    def work(txn: Txn) -> Decision:
        record = get_record(txn, Decision, decision_id, "decision", "decisions list")
        if record.status != "proposed" and not (sign and _unproved_review(host, txn, record)):
            raise Refused(
                f"{decision_id} is already {record.status}"
                + (f" (by {record.reviewed_by})." if record.reviewed_by else ".")
            )
        record.status, record.reviewed_by, record.reviewed_at = verdict, who, txn.now
        record.review_note = note
        txn.put(record)
        txn.action = "decision-approve" if verdict == "approved" else "decision-reject"
        txn.what = f"{decision_id} {one_line(record.title, 60)}"
        return record

    return act(host, who, work, sign=sign)


def _unproved_review(host: Host, txn: Txn, record: Decision) -> bool:
    """An approval or rejection no signature proves (made before signing was set up, or
    forged): a signed review may replace it, so a person can confirm or overturn it."""
    if record.status not in REVIEWED_STATUSES:
        return False
    check = (host.review_checks(txn.snap) or {}).get(record.id)
    return check is None or not check.verified


def _require_verified(host: Host, txn: Txn, record: Decision) -> None:
    """With allowed signers set, only an approval a listed key signed may be acted on."""
    checks = host.review_checks(txn.snap)
    if checks is None:
        return
    check = checks.get(record.id)
    if check is None or not check.verified:
        why = check.why if check else "no signed approval is in the coord history"
        raise Refused(
            f"{record.id} cannot be implemented: its approval is not verified ({why}).",
            hint="a reviewer listed in the allowed signers approves it with their signing key set up.",
        )
