"""The lean reads (issue 13): `claims`, `inbox` and `status` in-process without pydantic or rich.

A session's first call runs in-process, where importing pydantic and building the models costs
more than the read itself. A record the store already trusts need not rebuild a model: this
path reads the records' parsed tables (the same `cat-file --batch` read and parse cache as every
read, through `Store.snapshot`) and computes the views with `gitcoord.plain`, which the full
path uses too (`status`'s report: `gitcoord.lean_status`). It takes only what it plainly
understands: the exact plain arguments, a config of known keys and plain values, records
`plain.well_formed` accepts, a run that logs no warning.
Anything else, an error included, returns None before printing a thing, and the full path
(`gitcoord.cli.main`) runs the call as always: correctness never depends on this path.
`GITCOORD_LEAN=0` turns it off (the tests compare both paths).
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gitcoord import plain
from gitcoord.constants import DEFAULT_BRANCH, DEFAULT_GRACE_MINUTES, HOOK_MODES

if TYPE_CHECKING:
    from gitcoord.snapshot import Snapshot

LEAN_ENV = "GITCOORD_LEAN"
FLAGS = {
    "claims": {"--all", "--json", "--fetch", "--no-fetch"},
    "inbox": {"--all", "--json", "--fetch", "--no-fetch"},
    "status": {"--json", "--fetch", "--no-fetch"},  # and `--agent NAME` (`_agent_flag`)
}
# The config keys (each section's) and what a plain value of each is; tests hold them to `Config`.
CONFIG_KEYS: dict[str, dict[str, Callable[[Any], bool]]] = {
    "coord": {"branch": lambda v: type(v) is str, "remote": lambda v: type(v) is str},
    "lease": {
        "minutes": lambda v: _number(v) and 0 < v <= 7 * 24 * 60,
        "grace_minutes": lambda v: _number(v) and 0 <= v <= 24 * 60,
    },
    "store": {
        "retry_seconds": lambda v: _number(v) and 0 < v <= 3600,
        "remote_timeout_seconds": lambda v: _number(v) and 0 < v <= 600,
    },
    "hooks": {
        "mode": lambda v: type(v) is str and v in HOOK_MODES,
        "fetch": lambda v: type(v) is bool,
        "fetch_timeout_seconds": lambda v: _number(v) and 0 < v <= 60,
    },
    "claims": {"ignorecase": lambda v: type(v) is bool, "release_on_merge": lambda v: type(v) is bool},
    "review": {"reviewers": lambda v: _strs(v), "allowed_signers": lambda v: type(v) is str},
    "notion": {
        "base_url": lambda v: type(v) is str,
        "parent_page": lambda v: type(v) is str,
        "databases": lambda v: _str_map(v),
        "data_sources": lambda v: _str_map(v),
    },
}


# The defaults of the settings this path reads (tests hold them to `Config`'s).
DEFAULTS: dict[str, dict[str, Any]] = {
    "coord": {"branch": DEFAULT_BRANCH, "remote": ""},
    "store": {"retry_seconds": 30, "remote_timeout_seconds": 20},
    "lease": {"grace_minutes": DEFAULT_GRACE_MINUTES},
}


class NotPlain(Exception):
    """Something this path does not plainly understand: the full path runs the call."""


def run(argv: Sequence[str]) -> int | list[str]:
    """Answer a plain `claims`/`inbox`/`status` call: its exit code, or the arguments the full path must
    run (`--no-fetch` in place of a fetch this call has made: one fetch per call, one warning)."""
    args = list(argv)
    call = _plain_call(args)
    if call is None:
        return args
    with _Held() as held:
        answer = _answer(call, held)
    if isinstance(answer, _Fetched):  # it reads the copy just fetched
        return [*args[: len(args) - len(call.rest)], *(a for a in call.rest if a != "--fetch"), "--no-fetch"]
    return args if answer is None else answer


@dataclass(frozen=True)
class _Call:
    repo: Path
    rest: list[str]  # the command and its flags
    agent: str | None = None  # `status --agent NAME`

    @property
    def fetch(self) -> bool:
        return "--no-fetch" not in self.rest

    @property
    def all_(self) -> bool:
        return "--all" in self.rest

    @property
    def as_json(self) -> bool:
        return "--json" in self.rest


def _plain_call(args: list[str]) -> _Call | None:
    if os.environ.get(LEAN_ENV) == "0":
        return None
    repo, rest = (args[1], args[2:]) if args[:1] == ["-C"] and len(args) >= 2 else (".", args)
    if not rest or rest[0] not in FLAGS:
        return None
    flags, agent = _agent_flag(rest[1:]) if rest[0] == "status" else (rest[1:], None)
    if flags is None or not set(flags) <= FLAGS[rest[0]] or len(set(flags)) != len(flags):
        return None
    if {"--fetch", "--no-fetch"} <= set(flags):
        return None  # both given: click's last-wins rule, left to click
    if not os.path.isdir(repo) or not os.access(repo, os.X_OK):
        return None  # the CLI says what is wrong with -C
    return _Call(Path(repo), rest, agent)


def _agent_flag(flags: list[str]) -> tuple[list[str] | None, str | None]:
    """The flags without one `--agent NAME` (or `--agent=NAME`) and the name; None for the flags
    when the name is not plainly a valid agent name (the CLI says what is wrong)."""
    from gitcoord.constants import AGENT_NAME

    at = [i for i, flag in enumerate(flags) if flag == "--agent" or flag.startswith("--agent=")]
    if not at:
        return flags, None
    i = at[0]
    if flags[i] == "--agent":
        name, end = (flags[i + 1] if i + 1 < len(flags) else ""), i + 2
    else:
        name, end = flags[i][len("--agent=") :], i + 1
    if len(at) > 1 or not AGENT_NAME.fullmatch(name):
        return None, None
    return flags[:i] + flags[end:], name


class _Fetched:
    """The full path must run the call, without fetching again."""


_FETCHED = _Fetched()


def _answer(call: _Call, held: _Held) -> int | _Fetched | None:
    """A lean read in its three steps: open, fetch, read. An exit code; None when the full path
    must run the call as asked, `_FETCHED` when it must after this call's fetch. Warnings are
    held: the fetch's are printed whatever follows (the full path will not fetch again), the
    others only when this path answers (else the full path says them)."""
    from gitcoord.errors import GitcoordError
    from gitcoord.stderr import say_error

    try:
        reader = _Reader(call.repo)
    except Exception:  # an error, or anything unusual: the full path says it, exactly as always
        return None
    with reader:
        try:
            me = call.agent or reader.workspace.agent()
            if call.rest[0] == "inbox" and me is None:
                return None  # no agent: the full path says so
        except Exception:
            return None
        fetching = call.fetch and bool(reader.store.remote)
        before = len(held.records)
        try:
            tip = reader.store.fetch() if fetching else reader.store.local_tip()
        except GitcoordError as exc:  # the remote is down...: said once, as the full path says it
            held.say(before, len(held.records))
            return say_error(exc)
        except Exception:
            return None
        after = len(held.records)
        try:
            show = {"claims": _claims, "inbox": _inbox, "status": _status}[call.rest[0]]
            printer = show(reader, tip, me, all_=call.all_, as_json=call.as_json)
        except Exception:
            if not fetching:
                return None
            held.say(before, after)
            return _FETCHED
    held.say(0, len(held.records))
    with contextlib.suppress(BrokenPipeError):  # a reader that went away: as main says, exit 0
        printer()
    return 0


class _Held(logging.Handler):
    """Holds the library's warnings until this path knows whether it answers."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def say(self, start: int, end: int) -> None:
        """Print the held warnings `start:end` as the CLI prints warnings."""
        from gitcoord.stderr import StderrWarnings

        for record in self.records[start:end]:
            StderrWarnings().emit(record)

    def __enter__(self) -> _Held:
        self.logger = logging.getLogger("gitcoord")
        self.propagate = self.logger.propagate
        self.logger.addHandler(self)
        self.logger.propagate = False
        return self

    def __exit__(self, *exc: object) -> None:
        self.logger.removeHandler(self)
        self.logger.propagate = self.propagate


