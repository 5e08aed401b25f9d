"""`gitcoord mcp`: the Coordinator's operations as MCP tools over stdio.

Built on the official `mcp` SDK (2.x, `MCPServer`): each tool is a typed
function whose signature becomes the tool's input schema. Results are small
JSON objects (timestamps as `...Z` text). A refusal or bad input is a tool
error (`is_error`) whose text is gitcoord's own message: who holds what,
since and until when, and the next step (`request_help`, `wait`).

Every call opens a fresh `Coordinator`, so a config change or another
agent's work is seen at once. What the server keeps between calls holds no
coordination state and is re-checked at every call (`gitcoord.mcp_reader`):
one `git cat-file --batch`, the repository's directories, and git's config
while the files it came from are unchanged. Example (Claude Code)::

    claude mcp add gitcoord -- gitcoord mcp --agent alpha
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, NotRequired, TypeVar

from typing_extensions import TypedDict

from gitcoord.constants import DecisionStatus, ErrorType, Impact, Priority, Severity
from gitcoord.coordinator import Coordinator
from gitcoord.errors import GitcoordError, Refused
from gitcoord.mcp_reader import KeptReader, KeptWorkspace, Mirrors
from gitcoord.output import to_json
from gitcoord.results import CheckInResult, ClaimView, LogEntry, StartContext, StatusReport

if TYPE_CHECKING:
    from mcp.server.mcpserver import MCPServer

KIND = {2: "bad input", 3: "refused", 4: "coordination unavailable"}
INSTRUCTIONS = (
    "Coordination with the other agents working in this git repository. Call `start` first and "
    "follow its context (help requests before your own tasks). Claim files before you edit them "
    "(`claim`); a refusal names the holder: ask them with `request_help`, or claim with `wait`. "
    "Call `check_in` at least every 15 minutes while you hold claims, `release` when done, "
    "`log_error` and `log_decision` as they happen, and `daily_summary` at the end of the day."
)

Json = dict[str, Any]
R = TypeVar("R")


class ClaimsPage(TypedDict):
    claims: list[ClaimView]
    omitted: NotRequired[int]


class LogPage(TypedDict):
    entries: list[LogEntry]


LIST_LIMIT = 50  # default items per list tool: an agent's context window is not a database


def _page(key: str, items: list[Any], limit: int) -> dict[str, Any]:
    """The first `limit` items (lists come most urgent first) and how many were left out."""
    limit = max(1, limit)
    found: dict[str, Any] = {key: items[:limit]}
    if len(items) > limit:
        found["omitted"] = len(items) - limit
    return found


def _plain(value: object) -> Json:
    """JSON values only: records, datetimes and dates as the CLI's --json prints them."""
    plain: Json = json.loads(to_json(value))
    return plain


class Tools:
    """The tool bodies: each opens a Coordinator for this repository and identity."""

    def __init__(self, repo: Path, agent: str | None) -> None:
        self.repo, self.agent = repo, agent
        self.reader = KeptReader()  # one `git cat-file --batch` for all calls (gitcoord.mcp_reader)
        self.where = KeptWorkspace(repo)  # the repository's directories and git's config, re-checked
        self.mirrors = Mirrors()  # the coord branch's mirror moves after the answer

    def close(self) -> None:
        """Wait for the mirror moves still running, and end their worker and the kept reader."""
        self.mirrors.close()
        self.reader.close()

    def call(self, work: Callable[[Coordinator], object]) -> Json:
        """Run `work`; its value (a record, a list page) as JSON values. See `typed`."""
        return _plain(self.typed(work))

    def typed(self, work: Callable[[Coordinator], R]) -> R:
        """Run `work`; a gitcoord error becomes a tool error carrying its message and hint.

        A tool whose result has a type in `gitcoord.results` returns it as is: the SDK
        validates it against that type (the tool's output schema) and prints it as JSON.
        """
        ToolError = _tool_error_class()
        try:
            self.mirrors.wait()  # a call sees the refs as the calls before it left them
            opened = Coordinator(self.repo, agent=self.agent, workspace=self.where.open())
            with opened as coord, self.reader.lent_to(coord.git):
                coord.store.mirror_run = self.mirrors.runner(coord.git)
                coord.store.later = self.mirrors.later
                return work(coord)
        except GitcoordError as exc:
            kind = KIND.get(exc.exit_code, "error")
            raise ToolError(f"{kind} (exit {exc.exit_code}): {exc.render()}") from exc

    async def call_cancellable(
        self, work: Callable[[Coordinator, threading.Event], R], undo: Callable[[Coordinator, R], object]
    ) -> Json:
        """`call` for an operation that may wait, in a worker thread the client can cancel.

        The SDK runs a plain tool in a thread it cannot stop, so a cancelled `claim`
        with `wait` would go on waiting and could be granted after the agent gave up.
        Here a cancellation sets `stop` (the wait ends before its next attempt), and
        if an attempt succeeds all the same, `undo` takes back what it granted:
        in the worker when the cancellation came first, here when the result did.
        """
        import anyio
        import anyio.to_thread

        stop, lock = threading.Event(), threading.Lock()
        done: list[R] = []  # the raw result, once the worker has one the caller may never see

        def guarded(c: Coordinator) -> R:
            result = work(c, stop)
            with lock:
                if stop.is_set():
                    undo(c, result)
                else:
                    done.append(result)
            return result

        try:
            return await anyio.to_thread.run_sync(lambda: self.call(guarded), abandon_on_cancel=True)
        except anyio.get_cancelled_exc_class():
            with lock:
                stop.set()
                granted = list(done)
            if granted:
                with anyio.CancelScope(shield=True):
                    await anyio.to_thread.run_sync(lambda: self.typed(lambda c: undo(c, granted[0])))
            raise


