"""Names and defaults shared by every part of gitcoord, in one place.

Light on purpose (only `re` and `typing`): the commit hooks and `gitcoord claim` import it on
every run, so the word lists below cost them nothing beyond a few tuples.
"""

from __future__ import annotations

import re
from typing import Literal, get_args

# The words records use, each list written once. The Literal is what mypy and pydantic check;
# the tuple (same words, same order) is what CLI choices, Notion selects and checks use.
Priority = Literal["low", "normal", "high", "urgent"]
Severity = Literal["low", "medium", "high", "critical"]
ErrorType = Literal["conflict", "dependency", "code_error", "timeout", "other"]
Impact = Literal["low", "medium", "high"]
TaskStatus = Literal["todo", "in_progress", "done", "blocked"]
HelpStatus = Literal["open", "acknowledged", "resolved"]
ErrorStatus = Literal["open", "resolved"]
DecisionStatus = Literal["proposed", "approved", "rejected", "implemented"]
ClaimMode = Literal["exclusive", "shared"]
HookMode = Literal["off", "warn", "others", "strict", "auto"]

PRIORITIES: tuple[Priority, ...] = get_args(Priority)
SEVERITIES: tuple[Severity, ...] = get_args(Severity)
ERROR_TYPES: tuple[ErrorType, ...] = get_args(ErrorType)
IMPACTS: tuple[Impact, ...] = get_args(Impact)
TASK_STATUSES: tuple[TaskStatus, ...] = get_args(TaskStatus)
HELP_STATUSES: tuple[HelpStatus, ...] = get_args(HelpStatus)
ERROR_STATUSES: tuple[ErrorStatus, ...] = get_args(ErrorStatus)
DECISION_STATUSES: tuple[DecisionStatus, ...] = get_args(DecisionStatus)
CLAIM_MODES: tuple[ClaimMode, ...] = get_args(ClaimMode)
HOOK_MODES: tuple[HookMode, ...] = get_args(HookMode)

# Sort keys, most pressing first (0). Orders of the same words, never new words.
PRIORITY_ORDER: dict[str, int] = {word: rank for rank, word in enumerate(reversed(PRIORITIES))}
SEVERITY_ORDER: dict[str, int] = {word: rank for rank, word in enumerate(reversed(SEVERITIES))}
IMPACT_ORDER: dict[str, int] = {word: rank for rank, word in enumerate(reversed(IMPACTS))}
HELP_STATUS_ORDER: dict[str, int] = {word: rank for rank, word in enumerate(HELP_STATUSES)}
# What an agent should look at next (start, tasks list): work under way, then open, then stuck.
TASK_STATUS_ORDER: dict[str, int] = {"in_progress": 0, "todo": 1, "blocked": 2, "done": 3}
# The dashboard's task groups: under way and stuck first, so a blocked task is not missed.
TASK_BOARD_ORDER: tuple[TaskStatus, ...] = ("in_progress", "blocked", "todo", "done")

DEFAULT_BRANCH = "coord"
# The layout of the coord store this gitcoord reads and writes (`format` in meta.toml, DESIGN §2).
STORE_FORMAT = 2
DEFAULT_LEASE_MINUTES = 30.0
DEFAULT_GRACE_MINUTES = 5.0
DEFAULT_HOOKS_MODE: HookMode = "others"
DEFAULT_HOOKS_FETCH_TIMEOUT = 3.0

ROOT = ".coord"  # where the records live, on the coord branch and on each agent's own ref
CONFIG_PATH = f"{ROOT}/config.toml"
# gitcoord's local state inside a git dir. Not a name Python could import: in a bare
# repository the git dir is the hooks' working directory, and a `gitcoord/` there would
# shadow the package for `python -m gitcoord.hooks`.
STATE_DIR = "gitcoord-state"
HANDOFF_HEADER = "gitcoord-trailers"  # first line of a pre-commit's hand-off (`precommit.hand_off_trailers`)
IDENTITY_FILE = f"{STATE_DIR}/agent"  # under the worktree's own git dir
CACHE_DIR = f"{STATE_DIR}/cache"  # under the common git dir, shared by worktrees
AGENT_ENV = "GITCOORD_AGENT"
CLOCK_SKEW_ENV = "GITCOORD_CLOCK_SKEW_SECONDS"
# Set by `doctor` for its probe call: the guard answers as it would, but auto mode writes nothing.
GUARD_PROBE_ENV = "GITCOORD_GUARD_PROBE"

# Besides `.coord/`, the coord branch may hold gitcoord's own GitHub workflows: a push-triggered
# workflow runs only if the pushed commit has it (`gitcoord ci github` puts it there).
COORD_WORKFLOWS_DIR = ".github/workflows"
COORD_WORKFLOW_NAME = re.compile(r"gitcoord-[a-z0-9-]{1,40}\.yml")
# How a person (not an agent) is named as an actor: `human:<email>`, `notion:<user>`.
PERSON_PREFIXES = ("human:", "notion:")
# No `..`: a record's key never holds one (snapshot._record_path), nor does a ref git accepts.
AGENT_NAME = re.compile(r"(?!.*\.\.)[a-z0-9][a-z0-9._-]{0,39}")
RECORD_ID = re.compile(r"([CTHMED])-([1-9][0-9]{0,17})")
