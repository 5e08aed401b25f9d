"""Messages between agents (and people): send, read the inbox, mark read (DESIGN §5).

Example::

    coord = Coordinator(".", agent="alpha")
    coord.send("beta", "the API is merged")
    for message in Coordinator(".", agent="beta").inbox():
        ...
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from gitcoord.errors import Refused
from gitcoord.host import Host, act, actor_of, check_recipient, check_required, for_me, get_record
from gitcoord.records import MAX_MESSAGE, Message
from gitcoord.validate import require_id

if TYPE_CHECKING:
    from gitcoord.store import Txn


class MessageOps:
    """Leave messages, read them."""

    def send(self: Host, to: str, body: str, *, reply_to: str = "") -> Message:
        """Leave a message for an agent (or `any`), optionally replying to another."""
        sender = actor_of(self)
        check_recipient(to)
        check_required(body, "message", MAX_MESSAGE, required=True)
        if reply_to:
            require_id(reply_to, "M")

        def work(txn: Txn) -> Message:
            if reply_to:
                get_record(txn, Message, reply_to, "message", "inbox --all")
            record = Message(
                id=txn.new_id("M"), from_agent=sender, to=to, body=body, reply_to=reply_to, created_at=txn.now
            )
            txn.put(record)
            txn.action, txn.what = "message-send", f"{record.id} to {to}"
            return record

        return act(self, sender, work)

    def inbox(self: Host, *, all: bool = False, fetch: bool = True) -> list[Message]:
        """Messages to me or to everyone, oldest first: unread ones, or `all`. Reads only."""
        me = self.require_agent()
        found = [m for m in self.snapshot(fetch=fetch).records(Message) if for_me(m, me)]
        return sorted((m for m in found if all or me not in m.read_by), key=lambda m: m.created_rev)

    def mark_read(self: Host, ids: Sequence[str] | None = None) -> list[Message]:
        """Mark messages (default: my whole unread inbox) as read by me; returns those marked."""
        me = self.require_agent()
        wanted = [require_id(i, "M") for i in ids] if ids is not None else None

        def work(txn: Txn) -> list[Message]:
            if wanted is None:
                chosen = [m for m in txn.snap.records(Message) if for_me(m, me)]
            else:
                chosen = [get_record(txn, Message, i, "message", "inbox --all") for i in wanted]
                strangers = [m.id for m in chosen if not for_me(m, me)]
                if strangers:
                    raise Refused(f"{', '.join(strangers)} is not addressed to you.")
            marked = []
            for message in chosen:
                if me not in message.read_by:
                    message.read_by = [*message.read_by, me]
                    txn.put(message)
                    marked.append(message)
            txn.action, txn.what = "message-read", ", ".join(m.id for m in marked)
            return sorted(marked, key=lambda m: m.created_rev)

        return act(self, me, work)
