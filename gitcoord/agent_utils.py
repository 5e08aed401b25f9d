"""The original design's agent toolkit, by its function names, over `gitcoord.Coordinator`.

Every function takes the agent's name first, as the original `shared/agent_utils.py` did, plus an
optional `repo_path` (default: the current directory), and returns plain data: dicts of JSON
values, or a bool where the original answered yes or no. Example (an agent's session)::

    from gitcoord.agent_utils import *

    context = startup_protocol("alpha")
    if context["help_requests"]:
        ...                                          # help another agent first
    elif context["my_tasks"]:
        task = context["my_tasks"][0]
        if claim_resource("alpha", task["resource"]):
            check_in("alpha", task["resource"], 50, "Working...")
            release_resource("alpha", task["resource"], "Complete")

Refusals the original reported as False (a resource someone else holds, a claim that was lost)
are False here; anything else (bad input, the remote unreachable) raises a `GitcoordError`.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from gitcoord.coordinator import Coordinator
from gitcoord.errors import Refused
from gitcoord.output import to_json
from gitcoord.records import MAX_MESSAGE, MAX_TRACE

__all__ = [
    "check_in",
    "claim_resource",
    "log_decision",
    "log_error",
    "release_resource",
    "request_help",
    "startup_protocol",
    "write_daily_summary",
]

PathLike = str | os.PathLike[str]
_METRIC_ITEM = re.compile(r"\s*([A-Za-z0-9][A-Za-z0-9_.-]{0,59})\s*[=:]\s*(.*?)\s*")


@contextmanager
def _coord(agent: str, repo_path: PathLike) -> Iterator[Coordinator]:
    with Coordinator(repo_path, agent=agent) as coord:
        yield coord


def _plain(value: Any) -> dict[str, Any]:
    """JSON values only (timestamps as `...Z` text), as the original's dicts were."""
    data: dict[str, Any] = json.loads(to_json(value))
    return data


def startup_protocol(agent: str, *, repo_path: PathLike = ".") -> dict[str, Any]:
    """Start a session; returns messages for me, active claims, help requests, my tasks, ...

    Keys: agent, session_id, messages, active_claims, help_requests, my_tasks, decisions, errors,
    stale_agents (and `omitted`, counts of what was left out to keep it short). Each task also
    has 'resource': its first resource, or '' when it names none.
    """
    with _coord(agent, repo_path) as coord:
        context = _plain(coord.start())
    for task in context["my_tasks"]:
        task["resource"] = (task.get("resources") or [""])[0]
    return context


def claim_resource(
    agent: str, resource: str, estimated_minutes: float = 30, *, repo_path: PathLike = "."
) -> bool:
    """Claim `resource` for `estimated_minutes`; False when another agent holds it."""
    try:
        with _coord(agent, repo_path) as coord:
            coord.claim([resource], minutes=estimated_minutes)
    except Refused:
        return False
    return True


def check_in(
    agent: str,
    resource: str | None,
    progress_percent: int | None = None,
    message: str = "",
    *,
    repo_path: PathLike = ".",
) -> bool:
    """Renew my claim on `resource` (None: all my claims) and record progress.

    False means the claim is no longer mine (released, or taken over after its lease died):
    stop editing that resource.
    """
    try:
        with _coord(agent, repo_path) as coord:
            result = coord.check_in(
                [resource] if resource else [], progress=progress_percent, message=message
            )
    except Refused:
        return False
    return not result["lost"]


def release_resource(agent: str, resource: str, message: str = "", *, repo_path: PathLike = ".") -> bool:
    """Release my claim on `resource`; False when I held none."""
    try:
        with _coord(agent, repo_path) as coord:
            coord.release([resource], message=message)
    except Refused:
        return False
    return True


def request_help(
    from_agent: str, to_agent: str, message: str, priority: str = "normal", *, repo_path: PathLike = "."
) -> dict[str, Any]:
    """Ask `to_agent` (or 'any') for help; returns the help request (its 'id' is H-N)."""
    with _coord(from_agent, repo_path) as coord:
        return _plain(coord.request_help(to_agent, message, priority=priority))


def log_error(
    agent: str,
    error_type: str,
    message: str,
    severity: str = "medium",
    stack_trace: str | None = None,
    resource: str | None = None,
    *,
    repo_path: PathLike = ".",
) -> dict[str, Any]:
    """Record an error; returns it (its 'id' is E-N).

    Called from `except` blocks, so an overlong message or trace is cut (the trace keeps its
    end, where the error is) rather than refused.
    """
    if len(message) > MAX_MESSAGE:
        message = message[: MAX_MESSAGE - 3] + "..."
    trace = stack_trace or ""
    if len(trace.encode()) > MAX_TRACE:
        trace = "...\n" + trace.encode()[-(MAX_TRACE - 8) :].decode(errors="ignore")
    with _coord(agent, repo_path) as coord:
        record = coord.log_error(error_type, message, severity=severity, resource=resource or "", trace=trace)
        return _plain(record)


def log_decision(
    agent: str,
    category: str,
    title: str,
    rationale: str,
    impact: str = "medium",
    alternatives: Sequence[str] | None = None,
    *,
    repo_path: PathLike = ".",
) -> dict[str, Any]:
    """Propose a decision for a human to approve; returns it (its 'id' is D-N)."""
    with _coord(agent, repo_path) as coord:
        record = coord.log_decision(
            category, title, rationale, impact=impact, alternatives=alternatives or ()
        )
        return _plain(record)


def _metrics(metrics: str | dict[str, Any]) -> dict[str, str]:
    """'tests=42, modules: 3' as {'tests': '42', 'modules': '3'}; free text as {'notes': text}."""
    if isinstance(metrics, dict):
        return {str(k): str(v) for k, v in metrics.items()}
    items = [item for item in re.split(r"[,;\n]", metrics) if item.strip()]
    matches = [_METRIC_ITEM.fullmatch(item) for item in items]
    if items and all(matches):
        return {m.group(1): m.group(2) for m in matches if m}
    return {"notes": metrics[:500]} if metrics.strip() else {}


def write_daily_summary(
    agent: str,
    day_number: int | None,
    completed: str = "",
    next_tasks: str = "",
    messages: str = "",
    blockers: str = "",
    metrics: str | dict[str, Any] = "",
    *,
    repo_path: PathLike = ".",
) -> dict[str, Any]:
    """Write today's summary (one per agent per day: a second call replaces it); returns it."""
    with _coord(agent, repo_path) as coord:
        record = coord.daily_summary(
            completed=completed,
            next=next_tasks,
            blockers=blockers,
            messages=messages,
            metrics=_metrics(metrics),
            day_number=day_number,
        )
        return _plain(record)