def _claims(r: _Reader, tip: str | None, me: str | None, *, all_: bool, as_json: bool) -> Callable[[], None]:
    from gitcoord.clock import parse_utc

    tables = r.records(tip, "claims", plain.CLAIM, "C")
    now = r.store.clock()
    views = []
    for table in tables:
        expires = parse_utc(table["expires_at"])
        view = plain.claim_view(plain.dumped(table, plain.CLAIM), expires, now, r.grace, me)
        if all_ or view["state"] != "dead":
            views.append(view)
    views.sort(key=plain.claims_order)

    def show() -> None:
        from gitcoord import output

        if as_json:
            return output.print_json(views)
        from gitcoord.status_view import CLAIM_COLUMNS, claims_rows

        output.table("claims", CLAIM_COLUMNS, claims_rows(views))

    return show


def _inbox(r: _Reader, tip: str | None, me: str | None, *, all_: bool, as_json: bool) -> Callable[[], None]:
    assert me is not None
    tables = r.records(tip, "messages", plain.MESSAGE, "M")
    found = [
        plain.dumped(t, plain.MESSAGE)
        for t in tables
        if plain.addressed_to(t["to"], t["from_agent"], me) and (all_ or me not in t.get("read_by", []))
    ]
    found.sort(key=lambda m: m["created_rev"])

    def show() -> None:
        from gitcoord import output

        if as_json:
            return output.print_json(found)
        output.table(
            "inbox", ["id", "from", "to", "reply to", "message"], [plain.inbox_row(m) for m in found]
        )

    return show


