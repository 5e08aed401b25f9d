"""`gitcoord ci github`: the GitHub Actions workflow that publishes the coord state to Notion.

The workflow runs `gitcoord notion sync` on every push to the coord branch, every
15 minutes (so approvals made in Notion come back and stale agents show up) and
by hand; one run at a time; with permission to push the approvals back.

GitHub reads a push-triggered workflow from the pushed commit, and scheduled and
manual runs from the default branch. So the file goes in two places: the working
tree (for the user to commit on the default branch) and the coord branch itself,
next to `.coord/`, where every later coord write carries it along.
"""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path
from typing import TYPE_CHECKING

from gitcoord.constants import COORD_WORKFLOWS_DIR
from gitcoord.errors import InvalidInput
from gitcoord.validate import check_text

if TYPE_CHECKING:
    from gitcoord.coordinator import Coordinator

WORKFLOW_NAME = "gitcoord-notion.yml"
WORKFLOW_PATH = f"{COORD_WORKFLOWS_DIR}/{WORKFLOW_NAME}"
CONCURRENCY_GROUP = "gitcoord-notion-sync"
MAX_INSTALL = 1000


def check_install(install: str) -> str:
    """The pip install spec, refused (exit 2) when it could change the workflow around it.

    It lands inside a YAML scalar that GitHub evaluates (`${{ }}`) and a shell then runs:
    a line break would start a new step, an expression would be expanded by GitHub.
    """
    what = "install spec"
    if not install.strip():
        raise InvalidInput(
            f"the {what} is empty.", hint="pass what pip installs: a name, a path or a git URL."
        )
    check_text(install, what, MAX_INSTALL)
    if any(c in install for c in "\n\t\u2028\u2029"):
        raise InvalidInput(f"the {what} contains a line break or a tab; it must be one line.")
    if "${{" in install:
        raise InvalidInput(
            f"the {what} contains a GitHub expression (${{{{ ... }}}}), which the workflow would expand."
        )
    return install


def _yaml_string(text: str) -> str:
    """`text` as a YAML double-quoted scalar (a JSON string is one)."""
    return json.dumps(text, ensure_ascii=False)


# The repository secret holding the Notion bridge's private signing key (see the workflow's header).
BRIDGE_KEY_SECRET = "GITCOORD_BRIDGE_SSH_KEY"


