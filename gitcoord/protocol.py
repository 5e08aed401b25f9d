"""The coordination protocol on top of claims: help requests, messages, tasks,
errors, decisions, daily summaries, and the startup context (DESIGN §5).

`ProtocolOps` is mixed into `gitcoord.Coordinator`; its methods use the
Coordinator's `write` (one transaction, one commit) and `snapshot` (reads).
Every state change is one transaction: validation runs on the state the
compare-and-swap lands on, so two agents acting at once never lose a write
and never both win a transition (two `task next` never take one task).

Lifecycles (anything else is refused, exit 3, with the reason)::

    help request   open -> acknowledged -> resolved      (open -> resolved too)
    task           todo -> in_progress -> done           (todo -> done too)
                   todo|in_progress -> blocked -> todo   (block releases its claims)
    error          open -> resolved
    decision       proposed -> approved -> implemented   (proposed -> rejected)

Example::

    coord = Coordinator(".", agent="alpha")
    coord.request_help("gamma", "Need ghost cohort data for power modules", priority="high")
    task = coord.next_task()            # claims its resources, or Refused (exit 3)
    coord.done_task(task.id, note="module written")
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal, TypeVar, cast, get_args

from gitcoord.errors import InvalidInput, Refused
from gitcoord.records import (
    AGENT_NAME,
    MAX_MESSAGE,
    MAX_TRACE,
    PRIORITY_ORDER,
    SEVERITY_ORDER,
    Agent,
    Claim,
    Decision,
    ErrorRecord,
    ErrorType,
    HelpRequest,
    IdRecord,
    Impact,
    Message,
    Priority,
    Severity,
    Summary,
    Task,
)
from gitcoord.validate import check_text, quoted, require_id
from gitcoord.workspace import check_agent_name

if TYPE_CHECKING:
    import threading

    from gitcoord.claims import Resource
    from gitcoord.config import Config
    from gitcoord.signing import ReviewCheck
    from gitcoord.store import Snapshot, Store, Txn

T = TypeVar("T")
IR = TypeVar("IR", bound=IdRecord)
Resolvable = TypeVar("Resolvable", HelpRequest, ErrorRecord)

PRIORITIES: tuple[str, ...] = get_args(Priority)
SEVERITIES: tuple[str, ...] = get_args(Severity)
ERROR_TYPES: tuple[str, ...] = get_args(ErrorType)
IMPACTS: tuple[str, ...] = get_args(Impact)
DECISION_STATUSES: tuple[str, ...] = ("proposed", "approved", "rejected", "implemented")
REVIEWED_STATUSES = ("approved", "rejected")
EVERYONE = "any"
REVIEWER_PREFIXES = ("human:", "notion:")

MAX_TITLE = 300
MAX_NOTE = MAX_MESSAGE
MAX_LIST = 20
_TASK_STATUS_ORDER = {"in_progress": 0, "todo": 1, "blocked": 2, "done": 3}
_IMPACT_ORDER = {"high": 0, "medium": 1, "low": 2}
# An actor recorded in a commit trailer: an agent name, `human:EMAIL`, `notion:USER`.
_ACTOR = re.compile(r"[A-Za-z0-9][^\s,]{0,199}")
_METRIC_KEY = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,59}")

# The startup context is read into an LLM's context window on every session:
# item caps per list, texts clipped, and a hard byte budget for `start --json`.
CONTEXT_BUDGET = 7600
_CONTEXT_CAPS = {"lost_claims": 10, "help_requests": 6, "messages": 5, "my_tasks": 5, "decisions": 3, "errors": 3,
                 "active_claims": 12, "stale_agents": 10}
# Over the budget, items go least urgent first: first down to a few of each kind, then to none.
_DROP_ORDER = ("active_claims", "stale_agents", "decisions", "errors", "messages", "my_tasks", "help_requests")
_FLOOR = 2
_CONTEXT_ORDER = ("agent", "session_id", "role", "next_check_in", "lost_claims", "help_requests", "messages",
                  "my_tasks", "decisions", "errors", "active_claims", "stale_agents", "omitted")


def _check_text(value: str, what: str, limit: int, *, required: bool = False) -> str:
    if required and not value.strip():
        raise InvalidInput(f"the {what} is empty.")
    return check_text(value, what, limit)


def _check_id(value: str, kind: str) -> str:
    return require_id(value, kind)


def _choice(value: str, options: Sequence[str], what: str) -> str:
    if value not in options:
        raise InvalidInput(f"{quoted(value)} is not a valid {what}.", hint=f"use one of: {', '.join(options)}.")
    return value


def _check_actor(actor: str) -> str:
    if not _ACTOR.fullmatch(actor):
        raise InvalidInput(f"{quoted(actor)} is not a valid actor: an agent name, human:EMAIL or notion:USER.")
    return actor


def _check_recipient(to: str) -> str:
    """`any`, an agent name, or a person (`human:EMAIL`, `notion:USER`)."""
    if to == EVERYONE or AGENT_NAME.fullmatch(to) or (to.startswith(REVIEWER_PREFIXES) and _ACTOR.fullmatch(to)):
        return to
    raise InvalidInput(f"{quoted(to)} is not a valid recipient.", hint="use an agent name, `any`, or human:EMAIL.")


def _check_resource(resource: str) -> str:
    from gitcoord.claims import parse_resource

    return parse_resource(resource).text if resource else ""


def _one_line(text: str, limit: int) -> str:
    """Free text squeezed onto one line of at most `limit` characters."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 3].rstrip() + "..."


