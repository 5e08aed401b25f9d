"""Hypothesis-driven command lines: a clear message and exit 2, never a traceback.

Generated resources, agent names, record ids (for every command that takes
one), free text (control characters, odd Unicode, huge sizes) and whole argv
lists go through the in-process CLI. Every answer is one of:

- exit 2 with a `gitcoord: ...` sentence (or click's `Error: ...` for usage
  errors), at most a `hint:` line after it;
- exit 0 or 3 where the input is in fact valid, and then what was stored is
  exactly what was given (it round-trips through `--json`);

never exit 1 and never a traceback. Surrogates and NUL cannot travel through
argv, so they are left out; every other code point can appear.
"""

from __future__ import annotations

import itertools
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from gitcoord.constants import AGENT_NAME, RECORD_ID
from gitcoord.errors import InvalidInput
from gitcoord.resources import MAX_RESOURCE_BYTES, parse_resource

from ..conftest import Result, make_repo, run

SETTINGS = settings(
    max_examples=100,
    deadline=None,
    derandomize=True,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)

# Every code point argv can carry: no surrogates (Cs) and no NUL.
_ANY_CHAR = st.characters(exclude_categories=("Cs",), exclude_characters="\0")
_ODD = st.sampled_from(
    [
        "\u202e",
        "\u200b",
        "\u2028",
        "\u2029",
        "\ufeff",
        "\uffff",
        "\U0010fffd",
        "\u0301",
        "\x1b[31m",
        "\r",
        "\x7f",
        "\x85",
        "\t",
        "\n",
        "\U0001f600",
        "\uff0e\uff0f",
        "..",
        "/",
        "\\",
        "*",
        "**",
        "[",
        "]",
        "!",
        ":",
        "C-1",
        "%2e",
        " ",
        "~",
        "\u00e9",
        "e\u0301",
    ]
)
TEXT = st.one_of(
    st.text(_ANY_CHAR, max_size=60),
    st.lists(st.one_of(_ODD, st.text(_ANY_CHAR, max_size=4)), max_size=12).map("".join),
    st.builds(
        lambda c, n: c * n,
        st.sampled_from(["x", "\u00e9", "/", "\U0001f600", "a\n"]),
        st.sampled_from([1000, 1024, 1025, 4000, 4001, 70_000, 300_000]),
    ),
)


def _clean_failure(res: Result) -> None:
    """Exit 2 with a sentence people can read: `gitcoord: ...` (+ hint) or click's usage error."""
    assert res.code == 2, (res.code, res.err)
    assert "Traceback" not in res.err and "internal error" not in res.err, res.err
    lines = [line for line in res.err.splitlines() if line.strip()]
    assert lines, "no message at all"
    if lines[0].startswith("gitcoord: "):
        assert all(line.startswith("hint: ") for line in lines[1:]), res.err
    else:  # click's own usage errors: a Usage line, a Try line, an Error line
        assert any(line.startswith("Error: ") for line in lines), res.err


