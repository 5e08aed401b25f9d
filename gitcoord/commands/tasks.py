"""CLI commands: the task queue (DESIGN §5): task add|list|next|done|block|unblock."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from gitcoord.commands.base import (
    PRIORITIES,
    agent_option,
    clip,
    coord,
    done,
    fetch_option,
    json_option,
    show,
    words,
)
from gitcoord.commands.sections import Group, example

if TYPE_CHECKING:
    from gitcoord.records import Task

COLUMNS = ["id", "priority", "status", "assignee", "resources", "depends on", "title"]


@click.group(
    cls=Group,
    short_help="The task queue: add, list, next, done, block, unblock",
    epilog=example('gitcoord task add "Write the battery module" --priority high', "gitcoord task next"),
)
def task() -> None:
    """The task queue: add, list, take the next, finish, block, unblock."""


def _row(t: Task) -> list[Any]:
    return [
        t.id,
        t.priority,
        t.status,
        t.assignee,
        ", ".join(t.resources),
        ", ".join(t.depends_on),
        clip(t.title, 60),
    ]


@task.command(
    "add",
    short_help="Queue a task",
    epilog=example(
        'gitcoord task add "Write the battery module" --priority high \\',
        "    --resource modules/power/battery.md --depends-on T-3",
    ),
)
@click.argument("title", nargs=-1, required=True)
@click.option("--resource", "resources", multiple=True, metavar="R", help="A resource it needs (repeatable).")
@click.option("--assign", default="", metavar="A", help="Reserve it for this agent.")
@click.option("--priority", type=click.Choice(PRIORITIES), default="normal", show_default=True)
@click.option("--depends-on", "depends_on", multiple=True, metavar="ID", help="A task to finish first.")
@click.option("-m", "--message", "description", default="", help="A longer description.")
@agent_option
@json_option
def task_add(
    title: tuple[str, ...],
    resources: tuple[str, ...],
    assign: str,
    priority: str,
    depends_on: tuple[str, ...],
    description: str,
    agent: str | None,
    as_json: bool,
) -> None:
    """Queue a task called TITLE."""
    with coord(agent) as c:
        record = c.add_task(
            words(title, "title"),
            resources=resources,
            assign=assign,
            priority=priority,
            depends_on=depends_on,
            description=description,
        )
    done(record, as_json, f"added {record.id} ({priority})" + (f" for {assign}" if assign else "") + ".")


@task.command(
    "list", short_help="Tasks, in progress first, by priority", epilog=example("gitcoord task list --ready")
)
@click.option("--mine", is_flag=True, help="Only tasks assigned to me.")
@click.option("--ready", is_flag=True, help="Only tasks I could take now.")
@fetch_option
@agent_option
@json_option
def task_list(mine: bool, ready: bool, fetch: bool, agent: str | None, as_json: bool) -> None:
    """Tasks, in progress first, by priority."""
    with coord(agent) as c:
        found = c.tasks(mine=mine, ready=ready, fetch=fetch)
    show(found, as_json, "tasks", COLUMNS, _row)


@task.command(
    "next",
    short_help="Take the most urgent ready task and claim it",
    epilog=example("gitcoord task next", "gitcoord task next --wait 600"),
)
@click.option("--wait", type=float, default=0, metavar="SECS", help="Keep trying up to SECS seconds.")
@agent_option
@json_option
def task_next(wait: float, agent: str | None, as_json: bool) -> None:
    """Take the most urgent ready task (exit 3: none).

    Atomically: claims the task's resources, all or nothing, and marks it
    in progress. Tasks assigned to me come first, then by priority; a task
    whose resources others hold is skipped for the next one.
    """
    with coord(agent) as c:
        record = c.next_task(wait=wait)
    claims = f", claimed {', '.join(record.claim_ids)}" if record.claim_ids else ""
    done(
        record,
        as_json,
        f'took {record.id}: {record.title}{claims}. When done: gitcoord task done {record.id} -m "..."',
    )


@task.command(
    "done",
    short_help="Finish a task and release the claims it took",
    epilog=example('gitcoord task done T-7 -m "merged"'),
)
@click.argument("task_id", metavar="ID")
@click.option("-m", "--message", "note", default="", help="What was done.")
@agent_option
@json_option
def task_done(task_id: str, note: str, agent: str | None, as_json: bool) -> None:
    """Finish task ID and release the claims it took."""
    with coord(agent) as c:
        record = c.done_task(task_id, note=note)
    done(record, as_json, f"{record.id} done; its claims are released.")


@task.command(
    "block",
    short_help="Park a task; its claims are released",
    epilog=example('gitcoord task block T-7 --reason "waiting for the schema"'),
)
@click.argument("task_id", metavar="ID")
@click.option("--reason", required=True, help="What it waits for.")
@agent_option
@json_option
def task_block(task_id: str, reason: str, agent: str | None, as_json: bool) -> None:
    """Park task ID (its claims are released) until `task unblock`."""
    with coord(agent) as c:
        record = c.block_task(task_id, reason=reason)
    done(record, as_json, f"{record.id} blocked; requeue it with: gitcoord task unblock {record.id}")


@task.command(
    "unblock", short_help="Put a blocked task back in the queue", epilog=example("gitcoord task unblock T-7")
)
@click.argument("task_id", metavar="ID")
@agent_option
@json_option
def task_unblock(task_id: str, agent: str | None, as_json: bool) -> None:
    """Put blocked task ID back in the queue."""
    with coord(agent) as c:
        record = c.unblock_task(task_id)
    done(record, as_json, f"{record.id} is back in the queue.")


COMMANDS = (task,)
