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

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from gitcoord.coordinator import Coordinator
    from gitcoord.store import Txn

WORKFLOW_PATH = ".github/workflows/gitcoord-notion.yml"
CONCURRENCY_GROUP = "gitcoord-notion-sync"
# The repository secret holding the Notion bridge's private signing key (see the workflow's header).
BRIDGE_KEY_SECRET = "GITCOORD_BRIDGE_SSH_KEY"


def render_workflow(*, branch: str = "coord", install: str = "gitcoord", python: str = "3.12") -> str:
    """The workflow text. `install` is what `pip install` gets (a name, a path or a git URL)."""
    # Quoted scalars throughout: a branch like `on` or `yes` must not turn into a YAML boolean.
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
    branches: ["{branch}"]
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
        run: python -m pip install "{install}"
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
"""


def write_workflow(top: Path, *, branch: str = "coord", install: str = "gitcoord") -> Path:
    """Write the workflow under `top` (the working tree); the path written."""
    path = top / WORKFLOW_PATH
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_workflow(branch=branch, install=install), encoding="utf-8")
    return path


def put_workflow_on_coord(coord: Coordinator, text: str) -> bool:
    """Commit the workflow on the coord branch (as the agent, else the human); False when already there."""
    name = WORKFLOW_PATH.rpartition("/")[2]

    def work(txn: Txn) -> bool:
        if txn.snap.read(WORKFLOW_PATH) == text.encode():
            return False
        txn.put_workflow(name, text)
        txn.action, txn.what = "ci", WORKFLOW_PATH
        return True

    return coord.write(work, actor=coord.agent or coord.human())
