"""Names and defaults shared by every part of gitcoord, in one place.

Light on purpose (only `re`): the commit hooks import it on every commit.
"""

from __future__ import annotations

import re

DEFAULT_BRANCH = "coord"
DEFAULT_LEASE_MINUTES = 30.0
DEFAULT_GRACE_MINUTES = 5.0
HOOK_MODES = ("off", "warn", "others", "strict", "auto")
DEFAULT_HOOKS_MODE = "others"
DEFAULT_HOOKS_FETCH_TIMEOUT = 3.0

CONFIG_PATH = ".coord/config.toml"
# gitcoord's local state inside a git dir. Not a name Python could import: in a bare
# repository the git dir is the hooks' working directory, and a `gitcoord/` there would
# shadow the package for `python -m gitcoord.hooks`.
STATE_DIR = "gitcoord-state"
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
AGENT_NAME = re.compile(r"[a-z0-9][a-z0-9._-]{0,39}")
RECORD_ID = re.compile(r"([CTHMED])-([1-9][0-9]{0,17})")
