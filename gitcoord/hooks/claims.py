"""The claims as the hooks and the editor guard hold them: `HeldClaim` (the fields they need,
read without pydantic), `ClaimIndex` (the claims by the paths they cover) and `SavedIndex` (that
index saved next to the parse cache, keyed by its claims tree, so that an unchanged tree costs one
file read). Stdlib only, as `hooks.lean`, which reads them from the coord branch.
"""

from __future__ import annotations

import marshal
import sys
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

try:  # as in `warm.keys`: hashlib's import of OpenSSL costs a few ms
    from _blake2 import blake2b
except ImportError:  # pragma: no cover (an interpreter built without it)
    from hashlib import blake2b

from gitcoord.cache import save_derived
from gitcoord.clock import parse_utc
from gitcoord.errors import InvalidInput
from gitcoord.overlap import ResourceIndex
from gitcoord.resources import Resource, parse_resource

INVALID = "-"  # HeldClaim.kind of a resource that does not parse
# Every well-formed claim of one claims tree, as `SavedIndex` saves it (marshal: built in, fast).
CLAIMS_INDEX = "claims-index.marshal"
CLAIMS_INDEX_VERSION = 5
# A saved index: each claim's row (`_to_row`, marshalled alone), each claim's agent, the path index.
Dumped = tuple[list[bytes], list[str], Any]


class HeldClaim:
    """The fields of a claim record the hooks need, read without pydantic.

    A plain class, not a dataclass: generating dataclass methods costs milliseconds at import.
    """

    __slots__ = (
        "agent",
        "created_at",
        "expires_at",
        "id",
        "kind",
        "last_check_in",
        "message",
        "mode",
        "normalised",
        "resource",
        "token",
    )

    def __init__(
        self,
        *,
        id: str,
        agent: str,
        resource: str,
        mode: str,
        token: int,
        message: str,
        created_at: str,
        last_check_in: str,
        expires_at: datetime,
    ) -> None:
        self.id, self.agent, self.resource, self.mode, self.token = id, agent, resource, mode, token
        self.message, self.created_at, self.last_check_in = message, created_at, last_check_in
        self.expires_at = expires_at
        self.kind = ""  # the parsed resource's kind; "" not parsed yet, INVALID when it does not parse
        self.normalised = ""  # the parsed resource's text: `./src//a.py` is `src/a.py`

    def __repr__(self) -> str:
        return f"HeldClaim({self.id} {self.agent} {self.resource} {self.mode} token={self.token})"

    @classmethod
    def from_toml(cls, data: dict[str, Any]) -> HeldClaim:
        return cls(
            id=str(data["id"]),
            agent=str(data["agent"]),
            resource=str(data["resource"]),
            mode=str(data.get("mode", "exclusive")),
            token=int(data["token"]),
            message=str(data.get("message", "")),
            created_at=str(data.get("created_at", "")),
            last_check_in=str(data.get("last_check_in", "")),
            expires_at=parse_utc(data["expires_at"]),
        )

    def parsed(self) -> Resource | None:
        """The claim's resource parsed (None if it does not parse); parsed once, or taken from the
        claims index."""
        if not self.kind:
            try:
                self.normalised, self.kind = parse_resource(self.resource)
            except InvalidInput:
                self.kind = INVALID
        return None if self.kind == INVALID else Resource(self.normalised, self.kind)  # type: ignore[arg-type]

    def describe(self) -> str:
        said = f', last said "{self.message}"' if self.message else ""
        until = self.expires_at.strftime("%Y-%m-%dT%H:%M:%SZ")
        return (
            f"{self.agent}'s {self.mode} claim {self.id} on {self.resource} (token {self.token}, "
            f"since {self.created_at}, until {until}, last check-in {self.last_check_in}{said})"
        )


class SavedIndex:
    """The claim index of one claims tree, saved under the tree's id and the commit it was read
    from: derived local data next to the parse cache (`gitcoord.cache`); a missing, damaged or
    older file is only a slower read."""

    def __init__(self, root: Path | None, *, ignorecase: bool) -> None:
        self.path = root / CLAIMS_INDEX if root is not None else None
        self.key = index_key(ignorecase)
        self._loaded: tuple[str, Dumped, str] | None = None  # what `load` read

    def load(self, *, tree: str = "", commit: str = "") -> ClaimIndex | None:
        """The saved index of the claims tree `tree`, or of the one read from `commit`."""
        if self.path is None:
            return None
        try:
            key, digest, payload = marshal.loads(self.path.read_bytes())
            if key != self.key or digest != _digest(payload):
                return None
            saved_tree, dumped, saved_commit = marshal.loads(payload)
            wanted = (tree and saved_tree == tree) or (commit and saved_commit == commit)
            if not wanted or not _well_formed(dumped):
                return None
            self._loaded = saved_tree, dumped, saved_commit
            return ClaimIndex.saved(dumped)
        except (OSError, EOFError, ValueError, TypeError, IndexError):
            return None

    def save(self, tree: str, index: ClaimIndex, commit: str = "") -> None:
        self._write(tree, index.dump(), commit)

    def remember(self, commit: str) -> None:
        """The tree `load` just found is `commit`'s too: saved with it, the next read needs no git."""
        if self._loaded is not None and self._loaded[2] != commit:
            self._write(*self._loaded[:2], commit)

    def _write(self, tree: str, dumped: Dumped, commit: str) -> None:
        if self.path is None:
            return
        try:
            payload = marshal.dumps((tree, dumped, commit))
        except ValueError:  # text marshal cannot hold: only time lost
            return
        save_derived(self.path, marshal.dumps((self.key, _digest(payload), payload)))


