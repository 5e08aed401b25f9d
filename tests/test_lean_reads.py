"""The lean reads (issue 13): `claims` and `inbox` in-process without pydantic, same output.

A first call of a session runs in-process; `gitcoord.lean_reads` answers the plain reads from the
records as dicts. These tests check it imports no pydantic in a normal world, and that for a rich
world (and for every unusual one: a malformed hand-pushed record, a bad config) it prints exactly
what the full path prints (`GITCOORD_LEAN=0`, for tests only), text and --json, with the same
exit code and warnings.
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Iterable
from pathlib import Path

import pytest

from gitcoord.config import Config
from gitcoord.records import Claim, Message

from .conftest import GITCOORD, World, git, plant_records, run

READS = [
    ["claims"],
    ["claims", "--json"],
    ["claims", "--all"],
    ["claims", "--all", "--json", "--no-fetch"],
    ["inbox"],
    ["inbox", "--json"],
    ["inbox", "--all"],
    ["inbox", "--all", "--json", "--no-fetch"],
]


def _call(cwd: Path, args: list[str], agent: str = "beta", **extra: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, GITCOORD_WARM="0", GITCOORD_AGENT=agent, **extra)
    return subprocess.run(
        [*GITCOORD, "-C", str(cwd), *args], capture_output=True, text=True, env=env, timeout=120
    )


def _seen(res: subprocess.CompletedProcess[str]) -> tuple[int, str, str]:
    # `seconds_left` follows the wall clock, which moves between two processes.
    return res.returncode, re.sub(r'"seconds_left": -?[0-9]+', '"seconds_left": N', res.stdout), res.stderr


def _same(cwd: Path, args: list[str], agent: str = "beta", **extra: str) -> subprocess.CompletedProcess[str]:
    # `seconds_left` and "in 29m" follow the wall clock: a pair run across a second's edge may
    # differ there only, so a differing pair is run again (a real difference differs every time).
    for _ in range(3):
        lean = _call(cwd, args, agent, **extra)
        full = _call(cwd, args, agent, GITCOORD_LEAN="0", **extra)
        if _seen(lean) == _seen(full):
            return lean
    assert _seen(lean) == _seen(full), args
    return lean


def _imported(stderr: str) -> set[str]:
    return {
        line.rsplit("|", 1)[1].strip()
        for line in stderr.splitlines()
        if line.startswith("import time:") and "|" in line
    }


def _rich_world(world: World) -> Path:
    a, b = world.clones[0], world.clones[1]
    assert run(a, "claim", "src/api.py", "-m", "the endpoint", agent="alpha").code == 0
    assert run(a, "claim", "db:migrations", "--shared", "--minutes", "1", agent="alpha").code == 0
    assert run(b, "claim", "docs/", "--until-merged", agent="beta").code == 0
    assert run(b, "check-in", "--progress", "40", "-m", "half", agent="beta").code == 0
    assert run(a, "send", "--to", "beta", "hello [b]old", agent="alpha").code == 0
    assert run(a, "send", "--to", "any", "everyone: note", agent="alpha").code == 0
    assert run(b, "send", "--to", "any", "mine to all", agent="beta").code == 0
    assert run(a, "send", "--to", "gamma", "not for beta", agent="alpha").code == 0
    assert run(a, "send", "--to", "beta", "already read", agent="alpha").code == 0
    assert run(b, "inbox", "--mark-read", "M-9", agent="beta").code in (0, 2)
    assert run(a, "task", "add", "write the docs", agent="alpha").code == 0
    return b


def test_reads_import_no_pydantic(world: World) -> None:
    b = _rich_world(world)
    for args in (["claims"], ["claims", "--json"], ["inbox"], ["inbox", "--all", "--json"]):
        env = dict(os.environ, GITCOORD_WARM="0", GITCOORD_AGENT="beta")
        res = subprocess.run(
            [GITCOORD[0], "-X", "importtime", *GITCOORD[1:], "-C", str(b), *args],
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
        )
        assert res.returncode == 0, res.stderr[-2000:]
        heavy = {m for m in _imported(res.stderr) if m.split(".")[0] in ("pydantic", "rich")}
        assert not heavy, (args, sorted(heavy)[:5])
        assert "gitcoord.records" not in _imported(res.stderr), args


def test_lean_and_full_agree_in_a_rich_world(world: World) -> None:
    b = _rich_world(world)
    for args in READS:
        _same(b, args)
        _same(b, args, agent="alpha")
        _same(b, args, agent="gamma")
    # Later, the 1-minute shared claim is expired (grace) then dead; leases in other states.
    for skew in ("120", "900", "4000"):
        for args in READS:
            _same(b, args, GITCOORD_CLOCK_SKEW_SECONDS=skew)
    assert "src/api.py" in _same(b, ["claims"]).stdout
    assert "hello" in _same(b, ["inbox"]).stdout


def test_malformed_record_falls_back_with_the_same_warning(world: World) -> None:
    b = _rich_world(world)
    git(b, "fetch", "-q", "origin", "coord:coord")
    plant_records(
        b,
        {
            ".coord/claims/C-900.toml": 'id = "C-900"\nagent = "mallory"\n',
            ".coord/messages/M-901.toml": "this is not toml = = \n",
            ".coord/claims/C-902.toml": (
                'id = "C-903"\nagent = "x"\nresource = "a.py"\ntoken = 902\n'
                "created_at = 2026-01-01T00:00:00Z\nlast_check_in = 2026-01-01T00:00:00Z\n"
                "expires_at = 2099-01-01T00:00:00Z\n"
            ),
        },
    )
    git(b, "push", "-q", "origin", "coord")
    for args in READS:
        res = _same(b, args)
        assert "skipping malformed record" in res.stderr


def test_unknown_keys_and_odd_values_fall_back(world: World) -> None:
    b = _rich_world(world)
    git(b, "fetch", "-q", "origin", "coord:coord")
    plant_records(
        b,
        {
            ".coord/claims/C-910.toml": (
                'id = "C-910"\nagent = "x"\nresource = "b.py"\ntoken = 910\nextra = 1\n'
                "created_at = 2026-01-01T00:00:00\nlast_check_in = 2026-01-01T00:00:00Z\n"
                "expires_at = 2099-01-01T00:00:00+02:00\n"
            ),
        },
    )
    git(b, "push", "-q", "origin", "coord")
    for args in READS:
        _same(b, args)


@pytest.mark.parametrize(
    "config",
    [
        '[lease]\nminutes = "30"\n',
        "[lease]\ngrace_minutes = -1\n",
        "[nonsense]\nx = 1\n",
        '[coord]\nremote = "nowhere"\n',
        "[claims]\nignorecase = 1\n",
        "not toml = =\n",
        '[lease]\ngrace_minutes = 0.5\n[hooks]\nmode = "warn"\n',
    ],
)
def test_configs_agree(world: World, config: str) -> None:
    b = _rich_world(world)
    (b / ".coord").mkdir(exist_ok=True)
    (b / ".coord" / "config.toml").write_text(config)
    for args in READS[:2] + READS[4:6]:
        _same(b, args)


def test_no_agent_and_bad_arguments_agree(world: World) -> None:
    b = _rich_world(world)
    env = {k: v for k, v in os.environ.items() if k != "GITCOORD_AGENT"}
    for args in (["inbox"], ["claims"], ["claims", "--bogus"], ["inbox", "M-1"]):
        lean = subprocess.run([*GITCOORD, "-C", str(b), *args], capture_output=True, text=True, env=env)
        full = subprocess.run(
            [*GITCOORD, "-C", str(b), *args], capture_output=True, text=True, env=dict(env, GITCOORD_LEAN="0")
        )
        assert _seen(lean) == _seen(full)
    _same(b, ["claims"], agent=" ")


def test_schema_tables_match_the_models() -> None:
    """The lean reader's plain schema is the models' own: field names, order, defaults."""
    from gitcoord import lean_reads, plain

    for model, table in ((Claim, plain.CLAIM), (Message, plain.MESSAGE)):
        assert list(table) == list(model.model_fields)
        for name, field in model.model_fields.items():
            default = None if field.is_required() else field.get_default(call_default_factory=True)
            assert table[name][1] == (plain.REQUIRED if field.is_required() else default), name
    sections = {name: set(f.annotation.model_fields) for name, f in Config.model_fields.items()}  # type: ignore[union-attr]
    assert sections == {name: set(keys) for name, keys in lean_reads.CONFIG_KEYS.items()}


# -- one fetch per call, each warning once ------------------------------------------------------


def _counted_remote(world: World, clone: Path, *, dead: bool = False) -> Path:
    """Point `clone` at the world's remote through an ext:: command that counts its connections
    (one line each); a dead one counts, then fails as an unreachable host does."""
    count = world.root / "connections"
    script = world.root / ("dead-git" if dead else "count-git")
    then = "exit 1" if dead else 'exec git "$@"'
    script.write_text(f'#!/bin/sh\necho "$1" >> {count}\n{then}\n')
    script.chmod(0o755)
    git(clone, "config", "protocol.ext.allow", "always")
    git(clone, "remote", "set-url", "origin", f"ext::{script} %s {world.remote}")
    return count


def _connections(count: Path) -> int:
    n = len(count.read_text().splitlines()) if count.exists() else 0
    count.unlink(missing_ok=True)
    return n


def _malformed_on_the_remote(world: World) -> None:
    c = world.clones[2]
    git(c, "fetch", "-q", "origin", "coord:coord")
    bad = 'id = "X-900"\nagent = "mallory"\n'
    plant_records(c, {".coord/claims/C-900.toml": bad, ".coord/messages/M-900.toml": bad})
    git(c, "push", "-q", "origin", "coord")


def test_one_fetch_per_read_plain_and_falling_back(world: World) -> None:
    b = _rich_world(world)
    count = _counted_remote(world, b)
    for args in READS:
        _call(b, args)
        assert _connections(count) == (0 if "--no-fetch" in args else 1), args
    _malformed_on_the_remote(world)
    for args in READS:
        res = _call(b, args)
        assert res.returncode == 0 and res.stderr.count("skipping malformed record") == 1, res.stderr
        assert _connections(count) == (0 if "--no-fetch" in args else 1), args


def test_one_fetch_and_one_error_when_the_remote_is_down(world: World) -> None:
    b = _rich_world(world)
    calls = (["claims"], ["claims", "--json", "--all"], ["inbox"], ["inbox", "--fetch"])
    assert_one_error_when_the_remote_is_down(world, b, calls)


def assert_one_error_when_the_remote_is_down(world: World, clone: Path, calls: Iterable[list[str]]) -> None:
    """Each call fails with exit 4 and one message after one connection, as the full path does."""
    count = _counted_remote(world, clone, dead=True)
    for args in calls:
        res = _call(clone, args)
        assert res.returncode == 4, res.stderr
        assert res.stderr.count("gitcoord: the remote 'origin' cannot be reached") == 1, res.stderr
        assert res.stderr.count("hint: check the network") == 1, res.stderr
        assert res.stdout == ""
        assert _connections(count) == 1, args
        full = _call(clone, args, GITCOORD_LEAN="0")
        assert (full.returncode, full.stdout, full.stderr) == (res.returncode, res.stdout, res.stderr)
        _connections(count)


def test_a_warning_of_the_fetch_is_printed_once(world: World) -> None:
    """A local coord branch that diverged from the remote's: the fetch warns (DESIGN: the branch
    is left as it is). Once, with the read answered plainly or by the full path after it."""
    b = _rich_world(world)
    git(b, "fetch", "-q", "origin", "coord:coord")
    plant_records(b, {".coord/notes.txt": "a local commit\n"})
    assert run(world.clones[0], "claim", "elsewhere.py", agent="alpha").code == 0
    count = _counted_remote(world, b)
    warning = "gitcoord: warning: the local coord branch has diverged from origin's"
    for malformed in (False, True):
        if malformed:
            _malformed_on_the_remote(world)
        for args in (["claims"], ["inbox", "--json"]):
            res = _call(b, args)
            assert res.returncode == 0, res.stderr
            assert res.stderr.count(warning) == 1, res.stderr
            assert res.stderr.count("skipping malformed record") == (1 if malformed else 0), res.stderr
            assert _connections(count) == 1, args
            full = _call(b, args, GITCOORD_LEAN="0")
            assert full.stderr == res.stderr
            _connections(count)


def test_one_way_to_open_the_store(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    """The full path (`Coordinator`) and the lean reads open the store through one function
    (`Workspace.open_store`), with the same settings: they cannot drift apart."""
    from gitcoord import lean_reads
    from gitcoord.coordinator import Coordinator
    from gitcoord.workspace import Workspace

    b = world.clones[1]
    git(b, "config", "remote.origin.promisor", "true")
    (b / ".coord").mkdir(exist_ok=True)
    (b / ".coord" / "config.toml").write_text(
        '[coord]\nremote = "origin"\n[store]\nretry_seconds = 7\nremote_timeout_seconds = 9\n'
    )
    opened: list[dict[str, object]] = []
    real = Workspace.open_store

    def spy(self: Workspace, **settings: object) -> object:
        opened.append(settings)
        return real(self, **settings)  # type: ignore[arg-type]

    monkeypatch.setattr(Workspace, "open_store", spy)
    with Coordinator(b) as c:
        full = c.store
    with lean_reads._Reader(b) as r:
        lean = r.store
    assert len(opened) == 2 and opened[0] == opened[1]
    fields = ("branch", "remote", "retry_seconds", "remote_timeout", "cache_dir", "common_dir", "promisor")
    assert [getattr(full, f) for f in fields] == [getattr(lean, f) for f in fields]
    assert (full.remote, full.retry_seconds, full.remote_timeout, full.promisor) == ("origin", 7, 9, True)


def _edges(field: object) -> list[object]:
    """Values at, just inside and just outside each bound of a config field, and wrong types."""
    import annotated_types as at

    values: list[object] = [0, 1, -1, 0.5, True, False, "", "x", "1", "true", [], ["a"], [1], {}, {"a": "b"}]
    values += [{"a": 1}, float("nan"), float("inf"), -float("inf"), 10**30]
    for bound in getattr(field, "metadata", []):
        for kind in (at.Gt, at.Ge, at.Lt, at.Le):
            if isinstance(bound, kind):
                b = getattr(bound, kind.__name__.lower())
                values += [b, b + 1, b - 1, b + 1e-9, b - 1e-9, int(b), float(b)]
    annotation = getattr(field, "annotation", None)
    values += [v for v in getattr(annotation, "__args__", ()) if isinstance(v, str)]
    values += [str(v).upper() for v in getattr(annotation, "__args__", ()) if isinstance(v, str)]
    return values


def _plain_type(annotation: object, value: object) -> bool:
    """Whether `value` is of the TOML type a field plainly takes (what the lean check must accept)."""
    text = str(annotation)
    if annotation is float:
        return type(value) in (int, float)
    if annotation is bool or "StrictBool" in text:
        return type(value) is bool
    if annotation is str or "Literal" in text:
        return type(value) is str
    if text == "list[str]":
        return type(value) is list and all(type(v) is str for v in value)
    if text == "dict[str, str]":
        return type(value) is dict and all(type(k) is str and type(v) is str for k, v in value.items())
    raise AssertionError(f"a config field of a type this test does not know: {text}")


def test_the_lean_config_check_accepts_what_load_config_accepts() -> None:
    """CONFIG_KEYS copies Config's bounds: at every edge of every key, the lean check accepts a
    value only if `load_config` does (and keeps it as it is); every value of the field's plain
    TOML type that `load_config` accepts, the lean check accepts too. Other types `load_config`
    coerces ("30" for a number) send the call to the full path, which is right, only slower."""
    from gitcoord import lean_reads
    from gitcoord.config import load_config
    from gitcoord.errors import InvalidInput

    for section, sfield in Config.model_fields.items():
        model = sfield.annotation
        for key, field in model.model_fields.items():  # type: ignore[union-attr]
            check = lean_reads.CONFIG_KEYS[section][key]
            for value in _edges(field):
                try:
                    kept: object = getattr(getattr(load_config({section: {key: value}}), section), key)
                    accepted = True
                except InvalidInput:
                    accepted = False
                lean = check(value)
                where = f"{section}.{key} = {value!r}"
                assert accepted or not lean, f"lean accepts what load_config refuses: {where}"
                if lean:
                    assert kept == value and type(kept) in (type(value), float), where
                if accepted and _plain_type(field.annotation, value):
                    assert lean, f"lean refuses a plain value load_config accepts: {where}"
            default = field.get_default(call_default_factory=True)
            assert lean_reads.DEFAULTS.get(section, {}).get(key, default) == default, (section, key)


def _status_kinds() -> list[tuple[type, dict[str, tuple[object, object]], str]]:
    from gitcoord import plain
    from gitcoord.records import Agent, Decision, ErrorRecord, HelpRequest, Task

    return [
        (Agent, plain.AGENT, ""),
        (Task, plain.TASK, "T"),
        (HelpRequest, plain.HELP, "H"),
        (ErrorRecord, plain.ERROR, "E"),
        (Decision, plain.DECISION, "D"),
        (Claim, plain.CLAIM, "C"),
        (Message, plain.MESSAGE, "M"),
    ]


def test_status_schemas_match_the_models() -> None:
    """The plain schemas of the records `status` reads: the models' fields, order, defaults, and
    for a field of fixed values, exactly the model's values."""
    import typing

    from gitcoord import plain

    for model, table, _ in _status_kinds():
        assert list(table) == list(model.model_fields), model  # type: ignore[attr-defined]
        for name, field in model.model_fields.items():  # type: ignore[attr-defined]
            default = None if field.is_required() else field.get_default(call_default_factory=True)
            assert table[name][1] == (plain.REQUIRED if field.is_required() else default), (model, name)
            if typing.get_origin(field.annotation) is typing.Literal:
                assert table[name][0] == typing.get_args(field.annotation), (model, name)


