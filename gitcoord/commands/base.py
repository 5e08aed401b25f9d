"""What every command shares: the group's context, the Coordinator it builds, the common options.

The command modules import from here and never from `gitcoord.cli`, which imports them: imports point
down only. Light on purpose (click and `output`): every `gitcoord` run imports it, `claim` included;
the Coordinator is imported when a command builds one.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from gitcoord import output

# The choices of the protocol's options, from constants (light), not the records, so that
# `gitcoord claim` does not pay for pydantic.
from gitcoord.constants import DECISION_STATUSES as DECISION_STATUSES
from gitcoord.constants import ERROR_TYPES as ERROR_TYPES
from gitcoord.constants import IMPACTS as IMPACTS
from gitcoord.constants import PRIORITIES as PRIORITIES
from gitcoord.constants import SEVERITIES as SEVERITIES

if TYPE_CHECKING:
    from pydantic import BaseModel

    from gitcoord.coordinator import Coordinator

F = TypeVar("F", bound=Callable[..., Any])
R = TypeVar("R", bound="BaseModel")

CLIP = 90


class Ctx:
    """What the group options decided, shared with every command."""

    def __init__(self, repo: str, agent: str | None) -> None:
        self.repo = repo
        self.agent = agent

    def coordinator(self, agent: str | None = None) -> Coordinator:
        from gitcoord.coordinator import Coordinator

        return Coordinator(self.repo, agent=agent or self.agent)


def _ctx() -> Ctx | None:
    return click.get_current_context().find_object(Ctx)


def coord(agent: str | None = None) -> Coordinator:
    """The Coordinator for this run: `-C`'s repository, acting as `agent` (else the group's `--agent`)."""
    ctx = _ctx()
    assert ctx is not None, "a command runs inside the gitcoord group"
    return ctx.coordinator(agent)


def repo_path() -> Path:
    """The repository `-C` named (else the current directory), absolute."""
    ctx = _ctx()
    return Path(ctx.repo if ctx else ".").resolve()


def ctx_agent(agent: str | None) -> str | None:
    """The command's `--agent`, else the group's."""
    ctx = _ctx()
    return agent or (ctx.agent if ctx else None)


def _given_agent(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """An `--agent` that is given is an identity: empty or blank is bad input, never "no agent"
    (which would make an agent a human, free to review decisions and force releases)."""
    if value is not None and not value.strip():
        from gitcoord.errors import InvalidInput
        from gitcoord.validate import quoted

        raise InvalidInput(
            f"--agent is given but empty ({quoted(value)}).",
            hint="pass the agent's name; a person acting as a human leaves --agent out.",
        )
    return value


def agent_option(func: F) -> F:
    """`--agent NAME` on every command as well as on the group."""
    return click.option(
        "--agent",
        "agent",
        metavar="NAME",
        default=None,
        callback=_given_agent,
        help="Act as this agent (else GITCOORD_AGENT, `start`, git config coord.agent).",
    )(func)


def fetch_option(func: F) -> F:
    """`--fetch/--no-fetch` on reads: in remote mode, fetch the coord branch first (default)."""
    return click.option(
        "--fetch/--no-fetch",
        default=True,
        help="Fetch the remote first (remote mode; --no-fetch reads the local copy).",
    )(func)


def wait_option(func: F) -> F:
    """`--wait SECS` on reads: return as soon as something new for the agent is there."""
    return click.option(
        "--wait",
        type=float,
        default=0,
        metavar="SECS",
        help="Wait up to SECS seconds for something new for you (returns as soon as it is there).",
    )(func)


def json_option(func: F) -> F:
    """`--json`: print a stable machine format instead of text for people."""
    return click.option("--json", "as_json", is_flag=True, help="Print a stable JSON document.")(func)


# -- rendering records ---------------------------------------------------------------


def clip(text: str, limit: int = CLIP) -> str:
    """`text` on one line, cut to `limit` characters."""
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


def words(given: Sequence[str], what: str) -> str:
    """A free-text argument given as one quoted string or as several words."""
    text = " ".join(given)
    if not text.strip():
        raise click.UsageError(f"give the {what}.")
    return text


def dump(record: BaseModel) -> dict[str, Any]:
    """A record as stored, for `--json`."""
    return record.model_dump(mode="json")


def show(
    records: Sequence[R], as_json: bool, title: str, columns: list[str], row: Callable[[R], list[Any]]
) -> None:
    """Records as a JSON list or as a table, one row each."""
    if as_json:
        output.print_json([dump(r) for r in records])
    else:
        output.table(title, columns, [row(r) for r in records])


def done(record: BaseModel, as_json: bool, text: str) -> None:
    """A written record as JSON, or the sentence that says what was done."""
    if as_json:
        output.print_json(dump(record))
    else:
        output.say(text)