def _compact(view: dict[str, Any]) -> dict[str, Any]:
    """Drop empty values: every byte of the startup context costs an agent's context window."""
    return {k: v for k, v in view.items() if v not in ("", None, [])}


def _dump(record: IdRecord | Summary, *, exclude: Iterable[str] = ()) -> dict[str, Any]:
    return record.model_dump(mode="json", exclude=set(exclude))


def _is_agent(actor: str) -> bool:
    return AGENT_NAME.fullmatch(actor) is not None


def _help_key(h: HelpRequest) -> tuple[int, int, int]:
    return ({"open": 0, "acknowledged": 1, "resolved": 2}[h.status], PRIORITY_ORDER[h.priority], h.created_rev)


def _task_key(t: Task) -> tuple[int, int, int]:
    return (_TASK_STATUS_ORDER[t.status], PRIORITY_ORDER[t.priority], t.created_rev)


def _error_key(e: ErrorRecord) -> tuple[int, int, int]:
    return (e.status != "open", SEVERITY_ORDER[e.severity], -e.created_rev)


def _decision_key(d: Decision) -> tuple[int, int, int]:
    return (DECISION_STATUSES.index(d.status), _IMPACT_ORDER[d.impact], d.created_rev)


_ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


def clean_trace(trace: str) -> str:
    """A stack trace as plain text: colour codes removed, other control characters as '?'.

    Test runners colour their tracebacks; refusing those would lose the error.
    """
    return _CONTROL.sub("?", _ANSI.sub("", trace.replace("\r\n", "\n").replace("\r", "\n")))