def _lost_claims(result: CheckInResult) -> Refused:
    """A check-in that found claims taken from me: the CLI's exit 3, told once, as a refusal."""
    lost = "; ".join(
        f"{x['resource']} ({x['id']})" + (f", held by {x['now_held_by']} now" if x["now_held_by"] else "")
        for x in result["lost"]
    )
    renewed = ", ".join(result["renewed"]) or "nothing"
    return Refused(
        f"since your last check-in you lost {lost}. Renewed all the same: {renewed}.",
        hint="stop editing what you lost; `claim` it again (with `wait`) before you go on.",
    )


def _claim_now(
    c: Coordinator,
    resources: list[str],
    *,
    minutes: float | None,
    shared: bool,
    message: str,
    wait: float,
    stop: threading.Event,
) -> Json:
    """The `claim` tool's work: the granted claims, and under `fresh` the ones this call created."""
    try:
        granted = c.claim(resources, minutes=minutes, shared=shared, message=message, wait=wait, stop=stop)
    except Refused as exc:
        # The hint speaks CLI; an agent on this server may have no shell (or no identity there).
        raise Refused(
            exc.message,
            hint=f"{exc.hint}\nThrough this server: the `request_help` tool, "
            "or `claim` again with `wait` (seconds).",
        ) from exc
    now = c.store.clock()
    # Created by this very write (a renewal keeps its older created_rev): judged by the grant
    # itself, not by a look taken before the wait, while another request may have claimed it.
    return {
        "claims": [c.claim_view(g, now, c.agent) for g in granted],
        "fresh": [g.id for g in granted if g.created_rev == g.updated_rev],
    }


def _take_back_claims(c: Coordinator, result: Json) -> None:
    """Undo a cancelled `claim`: release what it created; a renewal of a claim already mine stays."""
    if result["fresh"]:
        c.release(result["fresh"], message="the claim request was cancelled")


def _tool_error_class() -> type[Exception]:
    """The SDK's "anticipated tool failure" (mcp 2: mcpserver, mcp 1: fastmcp)."""
    try:
        from mcp.server.mcpserver.exceptions import ToolError
    except ImportError:  # mcp 1.x
        from mcp.server.fastmcp.exceptions import (  # type: ignore[no-redef,import-not-found,unused-ignore]
            ToolError,
        )
    return ToolError


def build_server(repo: Path, agent: str | None, tools: Tools | None = None) -> MCPServer:
    """The MCP server with every gitcoord tool registered (not yet running), calling `tools`."""
    try:
        from mcp.server.mcpserver import MCPServer as Server
    except ImportError:  # mcp 1.x named it FastMCP
        from mcp.server.fastmcp import FastMCP as Server  # type: ignore[no-redef,attr-defined,unused-ignore]

    server: MCPServer = Server("gitcoord", instructions=INSTRUCTIONS)
    tools = tools or Tools(repo, agent)
    for register in (_session_tools, _claim_tools, _help_tools, _task_tools, _record_tools):
        register(server, tools)
    return server


def _session_tools(server: MCPServer, t: Tools) -> None:
    @server.tool()
    def start(role: str = "") -> StartContext:
        """Startup protocol: open a session; returns messages for me, active claims, help requests,
        my tasks, decisions and errors, most urgent first. Call it first."""
        return t.typed(lambda c: c.start(role=role))

    @server.tool()
    def status() -> StatusReport:
        """Everything at a glance: agents, live claims, open help requests, errors, decisions, tasks."""
        return t.typed(lambda c: c.status(fetch=True))

    @server.tool()
    def daily_summary(
        completed: str,
        next: str,
        blockers: str = "",
        messages: str = "",
        metrics: dict[str, str] | None = None,
        day_number: int | None = None,
    ) -> Json:
        """Write my summary of today (one per agent per day; a second call replaces it)."""
        return t.call(
            lambda c: c.daily_summary(
                completed=completed,
                next=next,
                blockers=blockers,
                messages=messages,
                metrics=metrics,
                day_number=day_number,
            )
        )

    @server.tool()
    def summaries(agent: str = "", limit: int = 10) -> Json:
        """Daily summaries, newest day first (of one agent, or everyone's), at most `limit`."""
        return t.call(lambda c: _page("summaries", c.summaries(agent=agent or None), limit))

    @server.tool()
    def log(since: str = "", agent: str = "", limit: int = 20) -> LogPage:
        """The audit trail from the coord history, newest first: who did what, when."""

        def work(c: Coordinator) -> LogPage:
            return {"entries": c.log(since=since or None, agent=agent or None, limit=max(1, limit))}

        return t.typed(work)