def _status(r: _Reader, tip: str | None, me: str | None, *, all_: bool, as_json: bool) -> Callable[[], None]:
    from gitcoord.lean_status import status

    return status(r, tip, me, all_=all_, as_json=as_json)


class _Reader:
    """The workspace, the store and the settings a read needs, as `Coordinator` builds them."""

    def __init__(self, repo: Path) -> None:
        from datetime import timedelta

        from gitcoord.workspace import Workspace

        self.workspace = Workspace.open(repo)
        config = _plain_config(self.workspace.local_table())
        coord, store, lease = ({**DEFAULTS[s], **config.get(s, {})} for s in ("coord", "store", "lease"))
        self.store = self.workspace.open_store(
            branch=coord["branch"],
            remote=coord["remote"],
            retry_seconds=store["retry_seconds"],
            remote_timeout_seconds=store["remote_timeout_seconds"],
        )
        self.git = self.store.git
        self.common_dir = self.workspace.common_dir  # what the conflict radar reads
        self.grace = timedelta(minutes=lease["grace_minutes"])

    def records(
        self, tip: str | None, directory: str, schema: dict[str, tuple[Any, Any]], kind: str
    ) -> list[dict[str, Any]]:
        """Every record of a directory at `tip`, as in `records_of`."""
        return self.records_of(self.store.snapshot_at(tip), directory, schema, kind)

    def records_of(
        self, snap: Snapshot, directory: str, schema: dict[str, tuple[Any, Any]], kind: str
    ) -> list[dict[str, Any]]:
        """Every record of a directory as its parsed table; NotPlain if any is not plainly well-formed."""
        from gitcoord.snapshot import ROOT

        parsed, bad = snap.parsed_dir(f"{ROOT}/{directory}")
        if (
            bad
            or snap.skipped
            or not all(plain.well_formed(t, schema, kind, name) for name, t in parsed.items())
        ):
            raise NotPlain(f"{directory}: a record the full path must judge")
        return list(parsed.values())

    def __enter__(self) -> _Reader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.git.close()

    def close(self) -> None:
        self.git.close()


def _plain_config(table: dict[str, Any]) -> dict[str, dict[str, Any]]:
    for section, keys in table.items():
        known = CONFIG_KEYS.get(section)
        if known is None or not isinstance(keys, dict):
            raise NotPlain(f"config section {section!r}")
        for key, value in keys.items():
            if key not in known or not known[key](value):
                raise NotPlain(f"config key {section}.{key}")
    return table


def _number(value: Any) -> bool:
    return type(value) in (int, float) and value == value


def _strs(value: Any) -> bool:
    return type(value) is list and all(type(item) is str for item in value)


def _str_map(value: Any) -> bool:
    return type(value) is dict and all(type(k) is str and type(v) is str for k, v in value.items())