def test_well_formed_tables_are_valid_records_dumped_alike() -> None:
    """Whatever `plain.well_formed` accepts, the model accepts too, and `plain.dumped` gives what
    `model_dump(mode="json")` gives; each odd variant is either refused or agrees."""
    import datetime as dt

    from gitcoord import plain

    when = "2026-01-02T03:04:05Z"
    samples = {
        "": {"name": "alpha", "role": "r", "next_check_in": when, "held": {"C-1": "a.py"}, "progress": 5},
        "T": {"id": "T-1", "title": "t", "created_by": "alpha", "created_at": when, "resources": ["a.py"]},
        "H": {"id": "H-1", "from_agent": "a", "to": "any", "message": "m", "created_at": when},
        "E": {
            "id": "E-1",
            "agent": "a",
            "type": "other",
            "severity": "low",
            "message": "m",
            "created_at": when,
        },
        "D": {
            "id": "D-1",
            "agent": "a",
            "category": "c",
            "impact": "low",
            "title": "t",
            "rationale": "r",
            "created_at": when,
            "alternatives": ["x"],
        },
    }
    odd: list[object] = [
        None,
        "",
        "x",
        1,
        -1,
        True,
        [],
        ["a.py"],
        [1],
        {},
        {"a": 1},
        "../x",
        "ALPHA",
        "2026-01-02T03:04:05",
        dt.datetime(2026, 1, 2, tzinfo=dt.UTC),
        dt.datetime(2026, 1, 2),
        "urgent",
        "approved",
        "done",
        "open",
        "/abs",
    ]
    for model, schema, kind in _status_kinds()[:5]:
        base = samples[kind]
        name = f"{base.get('id') or base.get('name')}.toml"
        variants = [dict(base)] + [{**base, field: v} for field in schema for v in odd]
        variants += [{k: v for k, v in base.items() if k != field} for field in base]
        assert plain.well_formed(base, schema, kind, name), model
        for table in variants:
            if plain.well_formed(table, schema, kind, name):
                record = model.model_validate(table)  # type: ignore[attr-defined]
                assert plain.dumped(table, schema) == record.model_dump(mode="json"), (model, table)