def _claim_tools(server: MCPServer, t: Tools) -> None:
    @server.tool()
    async def claim(
        resources: list[str],
        minutes: float | None = None,
        shared: bool = False,
        message: str = "",
        wait: float = 0,
    ) -> Json:
        """Claim resources (paths, dirs/, globs, scheme:names) before editing them: all or nothing.
        Refused with the holder named when another agent holds an overlapping claim; `wait`
        keeps trying up to that many seconds (cancelling the request stops it)."""

        def work(c: Coordinator, stop: threading.Event) -> Json:
            return _claim_now(
                c, resources, minutes=minutes, shared=shared, message=message, wait=wait, stop=stop
            )

        result = await t.call_cancellable(work, _take_back_claims)
        return {"claims": result["claims"]}

    @server.tool()
    def check_in(
        resources: list[str] | None = None,
        progress: int | None = None,
        message: str = "",
        minutes: float | None = None,
    ) -> CheckInResult:
        """Heartbeat: renew my claims (all, or the named ones) and record progress (0-100);
        `minutes` sets a new lease length. Refused when a claim is no longer mine: stop editing
        that resource."""

        def work(c: Coordinator) -> CheckInResult:
            result = c.check_in(resources or [], progress=progress, message=message, minutes=minutes)
            if result["lost"]:
                raise _lost_claims(result)
            return result

        return t.typed(work)

    @server.tool()
    def release(resources: list[str] | None = None, all: bool = False, message: str = "") -> Json:
        """Release my claims (by resource or claim id), or all of them."""
        return t.call(lambda c: {"released": c.release(resources or [], all=all, message=message)})

    @server.tool()
    def claims(limit: int = LIST_LIMIT) -> ClaimsPage:
        """Live claims of every agent, with holder, mode, state and expiry (at most `limit`)."""

        def work(c: Coordinator) -> ClaimsPage:
            found = c.claims(fetch=True)
            limited = max(1, limit)
            page: ClaimsPage = {"claims": found[:limited]}
            if len(found) > limited:
                page["omitted"] = len(found) - limited
            return page

        return t.typed(work)


def _help_tools(server: MCPServer, t: Tools) -> None:
    @server.tool()
    def request_help(to: str, message: str, priority: Priority = "normal", resource: str = "") -> Json:
        """Ask an agent (or `any`) for help; returns the request (H-N)."""
        return t.call(lambda c: c.request_help(to, message, priority=priority, resource=resource))

    @server.tool()
    async def help_requests(open_only: bool = True, limit: int = LIST_LIMIT, wait: float = 0) -> Json:
        """Help requests, open ones first, by priority (at most `limit`). `wait` (seconds) returns as
        soon as there is news for me: an open request to me or to anyone, or a change to one of mine."""

        def work(c: Coordinator, stop: threading.Event) -> Json:
            from gitcoord import waiting

            found = (
                waiting.help_requests(c, wait, open_only=open_only, stop=stop)
                if wait
                else c.help_requests(open_only=open_only)
            )
            return _page("help_requests", found, limit)

        return await t.call_cancellable(work, _nothing_to_undo)

    @server.tool()
    def ack_help(help_id: str) -> Json:
        """Say you are on a help request (open -> acknowledged)."""
        return t.call(lambda c: c.ack_help(help_id))

    @server.tool()
    def resolve_help(help_id: str, note: str) -> Json:
        """Close a help request with what was done."""
        return t.call(lambda c: c.resolve_help(help_id, note))

    @server.tool()
    def send_message(to: str, body: str, reply_to: str = "") -> Json:
        """Leave a message for an agent (or `any`)."""
        return t.call(lambda c: c.send(to, body, reply_to=reply_to))

    @server.tool()
    async def inbox(
        all: bool = False, mark_read: bool = False, limit: int = LIST_LIMIT, wait: float = 0
    ) -> Json:
        """My unread messages (or `all`), at most `limit`; `mark_read` marks the unread ones shown read.
        `wait` (seconds) returns as soon as an unread message is there (cancelling stops the wait)."""

        def work(c: Coordinator, stop: threading.Event) -> Json:
            from gitcoord import waiting

            found = waiting.inbox(c, wait, all=all, stop=stop) if wait else c.inbox(all=all)
            shown = _page("messages", found, limit)
            unread = [m.id for m in shown["messages"] if c.agent not in m.read_by]
            if mark_read and unread and not stop.is_set():  # a caller that gave up has not read them
                c.mark_read(unread)
            return shown

        return await t.call_cancellable(work, _nothing_to_undo)


