"""Human edits in Notion, brought back into git through the Coordinator.

A decision's Status (approved, rejected) with its Review note, a help request's or an error's
Status (acknowledged, resolved) with its Resolution are committed as `notion:<user>` with the
same validation as the CLI; a status it refuses, or one not set from Notion, is reported.
A row whose Rev is older than its record's may just show an earlier state: never taken as an edit.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from gitcoord.errors import GitcoordError
from gitcoord.notion.api import Api
from gitcoord.notion.schema import plain_number, plain_select, plain_text
from gitcoord.records import Decision, ErrorRecord, HelpRequest

if TYPE_CHECKING:
    from gitcoord.coordinator import Coordinator

# The statuses a record may have had before its current one, by database: a row with an older Rev
# showing one of them is a stale copy, not a person's edit.
EARLIER: dict[str, dict[str, tuple[str, ...]]] = {
    "decisions": {
        "approved": ("proposed",),
        "rejected": ("proposed",),
        "implemented": ("proposed", "approved"),
    },
    "help": {"acknowledged": ("open",), "resolved": ("open", "acknowledged")},
    "errors": {"resolved": ("open",)},
}


@dataclass
class PullBack:
    """One run's pull-back: what it applied (`pulled_back`) and what it refused (`refused`)."""

    coord: Coordinator
    api: Api
    dry_run: bool = False
    pulled_back: int = 0
    refused: list[str] = field(default_factory=list)
    _users: dict[str, str] = field(default_factory=dict)

    def run(self, pages: dict[str, dict[str, dict[str, Any]]]) -> None:
        snap = self.coord.snapshot()
        for record in snap.records(Decision):
            self.consider(
                "decisions",
                record,
                pages["decisions"].get(record.id),
                {
                    "approved": functools.partial(self._review, record, "approved"),
                    "rejected": functools.partial(self._review, record, "rejected"),
                },
            )
        for help_request in snap.records(HelpRequest):
            self.consider(
                "help",
                help_request,
                pages["help"].get(help_request.id),
                {
                    "acknowledged": functools.partial(self._ack, help_request.id),
                    "resolved": functools.partial(self._resolve, self.coord.resolve_help, help_request.id),
                },
            )
        for error in snap.records(ErrorRecord):
            self.consider(
                "errors",
                error,
                pages["errors"].get(error.id),
                {"resolved": functools.partial(self._resolve, self.coord.resolve_error, error.id)},
            )

    def consider(
        self,
        kind: str,
        record: Decision | HelpRequest | ErrorRecord,
        page: dict[str, Any] | None,
        acts: dict[str, Callable[[dict[str, Any], str], Any]],
    ) -> None:
        """Apply (or report) the Status a person set in Notion, when it differs from git's.

        A row whose Rev is older than the record's may simply show an earlier
        state of it (a proposed decision since approved in git): that is ours,
        not a person's edit. Any other difference is a person's: applied through
        the Coordinator, which refuses what the CLI refuses, or reported when
        Notion is not where that status is set.
        """
        status = plain_select(page, "Status")
        if page is None or status is None or status == record.status:
            return
        fresh = plain_number(page, "Rev") == record.updated_rev
        if not fresh and status in EARLIER[kind].get(record.status, ()):
            return
        act = acts.get(status)
        if act is None:
            self.refused.append(
                f"{record.id}: Status {status} is not taken from Notion (it is "
                f"{record.status} in git; Notion may set {' or '.join(acts)})."
            )
            return
        self.apply(record.id, page, functools.partial(act, page))

    @staticmethod
    def _resolve(func: Callable[..., Any], rid: str, page: dict[str, Any], who: str) -> None:
        func(rid, plain_text(page, "Resolution"), actor=who)

    def _ack(self, rid: str, page: dict[str, Any], who: str) -> None:
        self.coord.ack_help(rid, actor=who)

    def _review(self, record: Decision, status: str, page: dict[str, Any], who: str) -> None:
        note = plain_text(page, "Review note")
        self.coord.review_from_notion(
            record.id, "approved" if status == "approved" else "rejected", who, note=note
        )

    def apply(self, rid: str, page: dict[str, Any], act: Callable[[str], Any]) -> None:
        who = self.editor(page)
        if self.dry_run:
            self.pulled_back += 1
            return
        try:
            act(who)
        except GitcoordError as exc:
            self.refused.append(f"{rid}: {exc.message}")
            return
        self.pulled_back += 1

    def editor(self, page: dict[str, Any]) -> str:
        """`notion:<email>` (else `notion:<name>`) for the person who last edited the row.

        The email is what `review.reviewers` lists; Notion gives it only to an
        integration with the user-information-with-emails capability.
        """
        uid = (page.get("last_edited_by") or {}).get("id", "")
        if uid not in self._users:
            try:
                user = self.api.call(self.api.client.users.retrieve, uid)
            except GitcoordError:
                user = {}
            email = str((user.get("person") or {}).get("email") or "")
            slug = re.sub(r"[^a-z0-9._-]+", "-", str(user.get("name") or "").lower()).strip("-")
            self._users[uid] = f"notion:{email or slug or uid or 'unknown'}"
        return self._users[uid]