def _parse_metric(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not _METRIC_KEY.fullmatch(key.strip()):
        raise InvalidInput(f"{quoted(text)} is not a metric.",
                           hint="write metrics as KEY=VALUE, e.g. --metric tests=42.")
    return key.strip(), value.strip()


def parse_metrics(items: Iterable[str]) -> dict[str, str]:
    """`["tests=42", "coverage=81%"]` as a dict (exit 2 on a malformed item)."""
    return dict(_parse_metric(item) for item in items)


class ProtocolOps:
    """Help requests, messages, tasks, errors, decisions, summaries, and the startup context."""

    if TYPE_CHECKING:  # provided by Coordinator
        store: Store

        @property
        def config(self) -> Config: ...
        @property
        def agent(self) -> str | None: ...
        def require_agent(self) -> str: ...
        def human(self) -> str: ...
        def write(self, work: Callable[[Txn], T], *, actor: str | None = None, sign: bool = False) -> T: ...
        def sign_human_act(self) -> bool: ...
        def named_agent(self) -> str | None: ...
        def _refuse_speaking_for(self, what: str) -> None: ...
        def review_checks(self, snap: Snapshot | None = None) -> dict[str, ReviewCheck] | None: ...
        def snapshot(self, *, fetch: bool = False) -> Snapshot: ...
        def live_claims(self, snap: Snapshot, now: datetime, *, include_dead: bool = False) -> list[Claim]: ...
        def grant_claims(self, txn: Txn, agent: str, wanted: Sequence[Resource], *,
                         mode: Literal["exclusive", "shared"] = "exclusive", lease: timedelta | None = None,
                         message: str = "") -> list[Claim]: ...
        def _touch_agent(self, txn: Txn, agent: str, *, resource: str | None = None,
                         progress: int | None = None, message: str | None = None) -> Agent: ...
        def _with_wait(self, attempt: Callable[[], T], wait: float, stop: threading.Event | None = None) -> T: ...

    # -- shared helpers ------------------------------------------------------------------

    def _actor(self, actor: str | None = None) -> str:
        """Who acts: the given actor, else the agent, else the human at this machine."""
        return _check_actor(actor) if actor is not None else (self.agent or self.human())

    def _act(self, actor: str, work: Callable[[Txn], T], *, heartbeat: bool = True, sign: bool = False) -> T:
        """One transaction as `actor`; an agent's act also counts as a sign of life.

        `heartbeat=False` when `work` touches the agent record itself (a second
        touch, built from the snapshot, would undo the first).
        """

        def run(txn: Txn) -> T:
            value = work(txn)
            if heartbeat and txn.has_writes and _is_agent(actor):
                self._touch_agent(txn, actor)
            return value

        return self.write(run, actor=actor, sign=sign)

    @staticmethod
    def _get(txn: Txn, model: type[IR], record_id: str, what: str, listing: str) -> IR:
        found = txn.snap.record(model, record_id)
        if found is None:
            raise InvalidInput(f"there is no {what} {record_id}.", hint=f"see `gitcoord {listing}`.")
        return found

    # -- help requests -------------------------------------------------------------------

    def request_help(self, to: str, message: str, *, priority: str = "normal", resource: str = "") -> HelpRequest:
        """Ask an agent (or `any` agent) for help; open until someone resolves it.

        >>> coord.request_help("gamma", "Need ghost cohort data", priority="high")  # doctest: +SKIP
        """
        agent = self.require_agent()
        _check_recipient(to)
        if to == agent:
            raise InvalidInput("you cannot ask yourself for help.", hint="ask another agent, or --to any.")
        _check_text(message, "message", MAX_MESSAGE, required=True)
        level = cast("Priority", _choice(priority, PRIORITIES, "priority"))
        resource = _check_resource(resource)

        def work(txn: Txn) -> HelpRequest:
            record = HelpRequest(id=txn.new_id("H"), from_agent=agent, to=to, priority=level,
                                 resource=resource, message=message, created_at=txn.now)
            txn.put(record)
            txn.action, txn.what = "help-request", f"{record.id} to {to} ({priority})"
            return record

        return self._act(agent, work)

    def help_requests(self, *, open_only: bool = False, fetch: bool = True) -> list[HelpRequest]:
        """Help requests, open ones first, by priority (open_only: not yet resolved)."""
        found = self.snapshot(fetch=fetch).records(HelpRequest)
        if open_only:
            found = [h for h in found if h.status != "resolved"]
        return sorted(found, key=_help_key)

    def ack_help(self, help_id: str, *, actor: str | None = None) -> HelpRequest:
        """Say you are on it: an open request becomes acknowledged (by you, or by `actor`)."""
        _check_id(help_id, "H")
        actor = self._actor(actor)

        def work(txn: Txn) -> HelpRequest:
            record = self._get(txn, HelpRequest, help_id, "help request", "help-requests list")
            if record.status != "open":
                by = record.acked_by if record.status == "acknowledged" else record.resolved_by
                raise Refused(f"{help_id} is already {record.status} by {by}.")
            if record.from_agent == actor:
                raise Refused(f"{help_id} is your own request; someone else acknowledges it.",
                              hint=f"to withdraw it: gitcoord help-requests resolve {help_id} --note \"...\"")
            record.status, record.acked_by, record.acked_at = "acknowledged", actor, txn.now
            txn.put(record)
            txn.action, txn.what = "help-ack", help_id
            return record

        return self._act(actor, work)

    def resolve_help(self, help_id: str, note: str, *, actor: str | None = None) -> HelpRequest:
        """Close a help request with a note (the requester may withdraw it the same way)."""
        return self._resolve(HelpRequest, help_id, note, actor, what="help request", listing="help-requests list",
                             action="help-resolve")

    def send(self, to: str, body: str, *, reply_to: str = "") -> Message:
        """Leave a message for an agent (or `any`), optionally replying to another."""
        sender = self._actor()
        _check_recipient(to)
        _check_text(body, "message", MAX_MESSAGE, required=True)
        if reply_to:
            _check_id(reply_to, "M")

        def work(txn: Txn) -> Message:
            if reply_to:
                self._get(txn, Message, reply_to, "message", "inbox --all")
            record = Message(id=txn.new_id("M"), from_agent=sender, to=to, body=body, reply_to=reply_to,
                             created_at=txn.now)
            txn.put(record)
            txn.action, txn.what = "message-send", f"{record.id} to {to}"
            return record

        return self._act(sender, work)

    @staticmethod
    def _for_me(message: Message, me: str) -> bool:
        return message.to == me or (message.to == EVERYONE and message.from_agent != me)

    def inbox(self, *, all: bool = False, fetch: bool = True) -> list[Message]:
        """Messages to me or to everyone, oldest first: unread ones, or `all`. Reads only."""
        me = self.require_agent()
        found = [m for m in self.snapshot(fetch=fetch).records(Message) if self._for_me(m, me)]
        return sorted((m for m in found if all or me not in m.read_by), key=lambda m: m.created_rev)

    def mark_read(self, ids: Sequence[str] | None = None) -> list[Message]:
        """Mark messages (default: my whole unread inbox) as read by me; returns those marked."""
        me = self.require_agent()
        wanted = [_check_id(i, "M") for i in ids] if ids is not None else None

        def work(txn: Txn) -> list[Message]:
            if wanted is None:
                chosen = [m for m in txn.snap.records(Message) if self._for_me(m, me)]
            else:
                chosen = [self._get(txn, Message, i, "message", "inbox --all") for i in wanted]
                strangers = [m.id for m in chosen if not self._for_me(m, me)]
                if strangers:
                    raise Refused(f"{', '.join(strangers)} is not addressed to you.")
            marked = []
            for message in chosen:
                if me not in message.read_by:
                    message.read_by = [*message.read_by, me]
                    txn.put(message)
                    marked.append(message)
            txn.action, txn.what = "message-read", ", ".join(m.id for m in marked)
            return sorted(marked, key=lambda m: m.created_rev)

        return self._act(me, work)

    # -- tasks -----------------------------------------------------------------------------

    def add_task(self, title: str, *, resources: Sequence[str] = (), assign: str = "", priority: str = "normal",
                 depends_on: Sequence[str] = (), description: str = "") -> Task:
        """Queue a task; `task next` hands it out once its dependencies are done."""

        actor = self._actor()
        _check_text(title, "title", MAX_TITLE, required=True)
        _check_text(description, "description", MAX_MESSAGE)
        level = cast("Priority", _choice(priority, PRIORITIES, "priority"))
        if assign:
            check_agent_name(assign)
        wanted = list(dict.fromkeys(_check_resource(r) for r in resources))
        deps = list(dict.fromkeys(_check_id(d, "T") for d in depends_on))
        if len(wanted) > MAX_LIST or len(deps) > MAX_LIST:
            raise InvalidInput(f"a task takes at most {MAX_LIST} resources and {MAX_LIST} dependencies.")

        def work(txn: Txn) -> Task:
            for dep in deps:
                self._get(txn, Task, dep, "task", "task list")
            record = Task(id=txn.new_id("T"), title=title, description=description, resources=wanted,
                          assignee=assign, priority=level, depends_on=deps,
                          created_by=actor, created_at=txn.now)
            txn.put(record)
            txn.action, txn.what = "task-add", f"{record.id} {_one_line(title, 60)}"
            return record

        return self._act(actor, work)

    def tasks(self, *, mine: bool = False, ready: bool = False, fetch: bool = True) -> list[Task]:
        """Tasks, in progress first, by priority. `mine`: assigned to me; `ready`: I could take it now."""
        everything = self.snapshot(fetch=fetch).records(Task)
        me = self.require_agent() if mine else self.agent
        by_id = {t.id: t for t in everything}
        found = [t for t in everything if (not mine or t.assignee == me) and (not ready or _is_ready(t, by_id, me))]
        return sorted(found, key=_task_key)

    def next_task(self, *, wait: float = 0, stop: threading.Event | None = None) -> Task:
        """Take the most urgent ready task, atomically: claim its resources and start it.

        Ready: todo, assigned to me or to nobody, every dependency done. Tasks
        assigned to me come first, then by priority, then oldest. A task whose
        resources others hold is skipped for the next one. Refused (exit 3)
        when nothing is ready; `wait` keeps trying that many seconds (or until `stop` is set).
        """
        agent = self.require_agent()
        return self._with_wait(lambda: self._act(agent, lambda txn: self._take_task(txn, agent), heartbeat=False),
                               wait, stop)

    def _take_task(self, txn: Txn, agent: str) -> Task:
        from gitcoord.claims import parse_resource

        all_tasks = txn.snap.records(Task)
        by_id = {t.id: t for t in all_tasks}
        ready = sorted((t for t in all_tasks if _is_ready(t, by_id, agent)),
                       key=lambda t: (t.assignee != agent, PRIORITY_ORDER[t.priority], t.created_rev))
        held: list[str] = []
        for task in ready:
            try:
                claims = self.grant_claims(txn, agent, [parse_resource(r) for r in task.resources],
                                           message=f"task {task.id}")
            except Refused as exc:
                held.append(f"{task.id} ({exc.message.splitlines()[-1].strip()})")
                continue
            task.status, task.assignee, task.started_at = "in_progress", agent, txn.now
            task.claim_ids = [c.id for c in claims]
            txn.put(task)
            self._touch_agent(txn, agent, resource=task.resources[0] if task.resources else None)
            txn.action, txn.what = "task-take", f"{task.id} {_one_line(task.title, 60)}"
            return task
        raise Refused(_nothing_ready(agent, all_tasks, by_id, held),
                      hint="wait for one: gitcoord task next --wait 600; or see `gitcoord task list`.")

    def return_task(self, taken: Task) -> Task | None:
        """Undo a `next_task` whose caller gave up (a cancelled MCP request), as if it never ran.

        The task goes back to the queue with the assignee it had before (blocking and
        unblocking it would leave it assigned to me, out of everyone else's reach), and
        only the claims the take created are released: one it renewed was mine before.
        None, and nothing written, when the task has changed since the take.
        """
        agent = self.require_agent()
        assignee = self._assignee_before(taken)

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

        return self._act(agent, work)

    def _assignee_before(self, taken: Task) -> str:
        """Whom `taken` was assigned to just before the write that took it ("" if that write is not recent)."""
        for entry in self.store.history(limit=100):
            if entry.get("rev") == str(taken.updated_rev):
                before = self.store.snapshot_at(f"{entry['commit']}^").record(Task, taken.id)
                return before.assignee if before else ""
        return ""

    def _my_task(self, txn: Txn, task_id: str, agent: str | None, verb: str) -> Task:
        """A task `agent` may act on: not done, and theirs or nobody's (a person may act on any)."""
        task = self._get(txn, Task, task_id, "task", "task list")
        if task.status == "done":
            raise Refused(f"{task_id} is already done.")
        if agent is not None and task.assignee and task.assignee != agent:
            raise Refused(f"{task_id} is {task.assignee}'s task ({task.status}); you cannot {verb} it.",
                          hint=f"ask them: gitcoord send --to {task.assignee} \"...\"")
        return task

    def _release_task_claims(self, txn: Txn, task: Task, agent: str) -> None:
        for claim_id in task.claim_ids:
            claim = txn.snap.record(Claim, claim_id)
            if claim is not None and claim.agent == agent:
                txn.delete(claim)
        task.claim_ids = []

    def done_task(self, task_id: str, *, note: str = "") -> Task:
        """Finish a task of mine (or an unassigned one) and release the claims it took."""
        agent = self.require_agent()
        self._refuse_speaking_for("finishing a task (it releases its claims)")
        _check_id(task_id, "T")
        _check_text(note, "note", MAX_NOTE)

        def work(txn: Txn) -> Task:
            task = self._my_task(txn, task_id, agent, "finish")
            if task.status == "blocked":
                raise Refused(f"{task_id} is blocked ({task.block_reason}); a blocked task goes back to the queue "
                              "before it is done.", hint=f"gitcoord task unblock {task_id}, then take it.")
            self._release_task_claims(txn, task, agent)
            task.status, task.assignee, task.done_at, task.note = "done", agent, txn.now, note
            task.started_at = task.started_at or txn.now
            txn.put(task)
            self._touch_agent(txn, agent, resource="")
            txn.action, txn.what = "task-done", f"{task.id} {_one_line(task.title, 60)}"
            return task

        return self._act(agent, work, heartbeat=False)

    def block_task(self, task_id: str, *, reason: str) -> Task:
        """Park a task that cannot go on; its claims are released. `unblock_task` requeues it."""
        actor = self._actor()
        self._refuse_speaking_for("blocking a task (it releases its claims)")
        _check_id(task_id, "T")
        _check_text(reason, "reason", MAX_NOTE, required=True)

        def work(txn: Txn) -> Task:
            task = self._my_task(txn, task_id, actor if _is_agent(actor) else None, "block")
            if task.status == "blocked":
                raise Refused(f"{task_id} is already blocked: {task.block_reason}")
            self._release_task_claims(txn, task, task.assignee)
            task.status, task.block_reason = "blocked", reason
            txn.put(task)
            txn.action, txn.what = "task-block", task.id
            return task

        return self._act(actor, work)

    def unblock_task(self, task_id: str) -> Task:
        """A blocked task goes back to the queue (todo), for its assignee or anyone."""
        actor = self._actor()
        _check_id(task_id, "T")

        def work(txn: Txn) -> Task:
            task = self._get(txn, Task, task_id, "task", "task list")
            if task.status != "blocked":
                raise Refused(f"{task_id} is {task.status}, not blocked.")
            task.status, task.block_reason = "todo", ""
            txn.put(task)
            txn.action, txn.what = "task-unblock", task.id
            return task

        return self._act(actor, work)

    # -- errors ----------------------------------------------------------------------------

    def log_error(self, type: str, message: str, *, severity: str, resource: str = "",
                  trace: str = "") -> ErrorRecord:
        """Record an error for the team and the humans (traces up to 64 KiB)."""
        actor = self._actor()
        kind = cast("ErrorType", _choice(type, ERROR_TYPES, "error type"))
        level = cast("Severity", _choice(severity, SEVERITIES, "severity"))
        _check_text(message, "message", MAX_MESSAGE, required=True)
        size = len(trace.encode())
        if size > MAX_TRACE:
            raise InvalidInput(f"the trace is {size} bytes; the limit is {MAX_TRACE} (64 KiB).",
                               hint="keep its last part: tail -c 60000 trace.txt")
        trace = clean_trace(trace)
        resource = _check_resource(resource)

        def work(txn: Txn) -> ErrorRecord:
            record = ErrorRecord(id=txn.new_id("E"), agent=actor, type=kind, severity=level,
                                 resource=resource, message=message, trace=trace, created_at=txn.now)
            txn.put(record)
            txn.action, txn.what = "error-log", f"{record.id} {type} ({severity})"
            return record

        return self._act(actor, work)

    def errors(self, *, open_only: bool = False, severity: str | None = None, fetch: bool = True
               ) -> list[ErrorRecord]:
        """Errors, open ones first, most severe first, newest first."""
        if severity is not None:
            _choice(severity, SEVERITIES, "severity")
        found = [e for e in self.snapshot(fetch=fetch).records(ErrorRecord)
                 if (not open_only or e.status == "open") and (severity is None or e.severity == severity)]
        return sorted(found, key=_error_key)

    def resolve_error(self, error_id: str, note: str, *, actor: str | None = None) -> ErrorRecord:
        """Close an open error with what fixed it."""
        return self._resolve(ErrorRecord, error_id, note, actor, what="error", listing="errors list",
                             action="error-resolve")

    def _resolve(self, model: type[Resolvable], record_id: str, note: str, actor: str | None, *, what: str,
                 listing: str, action: str) -> Resolvable:
        """Mark a help request or an error resolved, once, by whoever acts, with a note."""
        _check_id(record_id, model.kind)
        _check_text(note, "note", MAX_NOTE)
        who = self._actor(actor)

        def work(txn: Txn) -> Resolvable:
            record = self._get(txn, model, record_id, what, listing)
            if record.status == "resolved":
                raise Refused(f"{record_id} was already resolved by {record.resolved_by}.")
            record.status, record.resolved_by, record.resolved_at = "resolved", who, txn.now
            record.resolution_note = note
            txn.put(record)
            txn.action, txn.what = action, record_id
            return record

        return self._act(who, work)

    # -- decisions -------------------------------------------------------------------------

    def log_decision(self, category: str, title: str, rationale: str, *, impact: str,
                     alternatives: Sequence[str] = ()) -> Decision:
        """Propose a decision; a human approves or rejects it, then it is implemented."""
        actor = self._actor()
        _check_text(category, "category", 60, required=True)
        if "\n" in category:
            raise InvalidInput("the category is one line, e.g. api_design.")
        _check_text(title, "title", MAX_TITLE, required=True)
        _check_text(rationale, "rationale", MAX_MESSAGE, required=True)
        weight = cast("Impact", _choice(impact, IMPACTS, "impact"))
        if len(alternatives) > MAX_LIST:
            raise InvalidInput(f"at most {MAX_LIST} alternatives.")
        for alternative in alternatives:
            _check_text(alternative, "alternative", 1000, required=True)

        def work(txn: Txn) -> Decision:
            record = Decision(id=txn.new_id("D"), agent=actor, category=category, impact=weight,
                              title=title, rationale=rationale, alternatives=list(alternatives),
                              created_at=txn.now)
            txn.put(record)
            txn.action, txn.what = "decision-propose", f"{record.id} {_one_line(title, 60)}"
            return record

        return self._act(actor, work)

    def decisions(self, *, status: str | None = None, fetch: bool = True) -> list[Decision]:
        """Decisions, proposed (awaiting review) first, high impact first."""
        if status is not None:
            _choice(status, DECISION_STATUSES, "decision status")
        found = [d for d in self.snapshot(fetch=fetch).records(Decision) if status is None or d.status == status]
        return sorted(found, key=_decision_key)

    def _reviewer(self, reviewer: str | None) -> str:
        """A human act: refused for agents; limited to `review.reviewers` when that is set.

        The reviewer is derived (the git identity of the person at this machine),
        never chosen by the caller: `reviewer` is accepted only when it names that
        same person. The Notion bridge has its own path, `review_from_notion`.
        """
        if self.agent is not None:
            raise Refused(f"reviewing a decision is a human act, and you are the agent {self.agent}.",
                          hint="a person runs it with no agent identity (no --agent, GITCOORD_AGENT "
                               "unset, no `gitcoord start` in that worktree), or reviews it in Notion.")
        derived = self.human()
        if reviewer is not None and reviewer != derived:
            raise Refused(f"a reviewer is who runs the review ({derived}), not {quoted(reviewer)}.",
                          hint="the Notion bridge applies Notion reviews with review_from_notion().")
        return self._allowed_reviewer(derived)

    def _allowed_reviewer(self, reviewer: str) -> str:
        _check_actor(reviewer)
        allowed = [r.lower() for r in self.config.review.reviewers]
        if allowed and reviewer.split(":", 1)[1].lower() not in allowed:
            raise Refused(f"{reviewer} may not review decisions here; the reviewers are {', '.join(allowed)}.",
                          hint="review.reviewers in .coord/config.toml lists them (git emails).")
        return reviewer

    def _review(self, decision_id: str, verdict: Literal["approved", "rejected"], note: str, who: str) -> Decision:
        _check_id(decision_id, "D")
        _check_text(note, "note", MAX_NOTE)
        sign = self.sign_human_act()

        def work(txn: Txn) -> Decision:
            record = self._get(txn, Decision, decision_id, "decision", "decisions list")
            if record.status != "proposed" and not (sign and self._unproved_review(txn, record)):
                raise Refused(f"{decision_id} is already {record.status}"
                              + (f" (by {record.reviewed_by})." if record.reviewed_by else "."))
            record.status, record.reviewed_by, record.reviewed_at = verdict, who, txn.now
            record.review_note = note
            txn.put(record)
            txn.action = "decision-approve" if verdict == "approved" else "decision-reject"
            txn.what = f"{decision_id} {_one_line(record.title, 60)}"
            return record

        return self._act(who, work, sign=sign)

    def approve_decision(self, decision_id: str, *, note: str = "", reviewer: str | None = None) -> Decision:
        """Approve a proposed decision (humans only; see `_reviewer`). Signed when allowed signers are set."""
        return self._review(decision_id, "approved", note, self._reviewer(reviewer))

    def reject_decision(self, decision_id: str, *, note: str = "", reviewer: str | None = None) -> Decision:
        """Reject a proposed decision (humans only). Signed when allowed signers are set."""
        return self._review(decision_id, "rejected", note, self._reviewer(reviewer))

    def review_from_notion(self, decision_id: str, verdict: Literal["approved", "rejected"], user: str, *,
                           note: str = "") -> Decision:
        """The Notion bridge: apply a review a Notion user made, as `notion:USER`.

        Run by the sync job: refused for a process named as an agent (`--agent`,
        GITCOORD_AGENT, `Coordinator(agent=...)`); a worktree's remembered identity
        does not count, as the sync may run in any clone. What proves the act is
        the signature: with allowed signers set, the commit is signed with the
        job's own key, listed under the bridge's principal, so it vouches for the
        bridge while the reviewer stays the Notion user. Without allowed signers
        it is trusted like every unsigned act.
        """
        named = self.named_agent()
        if named is not None:
            raise Refused(f"applying a Notion review is the sync job's act, and you are the agent {named}.")
        if not user.startswith("notion:"):
            raise Refused(f"{quoted(user)} is not a Notion user (notion:USER).")
        if verdict not in REVIEWED_STATUSES:
            raise InvalidInput(f"{quoted(verdict)} is not a review verdict (approved, rejected).")
        return self._review(decision_id, verdict, note, self._allowed_reviewer(user))

    def review_status(self, decisions: Sequence[Decision]) -> dict[str, dict[str, Any]]:
        """`review_verified` / `review_signer` per decision: proved by a signed commit, from history.

        Both are None for every decision when no allowed signers are configured,
        and `review_verified` is None for a decision nobody has reviewed yet.
        """
        checks = self.review_checks()
        out: dict[str, dict[str, Any]] = {}
        for d in decisions:
            check = checks.get(d.id) if checks is not None else None
            if checks is None or d.status == "proposed":
                out[d.id] = {"review_verified": None, "review_signer": None}
            else:
                out[d.id] = {"review_verified": bool(check and check.verified),
                             "review_signer": check.signer if check else None}
        return out

    def implement_decision(self, decision_id: str) -> Decision:
        """Mark an approved decision implemented."""
        _check_id(decision_id, "D")
        actor = self._actor()

        def work(txn: Txn) -> Decision:
            record = self._get(txn, Decision, decision_id, "decision", "decisions list")
            if record.status != "approved":
                why = "it needs a human's approval first" if record.status == "proposed" else f"it is {record.status}"
                raise Refused(f"{decision_id} cannot be implemented: {why}.")
            self._require_verified(txn, record)
            record.status, record.implemented_at = "implemented", txn.now
            txn.put(record)
            txn.action, txn.what = "decision-implement", f"{decision_id} {_one_line(record.title, 60)}"
            return record

        return self._act(actor, work)

    def _unproved_review(self, txn: Txn, record: Decision) -> bool:
        """An approval or rejection no signature proves (made before signing was set up, or
        forged): a signed review may replace it, so a person can confirm or overturn it."""
        if record.status not in REVIEWED_STATUSES:
            return False
        check = (self.review_checks(txn.snap) or {}).get(record.id)
        return check is None or not check.verified

    def _require_verified(self, txn: Txn, record: Decision) -> None:
        """With allowed signers set, only an approval a listed key signed may be acted on."""
        checks = self.review_checks(txn.snap)
        if checks is None:
            return
        check = checks.get(record.id)
        if check is None or not check.verified:
            why = check.why if check else "no signed approval is in the coord history"
            raise Refused(f"{record.id} cannot be implemented: its approval is not verified ({why}).",
                          hint="a reviewer listed in the allowed signers approves it with their signing key set up.")

    # -- daily summaries -------------------------------------------------------------------

    def daily_summary(self, *, completed: str, next: str, blockers: str = "", messages: str = "",
                      metrics: dict[str, str] | None = None, day_number: int | None = None) -> Summary:
        """My summary of today (UTC); a second one the same day replaces the first."""
        agent = self.require_agent()
        for value, what in ((completed, "completed"), (next, "next"), (blockers, "blockers"),
                            (messages, "messages")):
            _check_text(value, what, MAX_MESSAGE)
        clean = {k: _check_text(str(v), f"metric {k}", 500) for k, v in (metrics or {}).items()}
        for key in clean:
            if not _METRIC_KEY.fullmatch(key):
                raise InvalidInput(f"{quoted(key)} is not a metric name (letters, digits, '.', '_', '-').")
        if len(clean) > 50:
            raise InvalidInput("at most 50 metrics.")
        if day_number is not None and not 0 <= day_number <= 100_000:
            raise InvalidInput(f"--day is a day number from 0, not {day_number}.")

        def work(txn: Txn) -> Summary:
            record = Summary(agent=agent, day=txn.now.date(), day_number=day_number, completed=completed,
                             next=next, blockers=blockers, messages=messages, metrics=clean, created_at=txn.now)
            old = txn.snap.record(Summary, record.key)
            if old is not None:
                record.created_rev = old.created_rev
            txn.put(record)
            txn.action = "summary-write"
            txn.what = f"{record.day.isoformat()}" + (" (replaced)" if old is not None else "")
            return record

        return self._act(agent, work)

    def summaries(self, *, agent: str | None = None, fetch: bool = True) -> list[Summary]:
        """Daily summaries, newest day first (of one agent, or all)."""
        from gitcoord.store import ROOT

        snap = self.snapshot(fetch=fetch)
        if agent is not None:
            names = [check_agent_name(agent)]
        else:
            names = sorted(name for name, entry in snap.entries(f"{ROOT}/{Summary.directory}").items()
                           if entry.is_tree)
        found = [s for name in names for s in snap.records(Summary, subdir=name)]
        return sorted(found, key=lambda s: (s.day, s.agent), reverse=True)

    # -- startup context and status --------------------------------------------------------

    def _extend_context(self, ctx: dict[str, Any], snap: Snapshot, me: Agent, now: datetime) -> None:
        """Add messages, help requests, tasks, decisions, errors to a startup context."""
        name = me.name
        helps = sorted((h for h in snap.records(HelpRequest)
                        if (h.status == "open" and h.to in (name, EVERYONE) and h.from_agent != name)
                        or (h.status == "acknowledged" and h.acked_by == name)), key=_help_key)
        messages = sorted((m for m in snap.records(Message) if self._for_me(m, name) and name not in m.read_by),
                          key=lambda m: -m.created_rev)
        tasks = snap.records(Task)
        by_id = {t.id: t for t in tasks}
        mine = sorted((t for t in tasks if t.assignee == name and t.status != "done"), key=_task_key)
        mine += sorted((t for t in tasks if not t.assignee and _is_ready(t, by_id, name)), key=_task_key)
        since = me.previous_session_at
        reviewed = sorted((d for d in snap.records(Decision) if d.agent == name and d.reviewed_at is not None
                           and (since is None or d.reviewed_at >= since)), key=lambda d: -d.updated_rev)
        errors = sorted((e for e in snap.records(ErrorRecord)
                         if e.status == "open" and e.severity in ("high", "critical")), key=_error_key)
        claims = sorted(self.live_claims(snap, now), key=lambda c: (c.agent != name, c.expires_at, c.resource))
        proof = self.review_status(reviewed[:_CONTEXT_CAPS["decisions"]]) if reviewed else {}
        ctx.update({
            "help_requests": [_help_view(h) for h in helps],
            "messages": [_message_view(m) for m in messages],
            "my_tasks": [_task_view(t, by_id) for t in mine],
            "decisions": [_decision_view(d) | _compact(proof.get(d.id, {})) for d in reviewed],
            "errors": [_error_view(e) for e in errors],
            "active_claims": [_claim_view(c, name) for c in claims],
        })
        _fit_context(ctx)

    def _extend_status(self, report: dict[str, Any], snap: Snapshot, now: datetime) -> None:
        """Add help requests, errors, decisions and tasks to a status report."""
        report["help_requests"] = [_dump(h) for h in sorted(snap.records(HelpRequest), key=_help_key)
                                   if h.status != "resolved"]
        report["errors"] = [_dump(e, exclude=["trace"]) | {"has_trace": bool(e.trace)}
                            for e in sorted(snap.records(ErrorRecord), key=_error_key) if e.status == "open"]
        pending = [d for d in sorted(snap.records(Decision), key=_decision_key) if d.status in ("proposed", "approved")]
        proof = self.review_status(pending)
        report["decisions"] = [_dump(d) | proof[d.id] for d in pending]
        report["tasks"] = [_dump(t) for t in sorted(snap.records(Task), key=_task_key) if t.status != "done"]


# -- readiness --------------------------------------------------------------------------------


def _is_ready(task: Task, by_id: dict[str, Task], agent: str | None) -> bool:
    """todo, assigned to `agent` or nobody (anyone, without an agent), every dependency done."""
    if task.status != "todo":
        return False
    if agent is not None and task.assignee not in ("", agent):
        return False
    return all(dep in by_id and by_id[dep].status == "done" for dep in task.depends_on)


def _nothing_ready(agent: str, tasks: list[Task], by_id: dict[str, Task], held: list[str]) -> str:
    """Why `task next` found nothing: waiting on dependencies, resources others hold, none queued."""
    waiting = [t for t in tasks if t.status == "todo" and t.assignee in ("", agent)
               and not _is_ready(t, by_id, agent)]
    parts = []
    if held:
        parts.append("resources held by others: " + "; ".join(held[:3]) + (" ..." if len(held) > 3 else ""))
    if waiting:
        parts.append("waiting on dependencies: " + ", ".join(
            f"{t.id} (needs {', '.join(_unfinished(t, by_id))})" for t in waiting[:3])
            + (" ..." if len(waiting) > 3 else ""))
    detail = "; ".join(parts) if parts else "no task is queued for you or for anyone"
    return f"no task is ready for {agent}: {detail}."


# -- compact views for the startup context ----------------------------------------------------


def _help_view(h: HelpRequest) -> dict[str, Any]:
    return _compact({"id": h.id, "priority": h.priority, "from_agent": h.from_agent, "to": h.to,
                     "status": h.status, "resource": _one_line(h.resource, 120), "message": _one_line(h.message, 160)})


def _message_view(m: Message) -> dict[str, Any]:
    return _compact({"id": m.id, "from_agent": m.from_agent, "to": m.to, "reply_to": m.reply_to,
                     "body": _one_line(m.body, 160)})


def _unfinished(task: Task, by_id: dict[str, Task]) -> list[str]:
    return [d for d in task.depends_on if d not in by_id or by_id[d].status != "done"]


def _task_view(t: Task, by_id: dict[str, Task]) -> dict[str, Any]:
    return _compact({"id": t.id, "priority": t.priority, "status": t.status, "assignee": t.assignee,
                     "title": _one_line(t.title, 100), "resources": [_one_line(r, 120) for r in t.resources[:3]],
                     "waiting_on": _unfinished(t, by_id)[:5], "block_reason": _one_line(t.block_reason, 120)})


def _decision_view(d: Decision) -> dict[str, Any]:
    return _compact({"id": d.id, "status": d.status, "impact": d.impact, "title": _one_line(d.title, 100),
                     "reviewed_by": d.reviewed_by, "review_note": _one_line(d.review_note, 100)})


def _error_view(e: ErrorRecord) -> dict[str, Any]:
    return _compact({"id": e.id, "severity": e.severity, "type": e.type, "agent": e.agent,
                     "resource": _one_line(e.resource, 120), "message": _one_line(e.message, 120)})


def _claim_view(c: Claim, me: str) -> dict[str, Any]:
    return {"id": c.id, "agent": c.agent, "resource": _one_line(c.resource, 120), "mode": c.mode,
            "expires_at": c.expires_at, "mine": c.agent == me, **({"auto": True} if c.auto else {})}


def _fit_context(ctx: dict[str, Any]) -> None:
    """Cap every list, then drop the least urgent items until the JSON fits the budget.

    What was left out is counted in `omitted`, so the agent knows to look further.
    """
    from gitcoord.output import to_json

    omitted: dict[str, int] = {}

    def drop(key: str, keep: int) -> None:
        extra = len(ctx[key]) - keep
        if extra > 0:
            del ctx[key][keep:]
            omitted[key] = omitted.get(key, 0) + extra
            ctx["omitted"] = omitted

    for key, cap in _CONTEXT_CAPS.items():
        drop(key, cap)
    for key in _CONTEXT_ORDER:  # most urgent sections first in the document
        if key in ctx:
            ctx[key] = ctx.pop(key)
    for floor in (_FLOOR, 0):
        for key in _DROP_ORDER:
            while len(ctx[key]) > floor and len(to_json(ctx).encode()) + 1 > CONTEXT_BUDGET:
                drop(key, len(ctx[key]) - 1)