def _nothing_to_undo(c: Coordinator, result: object) -> None:
    """A read given up on leaves nothing to take back."""


def _task_tools(server: MCPServer, t: Tools) -> None:
    @server.tool()
    async def task_next(wait: float = 0) -> Json:
        """Take the most urgent ready task and claim its resources, atomically; `wait` keeps trying
        up to that many seconds (cancelling the request stops it)."""
        return await t.call_cancellable(
            lambda c, stop: c.next_task(wait=wait, stop=stop), Coordinator.return_task
        )

    @server.tool()
    def task_done(task_id: str, note: str = "") -> Json:
        """Finish a task of mine; releases the claims it took."""
        return t.call(lambda c: c.done_task(task_id, note=note))

    @server.tool()
    def task_block(task_id: str, reason: str) -> Json:
        """Mark a task blocked (releases its claims) with the reason."""
        return t.call(lambda c: c.block_task(task_id, reason=reason))

    @server.tool()
    def task_unblock(task_id: str) -> Json:
        """Put a blocked task back in the queue."""
        return t.call(lambda c: c.unblock_task(task_id))

    @server.tool()
    def tasks(mine: bool = False, ready: bool = False, limit: int = LIST_LIMIT) -> Json:
        """Tasks, in progress first, by priority (at most `limit`)."""
        return t.call(lambda c: _page("tasks", c.tasks(mine=mine, ready=ready), limit))

    @server.tool()
    def task_add(
        title: str,
        resources: list[str] | None = None,
        assign: str = "",
        priority: Priority = "normal",
        description: str = "",
    ) -> Json:
        """Queue a task (optionally assigned, with the resources it needs)."""
        return t.call(
            lambda c: c.add_task(
                title, resources=resources or [], assign=assign, priority=priority, description=description
            )
        )


def _record_tools(server: MCPServer, t: Tools) -> None:
    @server.tool()
    def log_error(
        type: ErrorType, message: str, severity: Severity, resource: str = "", trace: str = ""
    ) -> Json:
        """Record an error you met, for the others and the human; returns it (E-N)."""
        return t.call(lambda c: c.log_error(type, message, severity=severity, resource=resource, trace=trace))

    @server.tool()
    def errors(open_only: bool = True, limit: int = LIST_LIMIT) -> Json:
        """Logged errors, most severe first (at most `limit`)."""
        return t.call(lambda c: _page("errors", c.errors(open_only=open_only), limit))

    @server.tool()
    def resolve_error(error_id: str, note: str) -> Json:
        """Mark an error resolved with what fixed it."""
        return t.call(lambda c: c.resolve_error(error_id, note))

    @server.tool()
    def log_decision(
        category: str, title: str, rationale: str, impact: Impact, alternatives: list[str] | None = None
    ) -> Json:
        """Propose a technical decision for a human to approve; returns it (D-N)."""
        return t.call(
            lambda c: c.log_decision(
                category, title, rationale, impact=impact, alternatives=alternatives or ()
            )
        )

    @server.tool()
    def decisions(status: DecisionStatus | None = None, limit: int = LIST_LIMIT) -> Json:
        """Decisions (optionally of one status), at most `limit`, each with its review's proof."""

        def listed(c: Coordinator) -> Json:
            found = c.decisions(status=status)
            proof = c.review_status(found)
            return _page("decisions", [_plain(d) | proof[d.id] for d in found], limit)

        return t.call(listed)

    @server.tool()
    def implement_decision(decision_id: str) -> Json:
        """Mark an approved decision implemented."""
        return t.call(lambda c: c.implement_decision(decision_id))


def serve(repo: Path, agent: str | None) -> None:
    """Run the server on stdin/stdout until the client goes away."""
    from gitcoord.errors import InvalidInput

    try:
        import mcp  # noqa: F401 - only to give a clear message when it is missing
    except ImportError as exc:
        raise InvalidInput("the MCP server needs the `mcp` package.", hint="pip install 'mcp>=2'") from exc
    # Fail early (exit 2) on a bad identity or a directory that is not a repository.
    Coordinator(repo, agent=agent).close()
    tools = Tools(repo, agent)
    try:
        build_server(repo, agent, tools).run("stdio")
    finally:
        tools.close()  # the process ends with `os._exit`: no mirror move is left behind
