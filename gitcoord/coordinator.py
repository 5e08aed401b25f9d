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
import threading
import time
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Literal, TypeVar

from gitcoord import leases
from gitcoord.claims import Resource, parse_resource
from gitcoord.config import Config, load_config, write_default_config
from gitcoord.conflicts import for_agent as coming_conflicts
from gitcoord.conflicts import for_status as conflicts_for_status
from gitcoord.conflicts import record_position
from gitcoord.constants import AGENT_ENV, AGENT_NAME, CACHE_DIR, CONFIG_PATH, RECORD_ID
from gitcoord.errors import GitcoordError, InvalidInput, Refused, Unavailable
from gitcoord.git import Git
from gitcoord.protocol import ProtocolOps
from gitcoord.records import Agent, Claim
from gitcoord.signing import Authority, ReviewCheck
from gitcoord.store import Outcome, Snapshot, Store, Txn
from gitcoord.validate import check_text, check_wait, quoted, require_id
from gitcoord.workspace import HEAD_CONFIG, Workspace, check_agent_name

T = TypeVar("T")


class Coordinator(ProtocolOps):
    """The coordination operations for one repository and (optionally) one agent."""

    def __init__(self, repo_path: str | os.PathLike[str] = ".", agent: str | None = None, *,
                 config: Config | None = None) -> None:
        self.workspace = Workspace.open(Path(repo_path))
        self.git_dir, self.common_dir, self.top = self.workspace.git_dir, self.workspace.common_dir, self.workspace.top
        # What the operations need, without the keys only HEAD may set: reading those costs
        # a git process that `claim` and the hooks should not pay. See `config`.
        self._local_config = config if config is not None else load_config(
            self.workspace.local_table(), self.workspace.config_label())
        self._config = config
        self.ignorecase = self.workspace.ignorecase if config is None else config.claims.ignorecase
        self.git = Git(self.workspace.cwd, objects_dir=self.common_dir / "objects")
        local = self._local_config
        remote = self.workspace.remote(local.coord.remote)
        self.store = Store(self.git, branch=local.coord.branch, remote=remote,
                           retry_seconds=local.store.retry_seconds,
                           remote_timeout=local.store.remote_timeout_seconds,
                           cache_dir=self.common_dir / CACHE_DIR, common_dir=self.common_dir,
                           promisor=bool(remote) and self.workspace.is_promisor(remote or ""))
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
            raise InvalidInput("no agent identity.",
                               hint="pass --agent NAME, set GITCOORD_AGENT, or run `gitcoord start --agent NAME`.")
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

    def _refuse_speaking_for(self, what: str) -> None:
        """Acting on another agent's claims from a worktree bound to someone else is refused."""
        bound = self.speaking_for()
        if bound is not None:
            raise Refused(f"this worktree belongs to {bound}; {what} as {self.agent} from here is refused.",
                          hint=f"run it in {self.agent}'s own worktree; a person takes a claim away with "
                               "`gitcoord release --force --reason ...` (no agent identity).")

    def _annotate_lost(self, tip: str | None, lost: list[dict[str, str]]) -> None:
        """Tell the holder who removed each lost claim and whether a signature proves it was a person."""
        if not lost or tip is None or not self.authority.configured:
            return
        for item in lost:
            found = self.authority.removal(tip, f".coord/claims/{item['id']}.toml")
            if found:
                item.update({k: found[k] for k in ("removed_by", "action", "signed_by", "verified")})

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

    def init(self, *, remote: str | None = None, branch: str | None = None) -> dict[str, Any]:
        """Create the coord branch (pushing it in remote mode) and a default config file.

        Adopts the store the config names when it exists. Never makes a second store: refused
        (exit 3) when `--branch`/`--remote` contradict an existing config, or when the
        repository (or its remote) already holds a coord store on another branch. Never
        writes a config file over one that is tracked but absent from the work tree.
        """
        if remote is not None:
            self.store.remote = self.workspace.remote(remote)
            self.store.promisor = bool(self.store.remote) and self.workspace.is_promisor(self.store.remote or "")
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
            wrote_config = write_default_config(self.top, branch=self.store.branch, remote=remote or "",
                                                ignorecase=self.workspace.git_setting("core.ignorecase",
                                                                                      "false").lower() == "true")
        return {"created": created, "branch": self.store.branch, "remote": self.store.remote,
                "config_written": wrote_config}

    def _check_init_agrees_with_config(self, remote: str | None, branch: str | None) -> None:
        """An existing config (work tree or HEAD) decides the branch and remote: no second store."""
        if not self.workspace.source:
            return
        where = f"the team's config ({self.workspace.source})"
        configured = self._local_config.coord
        if branch is not None and branch != configured.branch:
            raise Refused(f"{where} names the coord branch {configured.branch!r}; `init --branch {branch}` "
                          "would make a second coord store beside it.",
                          hint=f"run `gitcoord init` without --branch, or change coord.branch in {CONFIG_PATH} "
                               "and commit it first.")
        if remote is not None and self.store.remote != self.workspace.remote(configured.remote):
            raise Refused(f"{where} uses the remote {self.workspace.remote(configured.remote) or '(none)'!r}; "
                          f"`init --remote {remote}` would make a second coord store there.",
                          hint=f"run `gitcoord init` without --remote, or change coord.remote in {CONFIG_PATH} "
                               "and commit it first.")

    def _refuse_a_second_store(self) -> None:
        """Refuse to create a store while another branch here or on the remote already is one."""
        store, remote = self.store, self.store.remote
        if remote:
            self._fetch_unseen_heads(remote)
        prefixes = ["refs/heads/"] + ([f"refs/remotes/{remote}/"] if remote else [])
        res = self.git.run("for-each-ref", "--format=%(refname)", *prefixes)
        for ref in res.stdout.decode(errors="replace").split():
            prefix = next(p for p in prefixes if ref.startswith(p))
            name = ref[len(prefix):]
            if name in (store.branch, "HEAD"):
                continue
            found = self.git.read_object(f"{ref}:.coord/meta.toml")
            if found is None or found[1] != "blob":
                continue
            holder = f"the remote {remote!r}" if prefix.startswith("refs/remotes/") else "this repository"
            raise Refused(f"{holder} already holds a coord store on branch {name!r}: init would create a second "
                          f"one on {store.branch!r}, and agents on the two would not see each other's claims.",
                          hint=f'set coord.branch = "{name}" in {CONFIG_PATH} and commit it '
                               f"(or run `gitcoord init --branch {name}`).")

    def _fetch_unseen_heads(self, remote: str) -> None:
        """Bring the remote's branches this clone has not seen into their remote-tracking refs.

        A `--single-branch` or `--depth` clone, or one made before a teammate's `init`, has no
        copy of a store's branch: what the remote holds is asked of the remote (init only).
        """
        listed = self.git.run("ls-remote", "--heads", remote, timeout=self.store.remote_timeout,
                              env={"GIT_TERMINAL_PROMPT": "0"})
        if listed.returncode != 0:
            raise Unavailable(f"cannot list the branches of the remote {remote!r}: "
                              f"{listed.stderr.strip() or 'git ls-remote failed'}",
                              hint="check the remote and the network, then run `gitcoord init` again; "
                                   "nothing was written.")
        unseen = []
        for line in listed.stdout.decode(errors="replace").splitlines():
            ref = line.partition("\t")[2]
            name = ref.removeprefix("refs/heads/")
            if name != self.store.branch and self.git.read_object(f"refs/remotes/{remote}/{name}") is None:
                unseen.append(f"+{ref}:refs/remotes/{remote}/{name}")
        if unseen:
            fetched = self.git.run("fetch", "--no-tags", "--no-write-fetch-head", "--quiet", remote, *unseen,
                                   timeout=self.store.remote_timeout, env={"GIT_TERMINAL_PROMPT": "0"})
            if fetched.returncode != 0:
                raise Unavailable(f"cannot fetch the branches of the remote {remote!r}: {fetched.stderr.strip()}",
                                  hint="check the remote and the network, then run `gitcoord init` again; "
                                       "nothing was written.")

    def _config_hidden(self) -> bool:
        """True when the config file is tracked but not in the work tree (sparse checkout,
        deleted without a commit): writing one there would replace the team's."""
        if self.workspace.source == HEAD_CONFIG:
            return True
        if self.workspace.source == CONFIG_PATH:
            return False
        return bool(self.git.run("ls-files", "--cached", "--", CONFIG_PATH).stdout.strip())

    def start(self, role: str = "") -> dict[str, Any]:
        """Begin a session: record it, remember the identity here, return the context."""
        agent = self.require_agent()
        check_text(role, "role", 200)
        session_id = f"{agent}-{secrets.token_hex(4)}"
        # Started from a worktree bound to another agent: its lost claims are still told, but
        # kept for its own next session, which is where someone must stop editing them.
        elsewhere = self.speaking_for() is not None

        def work(txn: Txn) -> tuple[Agent, list[dict[str, str]]]:
            old = txn.snap.record(Agent, agent)
            record = old or Agent(name=agent)
            record.previous_session_at = old.started_at if old else None
            record.session_id = session_id
            record.started_at = txn.now
            record.role = role or record.role
            self._heartbeat(record, txn.now)
            record_position(self, record)
            # Claims taken since the agent's last write are news for the new session:
            # told here, once, rather than by the session's first check-in.
            self._track_holdings(txn, record)
            lost = self._report_lost(txn, record, keep=elsewhere)
            txn.action, txn.what = "start", f"session {session_id}"
            txn.put(record)
            return record, lost

        record, lost = self.write(work)
        if lost:
            self._annotate_lost(self.store.local_tip(), lost)
        self.workspace.remember_agent(agent)
        self._prepare_launcher()
        context = self.context(record, lost)
        context["conflicts"] = coming_conflicts(self, agent)
        context["hooks"] = self._guard_clone()
        return context

    def _guard_clone(self) -> dict[str, Any] | None:
        """Every clone an agent starts in is guarded: its hooks, installed or repaired (§6)."""
        from gitcoord.hooks.install import ensure_clone_hooks

        return ensure_clone_hooks(self.top, self.common_dir, self.workspace.git_setting("core.hookspath"),
                                  self.config.hooks.mode)

    def _prepare_launcher(self) -> None:
        """This clone's interpreter for the committed launcher `.coord/gitcoord` (and a refresh of
        an outdated one): what makes the team's editor guard and tracked hooks run here."""
        from gitcoord.launcher import prepare_clone

        prepare_clone(self.common_dir, self.top)

    def _heartbeat(self, record: Agent, now: datetime) -> None:
        record.last_check_in = now
        record.next_check_in = now + self.lease / 2

    def context(self, me: Agent, lost: Sequence[dict[str, str]] = ()) -> dict[str, Any]:
        """The startup context of an agent (extended by the protocol operations).

        `lost` are the agent's claims someone else removed since its last write.
        """
        snap = self.snapshot()
        now = self.store.clock()
        claims = [self.claim_view(c, now, me.name) for c in self.live_claims(snap, now)]
        claims.sort(key=lambda c: (not c["mine"], c["resource"]))
        ctx: dict[str, Any] = {
            "agent": me.name, "session_id": me.session_id, "role": me.role, "next_check_in": me.next_check_in,
            "lost_claims": list(lost),
            "messages": [], "active_claims": claims, "help_requests": [], "my_tasks": [], "decisions": [],
            "errors": [], "stale_agents": [a["name"] for a in self.agents(snap, now)
                                          if a["status"] == "stale" and a["name"] != me.name]}
        if self.config.hooks.mode == "auto":
            ctx["hooks_mode"] = "auto"  # the agent's edits and commits claim by themselves: say so
        self._extend_context(ctx, snap, me, now)
        return ctx

    # -- claims ----------------------------------------------------------------------

    def live_claims(self, snap: Snapshot, now: datetime, *, include_dead: bool = False) -> list[Claim]:
        claims = snap.records(Claim)
        if include_dead:
            return claims
        return [c for c in claims if not leases.is_dead(c, now, self.grace)]

    def claim_view(self, claim: Claim, now: datetime, me: str | None = None) -> dict[str, Any]:
        view = claim.model_dump(mode="json")
        view["state"] = leases.state(claim, now, self.grace)
        view["mine"] = claim.agent == me
        view["seconds_left"] = int((claim.expires_at - now).total_seconds())
        return view

    def claim(self, resources: Sequence[str], *, minutes: float | None = None, shared: bool = False,
              message: str = "", wait: float = 0, stop: threading.Event | None = None,
              until_merged: bool = False) -> list[Claim]:
        """Claim every resource or none (exit 3 with the holders when refused).

        Claiming what you already hold renews it and keeps its token. `until_merged` marks
        the claims to be released when their work lands (`gitcoord.merged`). With
        `wait`, keeps trying (with backoff) until granted or `wait` seconds pass,
        or until `stop` is set (the caller gave up: see `_with_wait`).
        """
        agent = self.require_agent()
        wanted = [parse_resource(r) for r in resources]
        if not wanted:
            raise InvalidInput("name at least one resource to claim.")
        check_text(message, "message", 4000)
        lease = self._lease_for(minutes)
        mode: Literal["exclusive", "shared"] = "shared" if shared else "exclusive"

        def work(txn: Txn) -> list[Claim]:
            granted = self.grant_claims(txn, agent, wanted, mode=mode, lease=lease, message=message,
                                        until_merged=until_merged)
            for held in granted:
                if held.auto:  # claimed on purpose now: no longer what auto mode took
                    held.auto = False
                    txn.put(held)
            txn.action, txn.what = "claim", " ".join(r.text for r in wanted)
            self._touch_agent(txn, agent, resource=wanted[0].text)
            return granted

        return self._with_wait(lambda: self.write(work), wait, stop)

    def grant_claims(self, txn: Txn, agent: str, wanted: Sequence[Resource], *,
                     mode: Literal["exclusive", "shared"] = "exclusive", lease: timedelta | None = None,
                     message: str = "", until_merged: bool = False) -> list[Claim]:
        """Inside a transaction: claim all of `wanted` for `agent` or raise `Refused`.

        Renews what the agent already holds (same id and token, and `until_merged` once set),
        takes over dead claims in the way (recorded in a `Coord-Takeover` trailer).
        """
        lease = lease or self.lease
        mine, takeovers = self._grant_check(txn, agent, list(wanted), mode)
        granted = []
        for res in wanted:
            claim = mine.get(res.text)
            if claim is None:
                cid = txn.new_id("C")
                claim = Claim(id=cid, agent=agent, resource=res.text, mode=mode,
                              token=int(cid.split("-")[1]), created_at=txn.now,
                              last_check_in=txn.now, expires_at=txn.now + lease)
            claim.session_id = self._session(txn, agent)
            claim.mode, claim.last_check_in, claim.expires_at = mode, txn.now, txn.now + lease
            claim.message = message or claim.message
            claim.until_merged = until_merged or claim.until_merged
            txn.put(claim)
            granted.append(claim)
        for dead in takeovers:
            txn.delete(dead)
        if takeovers:
            txn.trailers["Coord-Takeover"] = ", ".join(f"{c.id} ({c.agent})" for c in takeovers)
        return granted

    def _lease_for(self, minutes: float | None) -> timedelta:
        if minutes is None:
            return self.lease
        if not 0 < minutes <= 7 * 24 * 60:
            raise InvalidInput(f"--minutes must be more than 0 and at most a week, not {minutes}.")
        return timedelta(minutes=minutes)

    def _grant_check(self, txn: Txn, agent: str, wanted: list[Resource], mode: str
                     ) -> tuple[dict[str, Claim], list[Claim]]:
        """Validate a claim on the transaction's state: my claims by resource, dead ones to remove."""
        mine: dict[str, Claim] = {}
        conflicts: list[leases.Conflict] = []
        takeovers: list[Claim] = []
        for held in txn.snap.records(Claim):
            if held.agent == agent:
                if held.resource in {w.text for w in wanted}:
                    mine[held.resource] = held
                continue
            hits = [w for w in wanted if leases.blocks(held, w, mode, ignorecase=self.ignorecase)]
            if not hits:
                continue
            if leases.is_dead(held, txn.now, self.grace):
                takeovers.append(held)
            else:
                conflicts += [leases.Conflict(w.text, held) for w in hits]
        if conflicts:
            lines = "\n".join("  " + c.describe(txn.now) for c in conflicts)
            raise Refused(f"claim refused, nothing was claimed:\n{lines}",
                          hint=leases.refusal_hint(conflicts, [w.text for w in wanted]))
        return mine, takeovers

    def _session(self, txn: Txn, agent: str) -> str:
        record = txn.snap.record(Agent, agent)
        return record.session_id if record else ""

    @staticmethod
    def _track_holdings(txn: Txn, record: Agent) -> None:
        """Bring `held` up to this write; what left it by someone else's hand goes to `lost`."""
        now_held = {c.id: c.resource for c in txn.pending(Claim) if c.agent == record.name}
        released_here = txn.deleted(Claim)  # in the agent's own write, only by the agent itself
        for cid, res in record.held.items():
            if cid not in now_held and cid not in released_here:
                record.lost[cid] = res  # someone else removed it since: a takeover, a forced release
        record.held = now_held

    def _touch_agent(self, txn: Txn, agent: str, *, resource: str | None = None,
                     progress: int | None = None, message: str | None = None) -> Agent:
        """The agent's own write: a heartbeat, and the bookkeeping of the claims it holds."""
        record = txn.snap.record(Agent, agent) or Agent(name=agent)
        self._heartbeat(record, txn.now)
        record_position(self, record)
        self._track_holdings(txn, record)
        if resource is not None:
            record.resource = resource
        if progress is not None:
            record.progress = progress
        if message:
            record.message = message
        txn.put(record)
        return record

    def _with_wait(self, attempt: Callable[[], T], wait: float, stop: threading.Event | None = None) -> T:
        """Retry a refused operation until it is granted or `wait` seconds have passed.

        Between attempts: with a remote, a backoff with jitter (each attempt
        fetches, and many waiters must not fetch in lockstep); in local mode,
        a watch on the coord ref, so a release is acted on within ~50 ms, and
        a slower timed retry for what no write announces (a lease running out).
        `stop`, once set, ends the wait before the next attempt: a caller that
        gave up (an MCP request the client cancelled) must not be granted later.
        """
        wait = check_wait(wait)
        stop = stop if stop is not None else threading.Event()  # sleeps are waits on it
        deadline = time.monotonic() + wait
        watch = self.store.ref_watch()
        delay, cap = 0.2, (2.0 if watch is None else 5.0)
        while True:
            if stop.is_set():
                raise Refused("stopped waiting: the caller gave up.")
            before = watch.stamp() if watch else None
            try:
                return attempt()
            except Refused:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise
                pause = min(left, delay * (0.5 + secrets.randbelow(1000) / 1000))
                if watch is None or before is None:
                    stop.wait(pause)
                elif watch.wait(before, pause, stop=stop):
                    # Woken with the other waiters: spread the retries a little.
                    stop.wait(min(max(0.0, deadline - time.monotonic()), secrets.randbelow(50) / 1000))
                delay = min(delay * 1.6, cap)

    def check_in(self, resources: Sequence[str] = (), *, progress: int | None = None, message: str = "",
                 minutes: float | None = None) -> dict[str, Any]:
        """Heartbeat: renew my claims (all, or the named ones, by resource or id) and record progress.

        Refused (exit 3) when a named claim is no longer mine: it was released,
        or taken over after its lease died. A check-in naming nothing renews what
        is still mine and reports under "lost" the claims someone else removed
        since my last write (the CLI then exits 3).
        """
        agent = self.require_agent()
        self._refuse_speaking_for("a check-in")
        names = [r if RECORD_ID.fullmatch(r) else parse_resource(r).text for r in resources]
        if progress is not None and not 0 <= progress <= 100:
            raise InvalidInput(f"--progress is a percentage from 0 to 100, not {progress}.")
        check_text(message, "message", 4000)
        lease = self._lease_for(minutes)

        def work(txn: Txn) -> dict[str, Any]:
            mine = [c for c in txn.snap.records(Claim) if c.agent == agent]
            held = {c.resource: c for c in mine} | {c.id: c for c in mine}
            missing = [n for n in names if n not in held]
            if missing:
                raise Refused(f"check-in refused: you no longer hold {', '.join(missing)}.",
                              hint=self._lost_hint(txn, missing))
            renewed = list({held[n].id: held[n] for n in names}.values()) if names else mine
            for claim in renewed:
                claim.last_check_in, claim.expires_at = txn.now, txn.now + lease
                if progress is not None:
                    claim.progress = progress
                claim.message = message or claim.message
                txn.put(claim)
            record = self._touch_agent(txn, agent, progress=progress, message=message)
            lost = self._report_lost(txn, record)
            txn.action = "check-in"
            txn.what = " ".join(c.resource for c in renewed) or "(no claims)"
            return {"agent": agent, "renewed": [c.id for c in renewed], "lost": lost,
                    "next_check_in": txn.now + self.lease / 2}

        result: dict[str, Any] = self.write(work)
        if result["lost"]:
            self._annotate_lost(self.store.local_tip(), result["lost"])
        result["conflicts"] = coming_conflicts(self, agent)
        return result

    def _report_lost(self, txn: Txn, record: Agent, *, keep: bool = False) -> list[dict[str, str]]:
        """The agent's lost claims, each with who holds its resource now; told once, so cleared."""
        lost = []
        for cid, resource in sorted(record.lost.items()):
            holder = self._holder_now(txn, resource, besides=record.name)
            lost.append({"id": cid, "resource": resource,
                         "now_held_by": f"{holder.agent} ({holder.id})" if holder else ""})
        if not keep:
            record.lost = {}
        return lost

    def _lost_hint(self, txn: Txn, lost: list[str]) -> str:
        holders = [f"{name} is now {h.agent}'s ({h.id}, token {h.token})"
                   for name in lost if (h := self._holder_now(txn, name, besides=self.agent)) is not None]
        taken = "; ".join(holders) if holders else "nobody holds it now"
        return f"{taken}. Stop editing it; claim it again before you go on."

    def _holder_now(self, txn: Txn, resource: str, *, besides: str | None) -> Claim | None:
        """Another agent's claim, not dead, that stands in the way of `resource`."""
        wanted = parse_resource(resource)
        return next((c for c in txn.snap.records(Claim)
                     if c.agent != besides and not leases.is_dead(c, txn.now, self.grace)
                     and leases.blocks(c, wanted, "exclusive", ignorecase=self.ignorecase)), None)

    def release(self, resources: Sequence[str] = (), *, all: bool = False, message: str = "",
                force: bool = False, reason: str = "") -> list[Claim]:
        """Release my claims (named by resource or claim id, or all of them).

        `force` releases anyone's claims: it is for humans, needs a reason, and
        the reason is recorded in the commit.
        """
        if force:
            self._check_forced_release(resources, all=all, reason=reason)
        else:
            self._refuse_speaking_for("releasing claims")
        actor = self.human() if force else self.require_agent()
        sign = force and self.sign_human_act()
        if not resources and not all:
            raise InvalidInput("name the resources (or claim ids) to release, or pass --all.")
        targets = [r if RECORD_ID.fullmatch(r) else parse_resource(r).text for r in resources]
        check_text(message, "message", 4000)

        def work(txn: Txn) -> list[Claim]:
            claims = txn.snap.records(Claim)
            chosen = [c for c in claims if (force or c.agent == actor)
                      and (all or c.resource in targets or c.id in targets)]
            found = {c.resource for c in chosen} | {c.id for c in chosen}
            missing = [t for t in targets if t not in found]
            if missing:
                raise Refused(f"release refused: you hold no claim on {', '.join(missing)}.",
                              hint="see `gitcoord claims` for what you hold.")
            for claim in chosen:
                txn.delete(claim)
            txn.action = "force-release" if force else "release"
            txn.what = " ".join(c.resource for c in chosen) or "(nothing held)"
            if force:
                txn.trailers["Coord-Force"] = check_text(reason, "reason", 1000).replace("\n", " ")
                txn.trailers["Coord-Released"] = ", ".join(f"{c.id} ({c.agent})" for c in chosen)
            elif chosen:
                self._touch_agent(txn, actor, resource="", message=message)
            return chosen

        return self.write(work, actor=actor, sign=sign)

    def _check_forced_release(self, resources: Sequence[str], *, all: bool, reason: str) -> None:
        """A forced release takes claims from other agents: a human act, named and explained."""
        if self.agent is not None:
            raise Refused(f"a forced release is a human act, and you are the agent {self.agent}.",
                          hint="ask the holder instead: gitcoord request-help --to HOLDER ...; "
                               "or wait for it: gitcoord claim RESOURCE --wait 600.")
        if all:
            raise InvalidInput("--force takes the claims it releases by name, not --all.")
        if not resources:
            raise InvalidInput("name the claims (resources or ids) to release by force.")
        if not reason.strip():
            raise InvalidInput("--force needs --reason: a forced release is recorded with why.")

    def claims(self, *, all: bool = False, fetch: bool = False) -> list[dict[str, Any]]:
        """Live claims (with `all`, also dead ones still in the tree), each with its state."""
        snap = self.snapshot(fetch=fetch)
        now = self.store.clock()
        found = self.live_claims(snap, now, include_dead=all)
        return sorted((self.claim_view(c, now, self.agent) for c in found),
                      key=lambda v: (v["resource"], v["agent"]))

    # -- overview ----------------------------------------------------------------------

    def agents(self, snap: Snapshot, now: datetime) -> list[dict[str, Any]]:
        out = []
        for record in snap.records(Agent):
            view = record.model_dump(mode="json")
            due = record.next_check_in
            if due is not None and now > due + self.grace:
                view["status"] = "stale"
            elif record.resource:
                view["status"] = "active"
            else:
                view["status"] = "idle"
            out.append(view)
        return out

    def status(self, *, fetch: bool = False) -> dict[str, Any]:
        """Everything at a glance: agents, claims, and (with the protocol) the open items."""
        snap = self.snapshot(fetch=fetch)
        now = self.store.clock()
        report: dict[str, Any] = {
            "rev": snap.rev if snap.exists else None, "now": now, "agents": self.agents(snap, now),
            "claims": [self.claim_view(c, now, self.agent) for c in self.live_claims(snap, now)]}
        self._extend_status(report, snap, now)
        report["conflicts"] = conflicts_for_status(self)
        report["skipped"] = snap.skipped
        return report

    def log(self, *, since: str | None = None, agent: str | None = None,
            limit: int | None = None, fetch: bool = True) -> list[dict[str, Any]]:
        """The audit trail: one entry per coord commit, newest first.

        In remote mode it is the remote's trail (fetched first) unless `fetch` is
        False: after a write that may or may not have landed, it shows which. With
        allowed signers set, each human act has `signed_by` (the principal of a good
        signature by a listed key, else None) and `signature` (said for people)."""
        entries = []
        for entry in self.store.history(since=since, fetch=fetch):
            if agent and entry.get("agent") != agent:
                continue
            entries.append(entry)
            if limit and len(entries) >= limit:
                break
        if self.authority.configured:
            self.authority.act_signatures(entries)
        return entries


__all__ = ["Coordinator", "GitcoordError", "check_agent_name", "check_text", "require_id"]
