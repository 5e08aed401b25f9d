"""The writes gitcoord's own tools ask the library for: an override record, the CI workflow.

The pre-commit hook records a commit let through a refusal (`GITCOORD_OVERRIDE`) with
`record_override`; `gitcoord ci github` commits its workflow with `put_workflow`. Both are
one transaction through the `Host` (gitcoord.host), like every other room's operations.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from gitcoord.constants import COORD_WORKFLOWS_DIR
from gitcoord.errors import InvalidInput
from gitcoord.validate import check_text

if TYPE_CHECKING:
    from gitcoord.host import Host
    from gitcoord.store import Txn


class ToolWriteOps:
    """`Coordinator.record_override` and `Coordinator.put_workflow`."""

    def record_override(
        self: Host, paths: Sequence[str], holders: Sequence[str], reason: str, *, actor: str | None = None
    ) -> str:
        """Record a commit let through a refusing pre-commit hook (GITCOORD_OVERRIDE); the error's id.

        One `conflict` error record: its message says what happened for a human (cut at the
        message limit), its `trace` lists every path as a JSON array, which `verify` reads, so no
        path is lost whatever it holds. `holders` names the claims (`C-12 (alpha)`) overridden.
        """
        import json

        from gitcoord.records import MAX_TRACE, ErrorRecord, override_message

        check_text(reason, "override reason", 1000)
        reason = " ".join(reason.split())  # as the commit's trailer will carry it
        ordered = sorted(set(paths))
        # ASCII escapes keep a name that is not UTF-8 (held as surrogates, as `verify` reads it)
        # exact in the trace; the text for people shows it with replacement characters.
        listed = json.dumps(ordered)
        shown = [path.encode(errors="surrogateescape").decode(errors="replace") for path in ordered]
        if len(listed.encode()) > MAX_TRACE:
            raise InvalidInput(
                f"this override would cover {len(ordered)} paths, more than one record can list "
                f"({MAX_TRACE // 1024} KiB of paths).",
                hint="commit the claimed paths in smaller parts, each with its own override.",
            )
        who = actor or self.human()
        text = override_message(who, shown, holders, reason)

        def work(txn: Txn) -> str:
            record = ErrorRecord(
                id=txn.new_id("E"),
                agent=who,
                type="conflict",
                severity="medium",
                resource=shown[0],
                message=text,
                trace=listed,
                created_at=txn.now,
            )
            txn.put(record)
            txn.action, txn.what = "override", " ".join(shown)[:200]
            txn.trailers["Coord-Override"] = reason
            return record.id

        return self.write(work, actor=who)

    def put_workflow(self: Host, name: str, text: str) -> bool:
        """Commit gitcoord's GitHub workflow `name` on the coord branch, in `.github/workflows/`.

        As the agent, else the human; False when the branch already holds that text."""
        path = f"{COORD_WORKFLOWS_DIR}/{name}"

        def work(txn: Txn) -> bool:
            if txn.snap.read(path) == text.encode():
                return False
            txn.put_workflow(name, text)
            txn.action, txn.what = "ci", path
            return True

        return self.write(work, actor=self.agent or self.human())
