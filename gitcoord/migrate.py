"""`gitcoord migrate`: bring a coord store of an older format to this gitcoord's (DESIGN §2)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from gitcoord.constants import STORE_FORMAT
from gitcoord.errors import InvalidInput
from gitcoord.results import MigrateResult

if TYPE_CHECKING:
    from gitcoord.coordinator import Coordinator
    from gitcoord.snapshot import Txn


def migrate(coord: Coordinator) -> MigrateResult:
    """Stamp the store with this gitcoord's format, in one write (none when it has it already).

    Format 2 keeps format 1's layout and adds each agent's own ref (`gitcoord.agent_refs`), so
    nothing moves: the write stamps the format, and from it on a gitcoord that knows format 1
    alone refuses the store, whose check-ins it would miss. Judged on the remote's tip."""
    store = coord.store
    snap = store.snapshot(fetch=True)
    if not snap.exists:  # no store: nothing has a format yet, and `init` makes this one's
        raise InvalidInput("the coord branch does not exist yet.", hint="run `gitcoord init` first.")
    before = snap.format

    def work(txn: Txn) -> None:
        txn.action, txn.what = "migrate", f"store format {txn.snap.format} to {STORE_FORMAT}"

    migrated = False
    if before < STORE_FORMAT:  # a teammate may migrate first: then this write finds nothing to do
        migrated = store.transact(coord.named_agent() or "gitcoord", work, migrate=True).commit is not None
    return {"branch": store.branch, "from": before, "to": STORE_FORMAT, "migrated": migrated}
