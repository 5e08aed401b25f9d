"""Tasks: a queue agents take work from, with dependencies and the claims a task needs (DESIGN §5).

Lifecycle (anything else is refused, exit 3, with the reason)::

    todo -> in_progress -> done           (todo -> done too)
    todo|in_progress -> blocked -> todo   (block releases its claims)

Example::

    coord = Coordinator(".", agent="alpha")
    task = coord.next_task()            # claims its resources, or Refused (exit 3)
    coord.done_task(task.id, note="module written")
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, cast

from gitcoord.claiming import end_progress, grant, with_wait
from gitcoord.constants import PRIORITIES, TASK_STATUS_ORDER
from gitcoord.errors import InvalidInput, Refused
from gitcoord.host import (
    MAX_LIST,
    MAX_NOTE,
    MAX_TITLE,
    Host,
    act,
    actor_of,
    check_required,
    check_resource,
    choice,
    get_record,
    is_agent,
    one_line,
    touch_agent,
)
from gitcoord.records import MAX_MESSAGE, PRIORITY_ORDER, Claim, Priority, Task
from gitcoord.validate import require_id
from gitcoord.workspace import check_agent_name

if TYPE_CHECKING:
    from gitcoord.store import Txn


def task_key(t: Task) -> tuple[int, int, int]:
    """In progress first, then todo, blocked, done; most urgent, then oldest, first."""
    return (TASK_STATUS_ORDER[t.status], PRIORITY_ORDER[t.priority], t.created_rev)


class TaskOps:
    """Queue tasks, hand them out, finish, block and unblock them."""

    def add_task(
        self: Host,
        title: str,
        *,
        resources: Sequence[str] = (),
        assign: str = "",
        priority: str = "normal",
        depends_on: Sequence[str] = (),
        description: str = "",
    ) -> Task:
        """Queue a task; `task next` hands it out once its dependencies are done."""
        actor = actor_of(self)
        check_required(title, "title", MAX_TITLE, required=True)
        check_required(description, "description", MAX_MESSAGE)
        level = cast("Priority", choice(priority, PRIORITIES, "priority"))
        if assign:
            check_agent_name(assign)
        wanted = list(dict.fromkeys(check_resource(r) for r in resources))
        deps = list(dict.fromkeys(require_id(d, "T") for d in depends_on))
        if len(wanted) > MAX_LIST or len(deps) > MAX_LIST:
            raise InvalidInput(f"a task takes at most {MAX_LIST} resources and {MAX_LIST} dependencies.")

        def work(txn: Txn) -> Task:
            for dep in deps:
                get_record(txn, Task, dep, "task", "task list")
            record = Task(
                id=txn.new_id("T"),
                title=title,
                description=description,
                resources=wanted,
                assignee=assign,
                priority=level,
                depends_on=deps,
                created_by=actor,
                created_at=txn.now,
            )
            txn.put(record)
            txn.action, txn.what = "task-add", f"{record.id} {one_line(title, 60)}"
            return record

        return act(self, actor, work)

    def tasks(self: Host, *, mine: bool = False, ready: bool = False, fetch: bool = True) -> list[Task]:
        """Tasks, in progress first, by priority. `mine`: assigned to me; `ready`: I could take it now."""
        everything = self.snapshot(fetch=fetch).records(Task)
        me = self.require_agent() if mine else self.agent
        by_id = {t.id: t for t in everything}
        found = [
            t for t in everything if (not mine or t.assignee == me) and (not ready or is_ready(t, by_id, me))
        ]
        return sorted(found, key=task_key)

    def next_task(self: Host, *, wait: float = 0, stop: threading.Event | None = None) -> Task:
        """Take the most urgent ready task, atomically: claim its resources and start it.

        Ready: todo, assigned to me or to nobody, every dependency done. Tasks
        assigned to me come first, then by priority, then oldest. A task whose
        resources others hold is skipped for the next one. Refused (exit 3)
        when nothing is ready; `wait` keeps trying that many seconds (or until `stop` is set).
        """
        agent = self.require_agent()
        return with_wait(
            self,
            lambda: act(self, agent, lambda txn: _take_task(self, txn, agent), heartbeat=False),
            wait,
            stop,
        )

    def return_task(self: Host, taken: Task) -> Task | None:
        """Undo a `next_task` whose caller gave up (a cancelled MCP request), as if it never ran.

        The task goes back to the queue with the assignee it had before (blocking and
        unblocking it would leave it assigned to me, out of everyone else's reach), and
        only the claims the take created are released: one it renewed was mine before.
        None, and nothing written, when the task has changed since the take.
        """
        agent = self.require_agent()
        assignee = _assignee_before(self, taken)

        def work(txn: Txn) -> Task | None:
            task = txn.snap.record(Task, taken.id)
            if task is None or task.status != "in_progress" or task.updated_rev != taken.updated_rev:
                return None
            for claim_id in task.claim_ids:
                claim = txn.snap.record(Claim, claim_id)
                if claim is not None and claim.agent == agent and claim.created_rev == taken.updated_rev:
                    txn.delete(claim)
            task.status, task.assignee, task.started_at, task.claim_ids = "todo", assignee, None, []
            txn.put(task)
            txn.action, txn.what = "task-return", f"{task.id} (the request that took it was cancelled)"
            return task

        return act(self, agent, work)

    def done_task(self: Host, task_id: str, *, note: str = "") -> Task:
        """Finish a task of mine (or an unassigned one) and release the claims it took."""
        agent = self.require_agent()
        self.refuse_speaking_for("finishing a task (it releases its claims)")
        require_id(task_id, "T")
        check_required(note, "note", MAX_NOTE)

        def work(txn: Txn) -> Task:
            task = _my_task(txn, task_id, agent, "finish")
            if task.status == "blocked":
                raise Refused(
                    f"{task_id} is blocked ({task.block_reason}); a blocked task goes back to the queue "
                    "before it is done.",
                    hint=f"gitcoord task unblock {task_id}, then take it.",
                )
            gone = set(task.claim_ids)
            _release_task_claims(txn, task, agent)
            task.status, task.assignee, task.done_at, task.note = "done", agent, txn.now, note
            task.started_at = task.started_at or txn.now
            txn.put(task)
            end_progress(txn, touch_agent(self, txn, agent, resource=""), gone)
            txn.action, txn.what = "task-done", f"{task.id} {one_line(task.title, 60)}"
            return task

        return act(self, agent, work, heartbeat=False)

    def block_task(self: Host, task_id: str, *, reason: str) -> Task:
        """Park a task that cannot go on; its claims are released. `unblock_task` requeues it."""
        actor = actor_of(self)
        self.refuse_speaking_for("blocking a task (it releases its claims)")
        require_id(task_id, "T")
        check_required(reason, "reason", MAX_NOTE, required=True)
        # A person parking someone's task releases that agent's claims: a human act, signed.
        sign = not is_agent(actor) and self.sign_human_act()

        def work(txn: Txn) -> Task:
            task = _my_task(txn, task_id, actor if is_agent(actor) else None, "block")
            if task.status == "blocked":
                raise Refused(f"{task_id} is already blocked: {task.block_reason}")
            _release_task_claims(txn, task, task.assignee)
            task.status, task.block_reason = "blocked", reason
            txn.put(task)
            txn.action, txn.what = "task-block", task.id
            return task

        return act(self, actor, work, sign=sign)

    def unblock_task(self: Host, task_id: str) -> Task:
        """A blocked task goes back to the queue (todo), for its assignee or anyone."""
        actor = actor_of(self)
        require_id(task_id, "T")

        def work(txn: Txn) -> Task:
            task = get_record(txn, Task, task_id, "task", "task list")
            if task.status != "blocked":
                raise Refused(f"{task_id} is {task.status}, not blocked.")
            task.status, task.block_reason = "todo", ""
            txn.put(task)
            txn.action, txn.what = "task-unblock", task.id
            return task

        return act(self, actor, work)


def _take_task(host: Host, txn: Txn, agent: str) -> Task:
    from gitcoord.resources import parse_resource

    all_tasks = txn.snap.records(Task)
    by_id = {t.id: t for t in all_tasks}
    ready = sorted(
        (t for t in all_tasks if is_ready(t, by_id, agent)),
        key=lambda t: (t.assignee != agent, PRIORITY_ORDER[t.priority], t.created_rev),
    )
    held: list[str] = []
    for task in ready:
        try:
            claims = grant(
                host, txn, agent, [parse_resource(r) for r in task.resources], message=f"task {task.id}"
            )
        except Refused as exc:
            held.append(f"{task.id} ({exc.message.splitlines()[-1].strip()})")
            continue
        task.status, task.assignee, task.started_at = "in_progress", agent, txn.now
        task.claim_ids = [c.id for c in claims]
        txn.put(task)
        touch_agent(host, txn, agent, resource=task.resources[0] if task.resources else None)
        txn.action, txn.what = "task-take", f"{task.id} {one_line(task.title, 60)}"
        return task
    raise Refused(
        _nothing_ready(agent, all_tasks, by_id, held),
        hint="wait for one: gitcoord task next --wait 600; or see `gitcoord task list`.",
    )


def _assignee_before(host: Host, taken: Task) -> str:
    """Whom `taken` was assigned to just before the write that took it ("" if that write is not recent)."""
    for entry in host.store.history(limit=100, own=False):
        if entry.get("rev") == str(taken.updated_rev):
            before = host.store.snapshot_at(f"{entry['commit']}^").record(Task, taken.id)
            return before.assignee if before else ""
    return ""


def _my_task(txn: Txn, task_id: str, agent: str | None, verb: str) -> Task:
    """A task `agent` may act on: not done, and theirs or nobody's (a person may act on any)."""
    task = get_record(txn, Task, task_id, "task", "task list")
    if task.status == "done":
        raise Refused(f"{task_id} is already done.")
    if agent is not None and task.assignee and task.assignee != agent:
        raise Refused(
            f"{task_id} is {task.assignee}'s task ({task.status}); you cannot {verb} it.",
            hint=f'ask them: gitcoord send --to {task.assignee} "..."',
        )
    return task


def _release_task_claims(txn: Txn, task: Task, agent: str) -> None:
    for claim_id in task.claim_ids:
        claim = txn.snap.record(Claim, claim_id)
        if claim is not None and claim.agent == agent:
            txn.delete(claim)
    task.claim_ids = []


# -- readiness --------------------------------------------------------------------------------


def is_ready(task: Task, by_id: dict[str, Task], agent: str | None) -> bool:
    """todo, assigned to `agent` or nobody (anyone, without an agent), every dependency done."""
    if task.status != "todo":
        return False
    if agent is not None and task.assignee not in ("", agent):
        return False
    return all(dep in by_id and by_id[dep].status == "done" for dep in task.depends_on)


def unfinished(task: Task, by_id: dict[str, Task]) -> list[str]:
    """The dependencies of `task` not done yet."""
    return [d for d in task.depends_on if d not in by_id or by_id[d].status != "done"]


def _nothing_ready(agent: str, tasks: list[Task], by_id: dict[str, Task], held: list[str]) -> str:
    """Why `task next` found nothing: waiting on dependencies, resources others hold, none queued."""
    waiting = [
        t for t in tasks if t.status == "todo" and t.assignee in ("", agent) and not is_ready(t, by_id, agent)
    ]
    parts = []
    if held:
        parts.append("resources held by others: " + "; ".join(held[:3]) + (" ..." if len(held) > 3 else ""))
    if waiting:
        parts.append(
            "waiting on dependencies: "
            + ", ".join(f"{t.id} (needs {', '.join(unfinished(t, by_id))})" for t in waiting[:3])
            + (" ..." if len(waiting) > 3 else "")
        )
    detail = "; ".join(parts) if parts else "no task is queued for you or for anyone"
    return f"no task is ready for {agent}: {detail}."