def _digest(payload: bytes) -> bytes:
    """The saved index's checksum: a row is read only when its claim is needed, so a damaged byte
    must be caught when the file is loaded (then the index is built again from the records)."""
    return blake2b(payload, digest_size=16).digest()


def index_key(ignorecase: bool) -> tuple[Any, ...]:
    """What a saved index must have been built under, besides its tree: this format (bump
    CLAIMS_INDEX_VERSION whenever what a row or the index holds changes), the team's
    claims.ignorecase, and the Python whose Unicode tables folded the paths."""
    return CLAIMS_INDEX_VERSION, ignorecase, tuple(sys.version_info[:2])


def _well_formed(dumped: Any) -> bool:
    """The shapes `save` writes (marshal gives back what was dumped, so this only catches a file
    that is not ours): a row and an agent per claim, then the index's flag and two tables. A row
    is read only when its claim is needed (`ClaimIndex._claim`)."""
    if not (isinstance(dumped, tuple) and len(dumped) == 3):
        return False
    rows, agents, state = dumped
    return (
        isinstance(rows, list)
        and isinstance(agents, list)
        and len(rows) == len(agents)
        and all(type(row) is bytes for row in rows)
        and all(type(agent) is str for agent in agents)
        and isinstance(state, tuple)
        and len(state) == 3
        and isinstance(state[1], dict)
        and isinstance(state[2], dict)
    )


def _to_row(claim: HeldClaim) -> tuple[Any, ...]:
    claim.parsed()  # the kind, saved with the claim
    return (
        claim.id,
        claim.agent,
        claim.resource,
        claim.mode,
        claim.token,
        claim.message,
        claim.created_at,
        claim.last_check_in,
        claim.expires_at.isoformat(),
        claim.kind,
        claim.normalised,
    )


def _from_row(row: bytes) -> HeldClaim:
    ident, agent, resource, mode, token, message, created_at, last_check_in, expires_at, kind, normalised = (
        marshal.loads(row)
    )
    claim = HeldClaim(
        id=ident,
        agent=agent,
        resource=resource,
        mode=mode,
        token=token,
        message=message,
        created_at=created_at,
        last_check_in=last_check_in,
        expires_at=datetime.fromisoformat(expires_at),
    )
    claim.kind, claim.normalised = kind, normalised
    return claim


class ClaimIndex:
    """Claims by the paths they cover, for the hooks' per-path question.

    `alive` picks the claims it answers with (all, unless `LeanRepo.claim_index` set it to "not
    dead"). Built from saved rows, a claim is made (its row read) only when an answer includes it:
    a commit that touches no claimed path reads none of them.
    """

    def __init__(self, claims: Sequence[HeldClaim], *, ignorecase: bool) -> None:
        self._rows: list[bytes] = []
        self._agents: list[str] = []
        self._made: dict[int, HeldClaim] = dict(enumerate(claims))
        self._count = len(claims)
        items = [(resource, n) for n, claim in enumerate(claims) if (resource := claim.parsed()) is not None]
        self._index: ResourceIndex[int] = ResourceIndex(items, ignorecase=ignorecase)
        self.alive: Callable[[HeldClaim], bool] = lambda _claim: True

    @classmethod
    def saved(cls, dumped: Dumped) -> ClaimIndex:
        index = cls([], ignorecase=False)
        index._rows, index._agents, state = dumped
        index._count = len(index._rows)
        index._index = ResourceIndex.undump(state)
        return index

    def dump(self) -> Dumped:
        claims = [self._claim(n) for n in range(self._count)]
        rows = [marshal.dumps(_to_row(claim)) for claim in claims]
        return rows, [claim.agent for claim in claims], self._index.dump()

    def _claim(self, n: int) -> HeldClaim:
        claim = self._made.get(n)
        if claim is None:
            claim = self._made[n] = _from_row(self._rows[n])
        return claim

    def claims(self) -> list[HeldClaim]:
        """Every claim it answers with, in record order."""
        return [claim for n in range(self._count) if self.alive(claim := self._claim(n))]

    def claims_of(self, agent: str) -> list[HeldClaim]:
        """The claims of `agent` it answers with, in record order (no other claim is made)."""
        return [
            claim
            for n in range(self._count)
            if (self._made[n].agent if n in self._made else self._agents[n]) == agent
            and self.alive(claim := self._claim(n))
        ]

    def covering(self, path: str) -> list[HeldClaim]:
        return [claim for n in self._index.covering(path) if self.alive(claim := self._claim(n))]
