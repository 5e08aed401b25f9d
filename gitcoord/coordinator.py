"""`Coordinator`: every gitcoord operation as a method (the Python API).

The CLI, the MCP server, the hooks, the Notion sync and the demo all call
this class, never the CLI. Example::

    from gitcoord import Coordinator

    coord = Coordinator("path/to/repo", agent="alpha")
    coord.claim(["src/api.py"], minutes=30, message="adding the endpoint")
    coord.check_in(progress=50, message="tests written")
    coord.release(["src/api.py"], message="merged")
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar, cast

from gitcoord import conflicts
from gitcoord.claiming import ClaimOps, annotate_lost, claim_view, live_claims, report_lost
from gitcoord.config import Config, load_config, write_default_config
from gitcoord.constants import AGENT_ENV, AGENT_NAME, CONFIG_PATH
from gitcoord.context import open_items, stale_agents, startup_context
from gitcoord.errors import GitcoordError, InvalidInput, Refused, Unavailable
from gitcoord.help import HelpOps
from gitcoord.host import Host, claims_of, heartbeat, track_holdings
from gitcoord.journal import JournalOps
from gitcoord.messages import MessageOps
from gitcoord.records import Agent
from gitcoord.results import (
    AgentView,
    ComingConflict,
    ConflictRow,
    HooksReport,
    InitResult,
    LogEntry,
    LostClaim,
    StartContext,
    StatusReport,
)
from gitcoord.signing import Authority, ReviewCheck
from gitcoord.store import Outcome, Snapshot, Txn
from gitcoord.tasks import TaskOps
from gitcoord.tool_writes import ToolWriteOps
from gitcoord.validate import check_text, quoted, require_id
from gitcoord.workspace import HEAD_CONFIG, Workspace, check_agent_name

T = TypeVar("T")


class Coordinator(ClaimOps, HelpOps, MessageOps, TaskOps, JournalOps, ToolWriteOps):
    """The coordination operations for one repository and (optionally) one agent.

    The operations live in rooms by area (`gitcoord.claiming`, `help`, `messages`,
    `tasks`, `journal`); this class holds the repository, the identity, the
    transaction plumbing they share (`gitcoord.host.Host`), `init`, `start` and `status`.
    """

    def __init__(
        self,
        repo_path: str | os.PathLike[str] = ".",
        agent: str | None = None,
        *,
        config: Config | None = None,
        workspace: Workspace | None = None,
    ) -> None:
        # `workspace`: one already opened for `repo_path` (the MCP server's, `mcp_reader`).
        self.workspace = workspace if workspace is not None else Workspace.open(Path(repo_path))
        self.git_dir, self.common_dir, self.top = (
            self.workspace.git_dir,
            self.workspace.common_dir,
            self.workspace.top,
        )
        # What the operations need, without the keys only HEAD may set: reading those costs
        # a git process that `claim` and the hooks should not pay. See `config`.
        self._local_config = (
            config
            if config is not None
            else load_config(self.workspace.local_table(), self.workspace.config_label())
        )
        self._config = config
        self.ignorecase = self.workspace.ignorecase if config is None else config.claims.ignorecase
        local = self._local_config
        self.store = self.workspace.open_store(
            branch=local.coord.branch,
            remote=local.coord.remote,
            retry_seconds=local.store.retry_seconds,
            remote_timeout_seconds=local.store.remote_timeout_seconds,
        )
        self.git = self.store.git
        self._agent = check_agent_name(agent) if agent is not None else None  # "" is not "no agent"
        self._agent_resolved = agent is not None
        self._explicit_agent = agent is not None
        self._authority: Authority | None = None

    @property
    def config(self) -> Config:
        """The team's config: this work tree's settings, with `review.reviewers` (and every
        other `workspace.COMMITTED_ONLY` key) as HEAD's config has it. Built on first use."""
        if self._config is None:
            self._config = load_config(self.workspace.trusted_table(), self.workspace.config_label())
        return self._config

    # -- identity and settings ------------------------------------------------------

    @property
    def agent(self) -> str | None:
        """The agent: explicit, GITCOORD_AGENT, this worktree's `start`, git config coord.agent."""
        if not self._agent_resolved:
            self._agent, self._agent_resolved = self.workspace.agent(), True
        return self._agent

    def require_agent(self) -> str:
        if self.agent is None:
            raise InvalidInput(
                "no agent identity.",
                hint="pass --agent NAME, set GITCOORD_AGENT, or run `gitcoord start --agent NAME`.",
            )
        return self.agent

    @property
    def lease(self) -> timedelta:
        return timedelta(minutes=self._local_config.lease.minutes)

    @property
    def grace(self) -> timedelta:
        return timedelta(minutes=self._local_config.lease.grace_minutes)

    def human(self) -> str:
        """Who a human act is recorded as: the machine's git identity."""
        return self.workspace.human()

    # -- authority: signed human acts (gitcoord.signing) ----------------------------------

    @property
    def authority(self) -> Authority:
        """HEAD's `review.allowed_signers` and the signature checks over the coord history."""
        if self._authority is None:
            self._authority = Authority.load(self.top or self.workspace.cwd)
        return self._authority

    def sign_human_act(self) -> bool:
        """Whether a human act is signed: yes when allowed signers are set, and then a
        missing signing key refuses the act before anything is written."""
        if not self.authority.configured:
            return False
        self.authority.require_signing_key(self.workspace.gitconfig)
        return True

    def review_checks(self, snap: Snapshot | None = None) -> dict[str, ReviewCheck] | None:
        """Each reviewed decision's proof from history; None when no allowed signers are set."""
        if not self.authority.configured:
            return None
        snap = snap or self.snapshot()
        return self.authority.review_checks(snap.commit, self._read_blobs)

    def _read_blobs(self, shas: Sequence[str]) -> list[bytes | None]:
        return [found[2] if found else None for found in self.git.read_objects(list(shas))]

    def named_agent(self) -> str | None:
        """The agent named for this process (`--agent`, `Coordinator(agent=...)`, GITCOORD_AGENT),
        as opposed to the identity a worktree or git config remembers."""
        if self._explicit_agent:
            return self.agent
        return self.agent if os.environ.get(AGENT_ENV) else None

    def speaking_for(self) -> str | None:
        """The agent this worktree is bound to (by `start`) when another one was named explicitly
        (`--agent`, `Coordinator(agent=...)`).

        GITCOORD_AGENT is left alone on purpose: harnesses run several agents from one
        checkout by giving each process its own environment, which is the identity
        working as designed, not one agent borrowing another's name for one command.
        """
        if not self._explicit_agent:
            return None
        bound = self.workspace.agent_bound_here()
        return bound if bound and bound != self.agent else None

    def record_position(self, record: Agent) -> None:
        """Put where this work tree stands on the agent's own record (what `gitcoord conflicts` compares)."""
        conflicts.record_position(self, record)

    def coming_conflicts(self, agent: str) -> list[ComingConflict]:
        """The agent's files that would conflict with another branch (see `gitcoord.conflicts`)."""
        return cast("list[ComingConflict]", conflicts.for_agent(self, agent))

    def refuse_speaking_for(self, what: str) -> None:
        """Acting on another agent's claims from a worktree bound to someone else is refused."""
        bound = self.speaking_for()
        if bound is not None:
            raise Refused(
                f"this worktree belongs to {bound}; {what} as {self.agent} from here is refused.",
                hint=f"run it in {self.agent}'s own worktree; a person takes a claim away with "
                "`gitcoord release --force --reason ...` (no agent identity).",
            )

    # -- plumbing shared by the operations -----------------------------------------

    def write(self, work: Callable[[Txn], T], *, actor: str | None = None, sign: bool = False) -> T:
        """Run one transaction as `actor` (the agent by default) and return its value.

        `sign` signs its commit: a human act (see `sign_human_act`)."""
        outcome: Outcome = self.store.transact(actor or self.require_agent(), work, sign=sign)
        return outcome.value  # type: ignore[no-any-return]

    def snapshot(self, *, fetch: bool = False) -> Snapshot:
        return self.store.snapshot(fetch=fetch)

    def close(self) -> None:
        self.git.close()

    def __enter__(self) -> Coordinator:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- init and sessions -------------------------------------------------------------

    def init(self, *, remote: str | None = None, branch: str | None = None) -> InitResult:
        """Create the coord branch (pushing it in remote mode) and a default config file.

        Adopts the store the config names when it exists. Never makes a second store: refused
        (exit 3) when `--branch`/`--remote` contradict an existing config, or when the
        repository (or its remote) already holds a coord store on another branch. Never
        writes a config file over one that is tracked but absent from the work tree.
        """
        if remote is not None:
            self.store.remote = self.workspace.remote(remote)
            self.store.promisor = bool(self.store.remote) and self.workspace.is_promisor(
                self.store.remote or ""
            )
        if branch is not None:
            if not AGENT_NAME.fullmatch(branch):
                raise InvalidInput(f"{quoted(branch)} is not a usable branch name for the coord store.")
            self.store.branch = branch
        self._check_init_agrees_with_config(remote, branch)
        tip = self.store.fetch() if self.store.remote else self.store.local_tip()
        if tip is None:
            self._refuse_a_second_store()
        created = self.store.init()
        wrote_config = False
        if self.top is not None and not self._config_hidden():
            wrote_config = write_default_config(
                self.top,
                branch=self.store.branch,
                remote=remote or "",
                ignorecase=self.workspace.git_setting("core.ignorecase", "false").lower() == "true",
            )
        return {
            "created": created,
            "branch": self.store.branch,
            "remote": self.store.remote,
            "config_written": wrote_config,
        }

    def _check_init_agrees_with_config(self, remote: str | None, branch: str | None) -> None:
        """An existing config (work tree or HEAD) decides the branch and remote: no second store."""
        if not self.workspace.source:
            return
        where = f"the team's config ({self.workspace.source})"
        configured = self._local_config.coord
        if branch is not None and branch != configured.branch:
            raise Refused(
                f"{where} names the coord branch {configured.branch!r}; `init --branch {branch}` "
                "would make a second coord store beside it.",
                hint=f"run `gitcoord init` without --branch, or change coord.branch in {CONFIG_PATH} "
                "and commit it first.",
            )
        if remote is not None and self.store.remote != self.workspace.remote(configured.remote):
            raise Refused(
                f"{where} uses the remote {self.workspace.remote(configured.remote) or '(none)'!r}; "
                f"`init --remote {remote}` would make a second coord store there.",
                hint=f"run `gitcoord init` without --remote, or change coord.remote in {CONFIG_PATH} "
                "and commit it first.",
            )

    def _refuse_a_second_store(self) -> None:
        """Refuse to create a store while another branch here or on the remote already is one."""
        store, remote = self.store, self.store.remote
        if remote:
            self._fetch_unseen_heads(remote)
        prefixes = ["refs/heads/"] + ([f"refs/remotes/{remote}/"] if remote else [])
        res = self.git.run("for-each-ref", "--format=%(refname)", *prefixes)
        for ref in res.stdout.decode(errors="replace").split():
            prefix = next(p for p in prefixes if ref.startswith(p))
            name = ref[len(prefix) :]
            if name in (store.branch, "HEAD"):
                continue
            found = self.git.read_object(f"{ref}:.coord/meta.toml")
            if found is None or found[1] != "blob":
                continue
            holder = f"the remote {remote!r}" if prefix.startswith("refs/remotes/") else "this repository"
            raise Refused(
                f"{holder} already holds a coord store on branch {name!r}: init would create a second "
                f"one on {store.branch!r}, and agents on the two would not see each other's claims.",
                hint=f'set coord.branch = "{name}" in {CONFIG_PATH} and commit it '
                f"(or run `gitcoord init --branch {name}`).",
            )

    def _fetch_unseen_heads(self, remote: str) -> None:
        """Bring the remote's branches this clone has not seen into their remote-tracking refs.

        A `--single-branch` or `--depth` clone, or one made before a teammate's `init`, has no
        copy of a store's branch: what the remote holds is asked of the remote (init only).
        """
        listed = self.git.run(
            "ls-remote",
            "--heads",
            remote,
            timeout=self.store.remote_timeout,
            env={"GIT_TERMINAL_PROMPT": "0"},
        )
        if listed.returncode != 0:
            raise Unavailable(
                f"cannot list the branches of the remote {remote!r}: "
                f"{listed.stderr.strip() or 'git ls-remote failed'}",
                hint="check the remote and the network, then run `gitcoord init` again; nothing was written.",
            )
        unseen = []
        for line in listed.stdout.decode(errors="replace").splitlines():
            ref = line.partition("\t")[2]
            name = ref.removeprefix("refs/heads/")
            if name != self.store.branch and self.git.read_object(f"refs/remotes/{remote}/{name}") is None:
                unseen.append(f"+{ref}:refs/remotes/{remote}/{name}")
        if unseen:
            fetched = self.git.run(
                "fetch",
                "--no-tags",
                "--no-write-fetch-head",
                "--quiet",
                remote,
                *unseen,
                timeout=self.store.remote_timeout,
                env={"GIT_TERMINAL_PROMPT": "0"},
            )
            if fetched.returncode != 0:
                raise Unavailable(
                    f"cannot fetch the branches of the remote {remote!r}: {fetched.stderr.strip()}",
                    hint="check the remote and the network, then run `gitcoord init` again; "
                    "nothing was written.",
                )

    def _config_hidden(self) -> bool:
        """True when the config file is tracked but not in the work tree (sparse checkout,
        deleted without a commit): writing one there would replace the team's."""
        if self.workspace.source == HEAD_CONFIG:
            return True
        if self.workspace.source == CONFIG_PATH:
            return False
        return bool(self.git.run("ls-files", "--cached", "--", CONFIG_PATH).stdout.strip())

    def start(self, role: str = "") -> StartContext:
        """Begin a session: record it, remember the identity here, return the context."""
        agent = self.require_agent()
        check_text(role, "role", 200)
        session_id = f"{agent}-{secrets.token_hex(4)}"
        # Started from a worktree bound to another agent: its lost claims are still told, but
        # kept for its own next session, which is where someone must stop editing them.
        elsewhere = self.speaking_for() is not None

        def work(txn: Txn) -> tuple[Agent, list[LostClaim]]:
            old = txn.snap.record(Agent, agent)
            record = old or Agent(name=agent)
            record.previous_session_at = old.started_at if old else None
            record.session_id = session_id
            record.started_at = txn.now
            record.role = role or record.role
            mine = claims_of(txn, agent)
            heartbeat(self, record, txn.now, mine)
            self.record_position(record)
            # Claims taken since the agent's last write are news for the new session:
            # told here, once, rather than by the session's first check-in.
            track_holdings(txn, record, mine)
            lost = report_lost(self, txn, record, keep=elsewhere)
            txn.action, txn.what = "start", f"session {session_id}"
            txn.put(record)
            return record, lost

        record, lost = self.write(work)
        if lost:
            annotate_lost(self, self.store.local_tip(), lost)
        self.workspace.remember_agent(agent)
        self._prepare_launcher()
        context = self.context(record, lost)
        context["conflicts"] = self.coming_conflicts(agent)
        context["hooks"] = self._guard_clone()
        return context

    def context(self, me: Agent, lost: Sequence[LostClaim] = ()) -> StartContext:
        """The startup context of an agent (see `gitcoord.context`), without `hooks`.

        `lost` are the agent's claims someone else removed since its last write.
        """
        snap = self.snapshot()
        now = self.store.clock()
        return startup_context(self, snap, now, me, lost, stale_agents(self.agents(snap, now), me.name))

    def _guard_clone(self) -> HooksReport | None:
        """Every clone an agent starts in is guarded: its hooks, installed or repaired (§6)."""
        from gitcoord.hooks.install import ensure_clone_hooks

        found = ensure_clone_hooks(
            self.top, self.common_dir, self.workspace.git_setting("core.hookspath"), self.config.hooks.mode
        )
        return cast("HooksReport | None", found)

    def _prepare_launcher(self) -> None:
        """This clone's interpreter for the committed launcher `.coord/gitcoord` (and a refresh of
        an outdated one): what makes the team's editor guard and tracked hooks run here."""
        from gitcoord.launcher import prepare_clone

        prepare_clone(self.common_dir, self.top)

    # -- overview ----------------------------------------------------------------------

    def agents(self, snap: Snapshot, now: datetime) -> list[AgentView]:
        """Every agent record, with its status: stale (missed its check-in), active, or idle."""
        out = []
        for record in snap.records(Agent):
            due = record.next_check_in
            status = (
                "stale"
                if due is not None and now > due + self.grace
                else "active"
                if record.resource
                else "idle"
            )
            # The record's fields come from pydantic as JSON values, `status` is added: one cast.
            out.append(cast("AgentView", {**record.model_dump(mode="json"), "status": status}))
        return out

    def status(self, *, fetch: bool = False) -> StatusReport:
        """Everything at a glance: agents, claims, and the open items (DESIGN §5)."""
        snap = self.snapshot(fetch=fetch)
        now = self.store.clock()
        items = open_items(self, snap)
        return {
            "rev": snap.rev if snap.exists else None,
            "now": now,
            "agents": self.agents(snap, now),
            "claims": [claim_view(self, c, now, self.agent) for c in live_claims(self, snap, now)],
            "help_requests": items["help_requests"],
            "errors": items["errors"],
            "decisions": items["decisions"],
            "tasks": items["tasks"],
            "conflicts": cast("list[ConflictRow]", conflicts.for_status(self)),
            "skipped": snap.skipped,
        }

    def log(
        self,
        *,
        since: str | None = None,
        agent: str | None = None,
        limit: int | None = None,
        fetch: bool = True,
    ) -> list[LogEntry]:
        """The audit trail: one entry per coord commit, newest first.

        In remote mode it is the remote's trail (fetched first) unless `fetch` is
        False: after a write that may or may not have landed, it shows which. With
        allowed signers set, each human act has `signed_by` (the principal of a good
        signature by a listed key, else None) and `signature` (said for people)."""
        entries: list[dict[str, Any]] = []
        for entry in self.store.history(since=since, fetch=fetch):
            if agent and entry.get("agent") != agent:
                continue
            entries.append(entry)
            if limit and len(entries) >= limit:
                break
        if self.authority.configured:
            self.authority.act_signatures(entries)
        return cast("list[LogEntry]", entries)  # the commit fields and the Coord-* trailers, as read


if TYPE_CHECKING:

    def _is_a_host(coord: Coordinator) -> Host:
        """Where mypy proves a Coordinator is the `Host` every operation room runs on."""
        return coord


__all__ = ["Coordinator", "GitcoordError", "check_agent_name", "check_text", "require_id"]