def render_workflow(
    *, branch: str = "coord", install: str = "gitcoord", python: str = "3.12", default_branch: str = "main"
) -> str:
    """The workflow text. `install` is what `pip install` gets (a name, a path or a git URL).

    A push to `default_branch` runs `gitcoord release --merged` instead of the sync: the
    claims whose work landed there are released (see `gitcoord.merged`).

    Raises `InvalidInput` for an install spec that could change the workflow (see `check_install`).
    """
    # Quoted scalars throughout: a branch like `on` or `yes` must not turn into a YAML boolean.
    install_command = _yaml_string(f"python -m pip install {shlex.quote(check_install(install))}")
    return f"""\
# Written by `gitcoord ci github`. Publishes the coord branch to Notion and brings
# reviews made in Notion back as coord commits. Needs the repository secret NOTION_TOKEN.
# Signed reviews (review.allowed_signers in .coord/config.toml): the job signs the reviews it
# brings back with its own key, listed under a principal naming the bridge. Once:
#   ssh-keygen -t ed25519 -N '' -C notion-bridge -f bridge_key
#   echo "notion-bridge $(cat bridge_key.pub)" >> .coord/allowed_signers   (commit it, reviewed)
#   gh secret set {BRIDGE_KEY_SECRET} < bridge_key      (then delete bridge_key)
# Without that secret the job signs nothing, and with allowed signers set reviews made in
# Notion are refused until it is set.
# Keep it on the default branch (schedule, manual runs) and on the '{branch}' branch (pushes:
# GitHub reads a push-triggered workflow from the pushed commit); `gitcoord ci github` does both.
name: "gitcoord notion sync"

"on":
  push:
    branches: [{_yaml_string(branch)}, {_yaml_string(default_branch)}]
  schedule:
    - cron: "*/15 * * * *"
  workflow_dispatch: {{}}

concurrency:
  group: "{CONCURRENCY_GROUP}"
  cancel-in-progress: false

permissions:
  contents: write

jobs:
  sync:
    if: github.event_name != 'push' || github.ref_name != github.event.repository.default_branch
    runs-on: ubuntu-latest
    timeout-minutes: 20
    env:
      # Whether the key is there, not the key: no other step (pip install) sees the secret.
      HAS_BRIDGE_KEY: "${{{{ secrets.{BRIDGE_KEY_SECRET} != '' }}}}"
    steps:
      - uses: actions/checkout@v4
        with:
          ref: "${{{{ github.event.repository.default_branch }}}}"
          fetch-depth: 1
      - uses: actions/setup-python@v5
        with:
          python-version: "{python}"
      - name: Install gitcoord
        run: {install_command}
      - name: Identify the sync's commits
        run: |
          git config user.name "gitcoord notion sync"
          git config user.email "gitcoord-notion-sync@users.noreply.github.com"
      - name: Sign as the Notion bridge
        if: env.HAS_BRIDGE_KEY == 'true'
        env:
          BRIDGE_KEY: "${{{{ secrets.{BRIDGE_KEY_SECRET} }}}}"
        run: |
          install -m 600 /dev/null "$RUNNER_TEMP/gitcoord-bridge-key"
          printenv BRIDGE_KEY > "$RUNNER_TEMP/gitcoord-bridge-key"
          git config gpg.format ssh
          git config user.signingkey "$RUNNER_TEMP/gitcoord-bridge-key"
      - name: Sync with Notion
        env:
          NOTION_TOKEN: "${{{{ secrets.NOTION_TOKEN }}}}"
        run: gitcoord notion sync

  release-merged:
    # Claims marked until-merged go once every commit made under them is on the default branch.
    if: github.event_name == 'push' && github.ref_name == github.event.repository.default_branch
    runs-on: ubuntu-latest
    timeout-minutes: 10
    steps:
      - uses: actions/checkout@v4
        with:
          fetch-depth: 0
      - uses: actions/setup-python@v5
        with:
          python-version: "{python}"
      - name: Install gitcoord
        run: {install_command}
      - name: Identify the release's commits
        run: |
          git config user.name "gitcoord release on merge"
          git config user.email "gitcoord-release-on-merge@users.noreply.github.com"
      - name: Release the claims whose work landed
        env:
          DEFAULT_BRANCH: "${{{{ github.event.repository.default_branch }}}}"
        run: gitcoord release --merged "origin/$DEFAULT_BRANCH"
"""


def write_workflow(
    top: Path, *, branch: str = "coord", install: str = "gitcoord", default_branch: str = "main"
) -> Path:
    """Write the workflow under `top` (the working tree); the path written. Never through a
    symbolic link that leaves the repository (exit 2)."""
    from gitcoord.safepath import write_inside

    return write_inside(
        top,
        top / WORKFLOW_PATH,
        render_workflow(branch=branch, install=install, default_branch=default_branch),
    )


def default_branch_name(coord: Coordinator) -> str:
    """The default branch's name for the workflow's push trigger ("main" when none is found)."""
    from gitcoord.conflicts import default_branch_ref

    try:
        ref = default_branch_ref(coord)
    except InvalidInput:
        return "main"
    prefix = f"refs/remotes/{coord.store.remote}/" if coord.store.remote else "refs/heads/"
    name = ref.removeprefix(prefix).removeprefix("refs/heads/")
    # It lands in the workflow's YAML: only a plain branch name, else the usual one.
    return name if re.fullmatch(r"[A-Za-z0-9._/-]{1,200}", name) else "main"
