"""`.coord/config.toml`, committed on the code branch: every key has a default.

The file is committed by humans and reviewed like code; gitcoord works with
no file at all. `Workspace` finds the table (the work-tree file, else HEAD's);
this module validates it. Unknown keys are refused (exit 2) so a typo never
silently falls back to a default.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import tomli_w
from pydantic import BaseModel, ConfigDict, Field, StrictBool, ValidationError

from gitcoord.constants import CONFIG_PATH as CONFIG_PATH
from gitcoord.constants import (
    DEFAULT_BRANCH,
    DEFAULT_GRACE_MINUTES,
    DEFAULT_HOOKS_FETCH_TIMEOUT,
    DEFAULT_HOOKS_MODE,
    DEFAULT_LEASE_MINUTES,
    HookMode,
)
from gitcoord.errors import InvalidInput


class _Section(BaseModel):
    # Built on first use: `Config` builds its sections into its own validator, so
    # building each section class at import would be paid twice on every command.
    model_config = ConfigDict(extra="forbid", defer_build=True)


class CoordSection(_Section):
    branch: str = DEFAULT_BRANCH
    remote: str = Field(default="", description="remote name; empty means origin when it exists")


class LeaseSection(_Section):
    minutes: float = Field(default=DEFAULT_LEASE_MINUTES, gt=0, le=7 * 24 * 60)
    grace_minutes: float = Field(default=DEFAULT_GRACE_MINUTES, ge=0, le=24 * 60)


class StoreSection(_Section):
    retry_seconds: float = Field(default=30, gt=0, le=3600)
    remote_timeout_seconds: float = Field(default=20, gt=0, le=600)


class HooksSection(_Section):
    mode: HookMode = DEFAULT_HOOKS_MODE
    fetch: bool = False
    fetch_timeout_seconds: float = Field(default=DEFAULT_HOOKS_FETCH_TIMEOUT, gt=0, le=60)


class ClaimsSection(_Section):
    # A team setting, not each clone's core.ignorecase: every machine must decide alike.
    ignorecase: StrictBool = False
    # Auto claims (hooks.mode = "auto") are released when their work lands, unless this is false.
    release_on_merge: StrictBool = True


class ReviewSection(_Section):
    # Read from HEAD's config only (workspace.COMMITTED_ONLY): never from uncommitted edits.
    reviewers: list[str] = Field(default_factory=list)
    # Read from HEAD only (gitcoord.signing): a file in git's gpg.ssh.allowedSignersFile format.
    allowed_signers: str = ""


class NotionSection(_Section):
    base_url: str = ""
    parent_page: str = ""
    databases: dict[str, str] = Field(default_factory=dict)
    data_sources: dict[str, str] = Field(default_factory=dict)


class Config(_Section):
    coord: CoordSection = Field(default_factory=CoordSection)
    lease: LeaseSection = Field(default_factory=LeaseSection)
    store: StoreSection = Field(default_factory=StoreSection)
    hooks: HooksSection = Field(default_factory=HooksSection)
    claims: ClaimsSection = Field(default_factory=ClaimsSection)
    review: ReviewSection = Field(default_factory=ReviewSection)
    notion: NotionSection = Field(default_factory=NotionSection)


def load_config(table: dict[str, Any], source: Path | str = CONFIG_PATH) -> Config:
    """Validate a parsed config table (see `Workspace.table`); exit 2 naming every bad key."""
    try:
        return Config.model_validate(table)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise InvalidInput(f"{source} has invalid settings: {problems}") from exc


def write_default_config(
    top: Path, *, branch: str = DEFAULT_BRANCH, remote: str = "", ignorecase: bool = False
) -> bool:
    """Write a commented config file if there is none in the work tree. True if written.

    The caller makes sure no tracked file is hidden from the work tree (sparse checkout).
    """
    path = top / CONFIG_PATH
    from gitcoord.safepath import check_inside

    check_inside(top, path)  # a committed link must not make init write outside the repository
    if path.exists():
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    body = tomli_w.dumps(
        {
            "coord": {"branch": branch, "remote": remote},
            "lease": {"minutes": DEFAULT_LEASE_MINUTES, "grace_minutes": DEFAULT_GRACE_MINUTES},
            "hooks": {"mode": DEFAULT_HOOKS_MODE, "fetch": False},
            "claims": {"ignorecase": ignorecase},
            "review": {"reviewers": []},
        }
    )
    header = (
        "# gitcoord configuration. Commit this file; every key has a default.\n"
        "# coord.remote: empty means `origin` when it exists, else local mode.\n"
        "# hooks.mode: off | warn | others | strict | auto (claims follow the edits and commits).\n"
        "# claims.ignorecase: compare paths ignoring case, on every machine alike (proposed\n"
        "#   from the creator's core.ignorecase; true when any teammate's file system ignores case).\n"
        "# review.reviewers: git emails allowed to approve decisions (empty: any human);\n"
        "#   read from the committed file only.\n\n"
    )
    path.write_text(header + body, encoding="utf-8")
    return True
