"""`--help` for people: commands grouped by what a user does, whole summaries, examples that parse."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
from collections.abc import Iterator

import click
import pytest

from gitcoord.cli import cli
from gitcoord.commands.sections import SECTIONS, SUMMARY_LIMIT
from tests.conftest import GITCOORD

WIDTH = 80


def _commands(
    cmd: click.Command, path: tuple[str, ...] = ()
) -> Iterator[tuple[tuple[str, ...], click.Command]]:
    """Every visible command under `cmd`, as (path of names, command), parents first."""
    yield path, cmd
    if isinstance(cmd, click.Group):
        for name, sub in cmd.commands.items():
            if not sub.hidden:
                yield from _commands(sub, (*path, name))


COMMANDS = dict(_commands(cli))


def _help(path: tuple[str, ...], width: int = WIDTH) -> str:
    ctx = click.Context(cli, info_name="gitcoord", terminal_width=width, **cli.context_settings)
    cmd: click.Command = cli
    for name in path:
        assert isinstance(cmd, click.Group)
        sub = cmd.get_command(ctx, name)
        assert sub is not None, name
        ctx = click.Context(sub, info_name=name, parent=ctx, terminal_width=width, **sub.context_settings)
        cmd = sub
    return cmd.get_help(ctx)


def _top_level_help() -> str:
    """`gitcoord --help` from a real process on an 80-column terminal."""
    env = {**os.environ, "COLUMNS": str(WIDTH)}
    res = subprocess.run([*GITCOORD, "--help"], capture_output=True, text=True, env=env, check=True)
    return res.stdout


def _sections(text: str) -> dict[str, list[str]]:
    """The listing's sections: heading -> the command names of its rows, in order."""
    found: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in text.splitlines():
        if not line.strip():
            current = None
        elif not line.startswith(" ") and line.endswith(":"):
            current = found.setdefault(line[:-1], [])
        elif current is not None and re.match(r"  \S", line):
            current.append(line.split()[0])
    return found


def test_top_level_help_lists_every_command_once_in_its_section() -> None:
    text = _top_level_help()
    found = _sections(text)
    titles = [title for title, _ in SECTIONS]
    assert [t for t in found if t in titles] == titles, "sections in the table's order"
    visible = {name for name, cmd in cli.commands.items() if not cmd.hidden}
    listed = [name for title in titles for name in found[title]]
    assert sorted(listed) == sorted(visible), "every visible command exactly once"
    for title, names in SECTIONS:
        assert found[title] == [n for n in names if n in visible], title
    assert "Other commands" not in found, "a command the SECTIONS table does not place"
    assert "hook-run" not in text


@pytest.mark.parametrize("path", [p for p, c in COMMANDS.items() if isinstance(c, click.Group)], ids=" ".join)
def test_listings_fit_80_columns_with_whole_summaries(path: tuple[str, ...]) -> None:
    text = _top_level_help() if not path else _help(path)
    lines = text.splitlines()
    assert all(len(line) <= WIDTH for line in lines), [line for line in lines if len(line) > WIDTH]
    group = COMMANDS[path]
    assert isinstance(group, click.Group)
    for name, sub in group.commands.items():
        if sub.hidden:
            continue
        summary = sub.get_short_help_str(10_000)
        assert 0 < len(summary) <= SUMMARY_LIMIT, f"{name}: {summary!r}"
        rows = [line for line in lines if re.match(rf"  {re.escape(name)} +\S", line)]
        assert len(rows) == 1 and rows[0].endswith(summary), f"{name}: one line, whole summary: {rows}"
        assert not summary.endswith("..."), f"{name}: {summary!r}"


def _examples(text: str) -> list[str]:
    """The command lines of a help text's `Example:` block."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip() in ("Example:", "Examples:"))
    found: list[str] = []
    joined = False
    for line in lines[start + 1 :]:
        if not line.strip():
            break
        if joined:  # the line before ended with a backslash, as in a shell
            found[-1] = found[-1][:-1] + line.strip()
        else:
            found.append(line.strip())
        joined = line.endswith("\\")
    return found


def _resolve(argv: list[str]) -> tuple[str, ...]:
    """Parse `argv` (after `gitcoord`) as the real CLI would, without running it; the command's path.

    Every option, argument, type and callback is checked: a bad example raises click's UsageError.
    """
    ctx = cli.make_context("gitcoord", list(argv))
    cmd: click.Command = cli
    path: tuple[str, ...] = ()
    while isinstance(cmd, click.Group):
        name, sub, rest = cmd.resolve_command(ctx, [*ctx._protected_args, *ctx.args])
        assert name is not None and sub is not None
        ctx = sub.make_context(name, rest, parent=ctx)
        cmd, path = sub, (*path, name)
    return path


@pytest.mark.parametrize("path", list(COMMANDS), ids=lambda p: " ".join(p) or "gitcoord")
def test_every_command_has_an_example_that_parses(path: tuple[str, ...]) -> None:
    text = _help(path)
    assert re.search(r"^\s*Examples?:$", text, re.M), f"no Example in gitcoord {' '.join(path)} --help"
    examples = _examples(text)
    assert examples
    for line in examples:
        words = shlex.split(line, comments=True)
        for i, word in enumerate(words):  # the command ends at a redirection or a pipe
            if word in ("<", ">", "|", ";", "&&", "||"):
                del words[i:]
                break
        while words and re.match(r"[A-Z_]+=", words[0]):  # GITCOORD_AGENT=beta gitcoord ...
            words.pop(0)
        assert words[0] == "gitcoord", line
        resolved = _resolve(words[1:])
        assert resolved[: len(path)] == path, f"the example of {path} runs {resolved}: {line}"
    assert [row for row in text.splitlines() if len(row) > WIDTH] == []


def test_a_bad_example_does_not_parse() -> None:
    """The check above has teeth: an unknown option or a missing argument is caught."""
    with pytest.raises(click.UsageError):
        _resolve(["claim", "--minuets", "30", "src/api.py"])
    with pytest.raises(click.UsageError):
        _resolve(["task", "done"])
    assert _resolve(["task", "done", "T-7", "-m", "merged"]) == ("task", "done")