def _no_crash(res: Result) -> None:
    assert res.code != 1 and "Traceback" not in res.err, (res.code, res.err)


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One repository for a whole module: bad input must not write, so examples do not interfere."""
    path = make_repo(tmp_path_factory.mktemp("bad-input") / "repo")
    assert run(path, "init").code == 0
    return path


def _valid_resource(text: str) -> str | None:
    try:
        return parse_resource(text).text
    except InvalidInput:
        return None


# -- resources ----------------------------------------------------------------------------------------


@SETTINGS
@given(resource=TEXT)
def test_any_resource_is_claimed_as_normalised_or_refused_with_exit_2(repo: Path, resource: str) -> None:
    res = run(repo, "claim", "--json", "--", resource, agent="alpha")
    valid = _valid_resource(resource)
    if valid is None:
        _clean_failure(res)
        return
    # alpha is the only claimant: a valid resource is granted (or renewed), stored normalised.
    assert res.code == 0, res.err
    assert [c["resource"] for c in res.json()] == [valid]
    assert len(valid.encode()) <= MAX_RESOURCE_BYTES
    released = run(repo, "release", "--json", "--", valid, agent="alpha")
    assert released.code == 0 and [c["resource"] for c in released.json()] == [valid], released.err


# -- agent names ------------------------------------------------------------------------------------------


@SETTINGS
@given(name=st.one_of(TEXT, st.from_regex(AGENT_NAME, fullmatch=True)))
def test_any_agent_name_acts_or_is_refused_with_exit_2(repo: Path, name: str) -> None:
    assume(name != "")  # an empty --agent means "not given"; tests/test_core.py covers no identity
    res = run(repo, "--agent", name, "send", "--to", "any", "--json", "hello")
    if AGENT_NAME.fullmatch(name):
        assert res.code == 0, res.err
        assert res.json()["from_agent"] == name
    else:
        _clean_failure(res)
        assert "not a valid agent name" in res.err


# -- record ids, for every command that takes one ----------------------------------------------------------


@pytest.fixture(scope="module")
def records(repo: Path) -> dict[str, str]:
    """One record of each kind, so generated ids sometimes name one that exists."""
    made: dict[str, str] = {}
    for kind, args, agent in (
        ("H", ["request-help", "--to", "beta", "help"], "alpha"),
        ("M", ["send", "--to", "beta", "hi"], "alpha"),
        ("T", ["task", "add", "t"], "alpha"),
        ("E", ["log-error", "--type", "other", "--severity", "low", "e"], "alpha"),
        ("D", ["log-decision", "--category", "c", "--impact", "low", "--rationale", "r", "d"], "alpha"),
        ("C", ["claim", "ids/held.py"], "beta"),
    ):
        res = run(repo, *args, "--json", agent=agent)
        assert res.code == 0, res.err
        data = res.json()
        made[kind] = (data[0] if isinstance(data, list) else data)["id"]
    return made


ID_COMMANDS: dict[str, tuple[str, list[str]]] = {
    "help-ack": ("H", ["help-requests", "ack", "--json", "--", "{}"]),
    "help-resolve": ("H", ["help-requests", "resolve", "--note", "n", "--json", "--", "{}"]),
    "mark-read": ("M", ["inbox", "--mark-read", "--json", "--", "{}"]),
    "reply-to": ("M", ["send", "--to", "alpha", "--reply-to", "{}", "--json", "re"]),
    "task-done": ("T", ["task", "done", "--json", "--", "{}"]),
    "task-block": ("T", ["task", "block", "--reason", "r", "--json", "--", "{}"]),
    "task-unblock": ("T", ["task", "unblock", "--json", "--", "{}"]),
    "depends-on": ("T", ["task", "add", "later", "--depends-on", "{}", "--json"]),
    "error-resolve": ("E", ["errors", "resolve", "--note", "n", "--json", "--", "{}"]),
    "decision-implement": ("D", ["decisions", "implement", "--json", "--", "{}"]),
    "decision-approve": ("D", ["decisions", "approve", "--json", "--", "{}"]),
    "decision-reject": ("D", ["decisions", "reject", "--json", "--", "{}"]),
    "release": ("C", ["release", "--json", "--", "{}"]),
}
_ID_LIKE = st.builds(
    lambda k, n, tail: f"{k}-{n}{tail}",
    st.sampled_from("CTHMEDXc"),
    st.one_of(st.integers(-5, 10**20).map(str), st.sampled_from(["01", "", "1e3", "\uff11", "\u0663"])),
    st.sampled_from(["", " ", "/..", ".toml", "\n", "/", "\u200b"]),
)


def _round_trip(name: str, value: str, res: Result, agent: str | None) -> None:
    """A command that accepted an id acted on exactly that record."""
    data: Any = res.json()
    if name == "reply-to":
        assert data["reply_to"] == value
    elif name == "depends-on":
        assert data["depends_on"] == [value]
    elif isinstance(data, list):
        assert [r["id"] for r in data] == [value]
    else:
        assert data["id"] == value


@SETTINGS
@given(data=st.data())
def test_any_id_for_every_id_command_exit_2_or_acts_on_that_record(
    repo: Path, records: dict[str, str], data: st.DataObject
) -> None:
    name = data.draw(st.sampled_from(sorted(ID_COMMANDS)), label="command")
    kind, argv = ID_COMMANDS[name]
    value = data.draw(st.one_of(st.sampled_from(sorted(records.values())), _ID_LIKE, TEXT), label="id")
    assume(not (name == "reply-to" and value == ""))  # empty --reply-to means "not a reply"
    # Reviews are for people (no agent); release for the holder; the rest for the addressee.
    agent = (
        None
        if name.startswith("decision-a") or name == "decision-reject"
        else ("beta" if name in ("release", "mark-read", "help-ack") else "alpha")
    )
    args = [a.replace("{}", value) for a in argv]
    res = run(repo, *args, agent=agent)
    _no_crash(res)
    well_formed = RECORD_ID.fullmatch(value) is not None and value[0] == kind
    if name == "release" and _valid_resource(value) is not None and not well_formed:
        assert res.code in (0, 3), res.err  # a resource beta does not hold: refused, naming it
        return
    if not well_formed or value not in records.values():
        _clean_failure(res)
        return
    # The id names an existing record: done (0) or refused by its lifecycle (3), never bad input.
    assert res.code in (0, 3), res.err
    if res.code == 0:
        _round_trip(name, value, res, agent)


# -- free text ---------------------------------------------------------------------------------------------

# (argv with {} for the text, the limit, whether blank is refused, the JSON field it is stored in)
TEXT_COMMANDS: dict[str, tuple[list[str], int, bool, str]] = {
    "send": (["send", "--to", "any", "--json", "--", "{}"], 4000, True, "body"),
    "request-help": (["request-help", "--to", "any", "--json", "--", "{}"], 4000, True, "message"),
    "log-error": (
        ["log-error", "--type", "other", "--severity", "low", "--json", "--", "{}"],
        4000,
        True,
        "message",
    ),
    "task-add": (["task", "add", "--json", "--", "{}"], 300, True, "title"),
    "task-description": (["task", "add", "-m", "{}", "--json", "titled"], 4000, False, "description"),
    "decision-title": (
        ["log-decision", "--category", "c", "--impact", "low", "--rationale", "r", "--json", "--", "{}"],
        300,
        True,
        "title",
    ),
    "decision-rationale": (
        ["log-decision", "--category", "c", "--impact", "low", "--rationale", "{}", "--json", "t"],
        4000,
        True,
        "rationale",
    ),
    # A fresh resource each time: re-claiming one with an empty -m keeps the message it had.
    "claim-message": (["claim", "text/{n}.py", "-m", "{}", "--json"], 4000, False, "message"),
}


_FRESH = itertools.count()


def _acceptable_text(text: str, limit: int, required: bool) -> bool:
    if len(text) > limit or (required and not text.strip()):
        return False
    controls = {*map(chr, range(32)), *map(chr, range(127, 160))} - {"\n", "\t"}
    bidi = {chr(c) for c in (*range(0x202A, 0x202F), *range(0x2066, 0x206A))}
    return not any(c in controls or c in bidi for c in text)


@SETTINGS
@given(data=st.data())
def test_any_text_is_stored_exactly_or_refused_with_exit_2(repo: Path, data: st.DataObject) -> None:
    name = data.draw(st.sampled_from(sorted(TEXT_COMMANDS)), label="command")
    argv, limit, required, field = TEXT_COMMANDS[name]
    text = data.draw(TEXT, label="text")
    fresh = str(next(_FRESH))
    res = run(repo, *[a.replace("{}", text).replace("{n}", fresh) for a in argv], agent="alpha")
    _no_crash(res)
    if not _acceptable_text(text, limit, required):
        _clean_failure(res)
        return
    assert res.code == 0, res.err
    stored = res.json()
    stored = stored[0] if isinstance(stored, list) else stored
    assert stored[field] == text  # exactly as given: no trimming, no re-encoding


# -- whole command lines -------------------------------------------------------------------------------------

COMMANDS = [
    ["claim"],
    ["check-in"],
    ["release"],
    ["claims"],
    ["status"],
    ["log"],
    ["send"],
    ["inbox"],
    ["request-help"],
    ["help-requests", "ack"],
    ["task", "add"],
    ["task", "next"],
    ["task", "done"],
    ["log-error"],
    ["errors", "resolve"],
    ["log-decision"],
    ["decisions", "approve"],
    ["daily-summary"],
    ["summaries", "list"],
    ["start"],
    ["verify"],
    ["doctor"],
]
OPTIONS = st.sampled_from(
    [
        "--minutes",
        "--wait",
        "--progress",
        "--day",
        "--to",
        "--priority",
        "--severity",
        "--type",
        "--impact",
        "--metric",
        "--since",
        "-n",
        "--json",
        "--all",
        "--force",
        "--reason",
        "-m",
        "--shared",
        "--note",
        "--agent",
        "--status",
        "--",
        "-",
        "-x",
        "--nope",
    ]
)
NUMBERS = st.sampled_from(
    [
        "nan",
        "inf",
        "-inf",
        "-1",
        "0",
        "1e400",
        "99999999999999999999999",
        "1_0",
        "0x10",
        "\uff11",
        "",
        " 5",
        "3.5",
        "-0",
    ]
)


@SETTINGS
@given(
    command=st.sampled_from(COMMANDS),
    rest=st.lists(
        st.one_of(OPTIONS, NUMBERS, TEXT, st.from_regex(r"[a-z]+=[^\0]{0,5}", fullmatch=True)), max_size=6
    ),
)
def test_any_command_line_never_crashes(repo: Path, command: list[str], rest: list[str]) -> None:
    # --wait with a refusal would really wait; --since and -n only filter; so waiting is kept short.
    assume(not ("--wait" in rest and command in (["claim"], ["task", "next"])))
    res = run(repo, *command, *rest, agent="gamma")
    _no_crash(res)
    if res.code == 2:
        assert res.err.startswith(("gitcoord: ", "Usage: ", "Error: ")), res.err


def test_verify_refuses_option_like_revisions(repo: Path, tmp_path: Path) -> None:
    out = tmp_path / "written-by-git-log"
    res = run(repo, "verify", "--no-fetch", "--", f"--output={out}", "HEAD")
    assert not out.exists(), "git log wrote a file named by the revision range"
    _clean_failure(res)
    assert f"bad revision '--output={out}'" in res.err


def test_verify_does_not_echo_control_characters(repo: Path) -> None:
    res = run(repo, "verify", "--no-fetch", "--", "\x1b[2J\rgone")
    _clean_failure(res)
    assert "bad revision '?[2J?gone'" in res.err
    assert "\x1b" not in res.err and "\r" not in res.err


# -- sizes beyond any limit ----------------------------------------------------------------------------------


HUGE = "a" * 2_000_000
# Refusals that already cut what they quote, and those that echoed it whole (the bug below):
# each with the words its one-line refusal must say.
CUT = [
    (["claim", "--", HUGE], "is 2000000 bytes long, over the limit of 1024 bytes."),
    (["send", "--to", "any", "--", HUGE], "the message is 2000000 characters long; the limit is 4000."),
    (["task", "add", "--", HUGE], "the title is 2000000 characters long; the limit is 300."),
    (
        ["claim", *[f"many/{i}.py" for i in range(5000)], "-m", HUGE],
        "the message is 2000000 characters long; the limit is 4000.",
    ),
]
ECHOED = [
    (["--agent", HUGE, "claims"], "... (2000000 characters) is not a valid agent name."),
    (["help-requests", "ack", "--", f"H-{'9' * 100_000}"], "... (100002 characters) is not a valid H- id."),
    (["send", "--to", HUGE, "hi"], "... (2000000 characters) is not a valid recipient."),
]


@pytest.mark.parametrize(("argv", "said"), CUT, ids=["resource", "body", "title", "many-resources"])
def test_huge_inputs_are_refused_in_a_few_lines(repo: Path, argv: list[str], said: str) -> None:
    res = run(repo, *argv, agent="alpha")
    _clean_failure(res)  # exit 2: a short stderr alone proves nothing when the command succeeded
    assert said in res.err.splitlines()[0], res.err[:300]
    assert len(res.err) < 2000, f"a {len(res.err)}-character refusal"


@pytest.mark.parametrize(("argv", "said"), ECHOED, ids=["agent", "id", "to"])
def test_huge_names_ids_recipients_are_not_echoed_back(repo: Path, argv: list[str], said: str) -> None:
    res = run(repo, *argv, agent="alpha")
    _clean_failure(res)
    assert said in res.err.splitlines()[0], res.err[:300]
    assert len(res.err) < 2000, f"a {len(res.err)}-character refusal"


def test_trace_file_limits(repo: Path) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        big = Path(tmp) / "big.txt"
        big.write_bytes(b"x" * (64 * 1024 + 1))
        res = run(
            repo,
            "log-error",
            "--type",
            "other",
            "--severity",
            "low",
            "--trace-file",
            str(big),
            "m",
            agent="alpha",
        )
        _clean_failure(res)
        assert f"gitcoord: the trace file {big} is over 64 KiB." in res.err
        res = run(
            repo,
            "log-error",
            "--type",
            "other",
            "--severity",
            "low",
            "--trace-file",
            str(Path(tmp) / "missing.txt"),
            "m",
            agent="alpha",
        )
        _clean_failure(res)
        assert "cannot read the trace file" in res.err and "No such file or directory" in res.err
        odd = Path(tmp) / "odd.txt"
        odd.write_bytes(b"\xff\xfe\x1b[31mred\x1b[0m\r\nline\x00end")
        res = run(
            repo,
            "log-error",
            "--type",
            "other",
            "--severity",
            "low",
            "--trace-file",
            str(odd),
            "--json",
            "m",
            agent="alpha",
        )
        assert res.code == 0, res.err
        assert "\x1b" not in res.json()["trace"] and "\x00" not in res.json()["trace"]
