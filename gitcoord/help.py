"""Help requests: one agent asks another (or `any`) for help (DESIGN §5).

Lifecycle (anything else is refused, exit 3, with the reason)::

    open -> acknowledged -> resolved      (open -> resolved too)

Example::

    coord = Coordinator(".", agent="alpha")
    coord.request_help("gamma", "Need ghost cohort data for power modules", priority="high")
"""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

from gitcoord.constants import HELP_STATUS_ORDER, PRIORITIES
from gitcoord.errors import InvalidInput, Refused
from gitcoord.host import (
    Host,
    act,
    actor_of,
    check_recipient,
    check_required,
    check_resource,
    choice,
    get_record,
    resolve_record,
)
from gitcoord.records import MAX_MESSAGE, PRIORITY_ORDER, HelpRequest, Priority
from gitcoord.validate import require_id

if TYPE_CHECKING:
    from gitcoord.store import Txn


def help_key(h: HelpRequest) -> tuple[int, int, int]:
    """Open first, then acknowledged, then resolved; most urgent, then oldest, first."""
    return (HELP_STATUS_ORDER[h.status], PRIORITY_ORDER[h.priority], h.created_rev)


class HelpOps:
    """Ask for help, acknowledge it, resolve it."""

    def request_help(
        self: Host, to: str, message: str, *, priority: str = "normal", resource: str = ""
    ) -> HelpRequest:
        """Ask an agent (or `any` agent) for help; open until someone resolves it.

        >>> coord.request_help("gamma", "Need ghost cohort data", priority="high")  # doctest: +SKIP
        """
        agent = self.require_agent()
        check_recipient(to)
        if to == agent:
            raise InvalidInput("you cannot ask yourself for help.", hint="ask another agent, or --to any.")
        check_required(message, "message", MAX_MESSAGE, required=True)
        level = cast("Priority", choice(priority, PRIORITIES, "priority"))
        resource = check_resource(resource)

        def work(txn: Txn) -> HelpRequest:
            record = HelpRequest(
                id=txn.new_id("H"),
                from_agent=agent,
                to=to,
                priority=level,
                resource=resource,
                message=message,
                created_at=txn.now,
            )
            txn.put(record)
            txn.action, txn.what = "help-request", f"{record.id} to {to} ({priority})"
            return record

        return act(self, agent, work)

    def help_requests(self: Host, *, open_only: bool = False, fetch: bool = True) -> list[HelpRequest]:
        """Help requests, open ones first, by priority (open_only: not yet resolved)."""
        found = self.snapshot(fetch=fetch).records(HelpRequest)
        if open_only:
            found = [h for h in found if h.status != "resolved"]
        return sorted(found, key=help_key)

    def ack_help(self: Host, help_id: str, *, actor: str | None = None) -> HelpRequest:
        """Say you are on it: an open request becomes acknowledged (by you, or by `actor`)."""
        require_id(help_id, "H")
        actor = actor_of(self, actor)

        def work(txn: Txn) -> HelpRequest:
            record = get_record(txn, HelpRequest, help_id, "help request", "help-requests list")
            if record.status != "open":
                by = record.acked_by if record.status == "acknowledged" else record.resolved_by
                raise Refused(f"{help_id} is already {record.status} by {by}.")
            if record.from_agent == actor:
                raise Refused(
                    f"{help_id} is your own request; someone else acknowledges it.",
                    hint=f'to withdraw it: gitcoord help-requests resolve {help_id} --note "..."',
                )
            record.status, record.acked_by, record.acked_at = "acknowledged", actor, txn.now
            txn.put(record)
            txn.action, txn.what = "help-ack", help_id
            return record

        return act(self, actor, work)

    def resolve_help(self: Host, help_id: str, note: str, *, actor: str | None = None) -> HelpRequest:
        """Close a help request with a note (the requester may withdraw it the same way)."""
        return resolve_record(
            self,
            HelpRequest,
            help_id,
            note,
            actor,
            what="help request",
            listing="help-requests list",
            action="help-resolve",
        )
