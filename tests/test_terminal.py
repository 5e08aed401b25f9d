"""What a person reads in a terminal (issue 16, "Terminal"): rich on a TTY, plain through a pipe.

A TTY is a real pseudo-terminal made by util-linux `script`; piped output is a real pipe. The
coloured output is read as the ANSI codes rich writes, so a style is asserted where it shows.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

from .conftest import GITCOORD, Result, World, git, run, spawn

pytestmark = pytest.mark.skipif(shutil.which("script") is None, reason="needs util-linux script")

LONG = "modules/power/battery/charging/controllers/state_machines/fast_charge_state_machine.py"
ANSI = re.compile(r"\x1b\[[0-9;]*m")
ISO = re.compile(r"\b\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ\b")
RED = re.compile(r"\x1b\[[0-9;]*31[0-9;]*m")  # any SGR that sets red


def tty(cwd: Path, *args: str, agent: str | None = None, tz: str = "Europe/Paris") -> str:
    """`gitcoord ARGS` with stdout on a pseudo-terminal (80 columns), as a person runs it."""
    env = dict(os.environ, TERM="xterm-256color", COLUMNS="80", LINES="50", TZ=tz)
    env.pop("NO_COLOR", None)
    if agent is not None:
        env["GITCOORD_AGENT"] = agent
    command = shlex.join([*GITCOORD, "-C", str(cwd), *args])
    res = subprocess.run(
        ["script", "-q", "-e", "-c", command, "/dev/null"],
        capture_output=True,
        text=True,
        env=env,
        stdin=subprocess.DEVNULL,
        timeout=120,
    )
    assert res.returncode == 0, (res.returncode, res.stdout, res.stderr)
    assert "Traceback" not in res.stdout, res.stdout
    return res.stdout.replace("\r\n", "\n")


def plain(text: str) -> str:
    return ANSI.sub("", text)


def ok(res: Result) -> str:
    assert res.code == 0, (res.code, res.err)
    assert "Traceback" not in res.err, res.err
    return res.out


@pytest.fixture
def team(local_repo: Path) -> Path:
    """alpha holds a long path at 60%, beta started and holds nothing, gamma went stale;
    an urgent help request, a critical and a low error, a proposed decision, a task."""
    r = local_repo
    ok(run(r, "start", "--role", "power", agent="alpha"))
    ok(run(r, "claim", LONG, "-m", "charger", agent="alpha"))
    ok(run(r, "check-in", "--progress", "60", "-m", "tests written", agent="alpha"))
    ok(run(r, "start", "--role", "docs", agent="beta"))
    ok(run(r, "claim", "old/", agent="gamma", env={"GITCOORD_CLOCK_SKEW_SECONDS": "-1920"}))
    ok(run(r, "request-help", "--to", "any", "--priority", "urgent", "parser review", agent="beta"))
    ok(run(r, "request-help", "--to", "alpha", "--priority", "low", "a small thing", agent="beta"))
    ok(run(r, "log-error", "--type", "code_error", "--severity", "critical", "build broken", agent="beta"))
    ok(run(r, "log-error", "--type", "other", "--severity", "low", "typo", agent="beta"))
    ok(
        run(
            r,
            "log-decision",
            "--category",
            "db",
            "--impact",
            "high",
            "--rationale",
            "r",
            "use pg",
            agent="beta",
        )
    )
    ok(run(r, "task", "add", "write docs", agent="beta"))
    (r / ".git" / "gitcoord-state" / "agent").unlink()  # `start` named this worktree: a person reads it
    return r


def _section(text: str, title: str, next_title: str) -> str:
    return text[text.index(title) : text.index(next_title)]


# -- status grouped for a lead -------------------------------------------------------------------


def test_status_puts_what_needs_a_human_first_then_agents_then_the_rest(team: Path) -> None:
    out = ok(spawn(team, "status"))
    needs = _section(out, "Needs a human:", "Agents and what they hold:")
    assert "parser review" in needs and "build broken" in needs and "use pg" in needs, needs
    assert "gitcoord decisions approve D-" in needs and "gitcoord help-requests ack H-" in needs
    assert "typo" not in needs and "a small thing" not in needs  # not for a human: the rest
    agents = _section(out, "Agents and what they hold:", "open help requests:")
    assert LONG in agents and "60%" in agents and "tests written" in agents, agents
    rest = out[out.index("open help requests:") :]
    assert "a small thing" in rest and "typo" in rest and "write docs" in rest, rest
    assert out.index("Needs a human") < out.index("Agents and") < out.index("open help requests")


def test_status_agents_show_what_each_holds_and_who_holds_nothing(team: Path) -> None:
    out = ok(spawn(team, "status"))
    rows = {line.split()[0]: line for line in out.splitlines() if line.startswith("  ") and line.split()}
    assert LONG in rows["alpha"] and "active" in rows["alpha"]
    assert "nothing" in rows["beta"] and "idle" in rows["beta"]
    assert "old/" in rows["gamma"] and "stale" in rows["gamma"]


def test_piped_status_is_plain_with_human_column_titles(team: Path) -> None:
    out = ok(spawn(team, "status"))
    assert "\x1b" not in out
    assert "from_agent" not in out and "(none)" not in out
    assert "  id   priority  from  to" in out, out


def test_empty_sections_are_one_dim_line_on_a_terminal_and_one_line_in_a_pipe(local_repo: Path) -> None:
    piped = ok(spawn(local_repo, "status"))
    assert "Needs a human: nothing." in piped and "open errors: none" in piped and "tasks: none" in piped
    assert "(none)" not in piped
    screen = tty(local_repo, "status")
    assert "┏" not in screen and "│" not in screen  # no header-only boxed table
    dim = [line for line in screen.splitlines() if "open errors" in line]
    assert dim == [dim[0]] and "\x1b[2m" in dim[0], screen  # one line, dim (SGR 2)
    assert "\x1b[2m" in tty(local_repo, "task", "list") and "tasks: none" in plain(
        tty(local_repo, "task", "list")
    )


# -- one time format ---------------------------------------------------------------------------------


def test_times_are_utc_iso_in_a_pipe_and_local_with_zone_on_a_terminal(team: Path) -> None:
    piped = ok(spawn(team, "status"))
    assert ISO.search(piped.splitlines()[0]), piped  # "as of 2026-...Z"
    assert " UTC" not in piped and not re.search(r"(?<![:\d])\d\d:\d\dZ", piped)
    claims = ok(spawn(team, "claims"))
    expires = run(team, "claims", "--json").json()[0]["expires_at"]
    assert expires in claims  # the same text as the JSON: UTC ISO 8601
    screen = plain(tty(team, "status", tz="Asia/Kolkata"))
    assert not ISO.search(screen), screen
    assert re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d IST", screen), screen  # year, local clock, zone
    log = plain(tty(team, "log", tz="Asia/Kolkata"))
    assert "IST" in log and not ISO.search(log), log
    assert ISO.search(ok(spawn(team, "log")))
    claimed = plain(tty(team, "claim", "notes/", agent="delta", tz="Asia/Kolkata"))
    assert re.search(r"until \d{4}-\d\d-\d\d \d\d:\d\d IST", claimed), claimed
    assert ISO.search(ok(spawn(team, "claim", "notes/", agent="delta")))


def test_json_is_unchanged_by_the_terminal_rendering(team: Path) -> None:
    report = run(team, "status", "--json").json()
    keys = "rev now agents claims help_requests errors decisions tasks conflicts skipped"
    assert set(report) == set(keys.split())
    assert ISO.fullmatch(report["now"]) and "from_agent" in report["help_requests"][0]


# -- nothing cut, colour where it matters -----------------------------------------------------------


def test_a_long_resource_wraps_on_a_narrow_terminal_and_is_never_cut(team: Path) -> None:
    for argv in (["status"], ["claims"]):
        screen = plain(tty(team, *argv))
        assert "…" not in screen, screen  # rich's ellipsis: nothing was cut
        # Wrapped inside its column: glued back, the whole path is there.
        cells = "".join(line.split("│")[3].strip() for line in screen.splitlines() if line.count("│") > 4)
        assert LONG in cells, (argv, screen)
    assert LONG in ok(spawn(team, "status"))


def test_colour_for_severity_stale_agents_expiring_and_own_claims(team: Path) -> None:
    screen = tty(team, "status", agent="alpha", tz="UTC")
    lines = screen.splitlines()
    critical = next(line for line in lines if "critical" in line)
    assert "\x1b[1;37;41mcritical" in critical, critical  # white on red
    urgent = next(line for line in lines if " urgent" in line)
    assert RED.search(urgent), urgent
    gamma = next(line for line in lines if "gamma" in line)
    assert re.search(r"\x1b\[1;31mstale", gamma), gamma  # a stale agent in bold red
    assert re.search(r"\x1b\[1;31m[^\x1b]*\(lease", screen), screen  # gamma's claim ran out
    alpha = next(line for line in lines if "alpha" in line and "active" in line)
    assert "\x1b[1;36malpha" in alpha, alpha  # the caller's own claim in bold cyan
    as_beta = tty(team, "status", agent="beta", tz="UTC")
    assert "\x1b[1;36malpha" not in as_beta
    # A claim with less than five minutes left is yellow: 26 minutes later alpha's lease is near.
    env = {"GITCOORD_CLOCK_SKEW_SECONDS": str(26 * 60)}
    late = run(team, "status", "--json", env=env).json()
    assert 0 < next(c for c in late["claims"] if c["agent"] == "alpha")["seconds_left"] < 300
    from gitcoord import output
    from gitcoord.status_view import until

    claim = next(c for c in late["claims"] if c["agent"] == "alpha")
    assert until(claim).style == "yellow" and output.Cell is type(until(claim))


# -- log ---------------------------------------------------------------------------------------------


def test_log_agent_column_is_compact_for_human_acts(team: Path) -> None:
    decision = run(team, "decisions", "list", "--json").json()[0]["id"]
    ok(run(team, "decisions", "approve", decision, "--note", "fine"))
    out = ok(spawn(team, "log", "-n", "1"))
    assert "human:human " in out and "@example.com" not in out, out
    agent_width = len(out.splitlines()[1].split("agent")[1]) - len(
        out.splitlines()[1].split("agent")[1].lstrip()
    )
    assert agent_width <= 12, out
    assert run(team, "log", "--json", "-n", "1").json()[0]["agent"] == "human:human@example.com"


# -- progress belongs to a claim ---------------------------------------------------------------------


def test_releasing_the_claim_clears_its_progress(team: Path) -> None:
    ok(run(team, "release", LONG, agent="alpha"))
    agent = next(a for a in run(team, "status", "--json").json()["agents"] if a["name"] == "alpha")
    assert agent["progress"] is None and agent["message"] == "" and agent["resource"] == ""
    out = ok(spawn(team, "status"))
    alpha = next(line for line in out.splitlines() if line.startswith("  alpha"))
    assert "60%" not in alpha and "tests written" not in alpha and "nothing" in alpha, alpha


def test_releasing_one_of_two_claims_keeps_the_progress_of_the_work_still_held(team: Path) -> None:
    ok(run(team, "claim", "docs/power.md", agent="alpha"))
    ok(run(team, "release", "docs/power.md", "-m", "docs done", agent="alpha"))
    agent = next(a for a in run(team, "status", "--json").json()["agents"] if a["name"] == "alpha")
    assert agent["progress"] == 60


def test_finishing_a_task_clears_the_progress_of_its_claims(local_repo: Path) -> None:
    r = local_repo
    task = run(r, "task", "add", "charger", "--resource", "power/", "--json", agent="alpha").json()["id"]
    ok(run(r, "task", "next", agent="alpha"))
    ok(run(r, "check-in", "--progress", "90", "-m", "almost", agent="alpha"))
    ok(run(r, "task", "done", task, "-m", "merged", agent="alpha"))
    agent = next(a for a in run(r, "status", "--json").json()["agents"] if a["name"] == "alpha")
    assert (agent["progress"], agent["message"], agent["resource"]) == (None, "", "")


# -- start, check-in, hints, hooks install -----------------------------------------------------------


def test_start_without_claims_names_no_check_in_time(team: Path) -> None:
    out = ok(run(team, "start", agent="beta"))
    assert "Check in by" not in out and "no check-in is due" in out, out
    held = ok(run(team, "start", agent="alpha"))
    assert re.search(r"Check in by \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ: gitcoord check-in", held), held
    assert "no check-in is due" in ok(run(team, "check-in", agent="beta"))
    assert ISO.search(ok(run(team, "check-in", agent="alpha")))


def _sneak(repo: Path, path: str) -> None:
    (repo / path).parent.mkdir(parents=True, exist_ok=True)
    (repo / path).write_text("x\n")
    git(repo, "add", path)
    env = dict(os.environ, GITCOORD_AGENT="beta")
    subprocess.run(["git", "commit", "-q", "--no-verify", "-m", "sneaky"], cwd=repo, env=env, check=True)


def test_verify_hint_names_the_holder_and_the_command_without_repeating_the_violation(world: World) -> None:
    a, b = world.clones[0], world.clones[1]
    ok(run(a, "claim", "core/", agent="alpha"))
    _sneak(b, "core/engine.py")
    res = run(b, "verify", "origin/main..HEAD")
    assert res.code == 3
    hint = next(line for line in res.err.splitlines() if line.startswith("hint:"))
    assert "core/engine.py" not in hint and "token" not in hint, hint  # the violation is said above
    assert "gitcoord request-help --to alpha --resource core/" in hint and "HOLDER" not in hint, hint
    assert "gitcoord claim core/ --wait 600" in hint, hint


def test_pre_push_hint_names_the_holder(world: World) -> None:
    a, b = world.clones[0], world.clones[1]
    ok(run(a, "claim", "core/", agent="alpha"))
    assert run(b, "hooks", "install").code == 0
    _sneak(b, "core/engine.py")
    env = dict(os.environ, GITCOORD_AGENT="beta")
    pushed = subprocess.run(
        ["git", "push", "origin", "HEAD:main"], cwd=b, env=env, capture_output=True, text=True
    )
    assert pushed.returncode != 0
    assert "HOLDER" not in pushed.stderr and "--to alpha --resource core/" in pushed.stderr, pushed.stderr


def test_hooks_install_says_the_real_mode(local_repo: Path) -> None:
    out = ok(run(local_repo, "hooks", "install"))
    assert "(mode: config)" not in out and "mode: others, from hooks.mode in .coord/config.toml" in out, out
    fixed = ok(run(local_repo, "hooks", "install", "--mode", "strict"))
    assert "mode: strict, fixed by --mode" in fixed, fixed
    assert run(local_repo, "hooks", "install", "--json").json()["mode"] == "config"  # JSON unchanged


# -- the screenshot -----------------------------------------------------------------------------------


def test_status_screenshot_through_rich_s_recording_console(
    team: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`status` drawn on a recording Console: the colours are there, and with
    GITCOORD_WRITE_SCREENSHOTS=1 the picture is saved as docs/status.svg."""
    import time

    from rich.console import Console

    from gitcoord import output

    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    recorder = Console(record=True, width=110, force_terminal=True, color_system="truecolor")
    output.use_console(recorder)
    try:
        ok(run(team, "status", agent="alpha"))
    finally:
        output.use_console(None)
        monkeypatch.delenv("TZ")
        time.tzset()
    styled = recorder.export_text(styles=True, clear=False)
    svg = recorder.export_svg(title="gitcoord status", clear=False)
    text = recorder.export_text()
    assert "Needs a human" in text and "Agents and what they hold" in text and "modules/power" in text
    assert " UTC" in text and not ISO.search(text)
    assert "\x1b[1;37;41mcritical" in styled and re.search(r"\x1b\[1;31mstale", styled), styled
    assert "<svg" in svg and "critical" in svg
    if os.environ.get("GITCOORD_WRITE_SCREENSHOTS") == "1":
        (Path(__file__).parent.parent / "docs" / "status.svg").write_text(svg)


def test_an_agent_refused_a_forced_release_is_told_whom_to_ask(team: Path) -> None:
    res = run(team, "release", "--force", "--reason", "mine now", LONG, agent="beta")
    assert res.code == 3 and "a forced release is a human act, and you are the agent beta." in res.err
    hint = next(line for line in res.err.splitlines() if line.startswith("hint:"))
    assert f"gitcoord request-help --to alpha --resource {LONG}" in hint and "HOLDER" not in hint, hint
    assert f"gitcoord claim {LONG} --wait 600" in hint, hint
