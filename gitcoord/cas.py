"""What git's answer to a compare-and-swap means: landed, lost the race, locked, or never sent.

`Store` moves the coord ref (and `own_ref` an agent's own ref) with `update-ref NEW OLD` or a
push whose lease is OLD, both run here; git says how that went only in its output. The markers
and readers here turn that output into the store's decisions (retry, settle, refuse,
unavailable), in one place.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from pathlib import Path

from gitcoord.errors import Refused, Unavailable
from gitcoord.git import Git, GitFailed, Result

# Flags of a `git push --porcelain` line whose ref the remote updated (or already had).
ACCEPTED = (" ", "+", "*", "=")
# Failures that prove a push never reached the remote, so nothing can have landed.
NEVER_CONNECTED = (
    "does not appear to be a git repository",
    "Could not read from remote repository",
    "unable to access",
    "Could not resolve host",
    "Connection refused",
    "No such file or directory",
)
# Push and update-ref failures that mean "someone else moved the ref first".
_LOST_RACE_MARKERS = (
    "stale info",
    "fetch first",
    "non-fast-forward",
    "failed to lock",
    "cannot lock ref",
    "incorrect old value",
    "but expected",
    "File exists",
    "unable to update local ref",
)
# How git names a ref lock it found taken: another git process is moving the ref, or one died doing so.
LOCK_TAKEN = re.compile(r"Unable to create '([^']+\.lock)': File exists")
# A lock file that stays the same file this long while we retry was left by a git that died:
# a live git holds a ref lock for milliseconds, and contending writers each make a new one.
STALE_LOCK_SECONDS = 3.0


def stale_lock_message(name: str) -> str:
    """The sentence for a ref lock that stays put, shared by writes and `doctor`."""
    return f"{name} exists: another git process is writing, or one died; remove it if no git is running."


def push_status(porcelain: str, ref: str) -> tuple[str, str]:
    """(flag, summary) of `ref`'s line in `git push --porcelain` output; ("", "") if absent.

    Lines read `<flag>\t<from>:<to>\t<summary>`; the flag `!` is a rejection.
    """
    for line in porcelain.splitlines():
        parts = line.split("\t")
        if len(parts) >= 3 and parts[1].endswith(f":{ref}"):
            return parts[0], parts[2].strip()
    return "", ""


def remote_lines(stderr: str) -> str:
    """What the remote's hooks printed (git prefixes their lines with `remote:`), on one line."""
    lines = [line[len("remote:") :].strip() for line in stderr.splitlines() if line.startswith("remote:")]
    return " / ".join(line for line in lines if line)[-600:]


def is_lost_race(text: str) -> bool:
    return any(marker in text for marker in _LOST_RACE_MARKERS)


def unreachable(remote: str, detail: str) -> Unavailable:
    lines = detail.strip().splitlines()
    said = " / ".join(line for line in lines if line.strip())[-600:] or "no answer"
    return Unavailable(
        f"the remote {remote!r} cannot be reached: {said}",
        hint="check the network and `git remote -v`; nothing was written.",
    )


def rejected_push(
    remote: str, summary: str, remote_said: str, lock: re.Match[str] | None = None
) -> Unavailable | None:
    """What a push's `!` line means: None for a lost race; a hook's refusal is raised (Refused);
    else the failure the store raises unless the remote's tip shows the write landed anyway
    (`lock`: the remote said a ref lock was taken)."""
    if summary.startswith("[rejected]"):
        return None  # the lease saw someone else move it first
    if "hook declined" in summary:
        said = f" It said: {remote_said}" if remote_said else ""
        raise Refused(
            f"the remote {remote!r} refused the write: {summary}.{said}",
            hint="its pre-receive or update hook said no; nothing was written.",
        )
    # A remote-side update or lock failure may be a lost compare-and-swap or a failing disk,
    # and a "remote failure" may even have landed: only the remote's tip can tell.
    if lock is not None:
        on_remote = re.search(r"(?:^|/)(refs/.+)$", lock.group(1))
        name = on_remote.group(1) if on_remote else lock.group(1)
        return Unavailable(
            f"the remote {remote!r} could not take the write: {stale_lock_message(name)}",
            hint=f"if no git process is running on the remote, remove {lock.group(1)} there; "
            "nothing was written.",
        )
    return Unavailable(
        f"the remote {remote!r} could not take the write: {summary}",
        hint="check the remote's disk, permissions and limits; nothing was written.",
    )


def update_ref(git: Git, ref: str, old: str | None, new: str, lock_taken: Callable[[str], bool]) -> bool:
    """The local compare-and-swap: True if `ref` moved from `old` (absent for None) to `new`,
    False if another writer moved it first (`lock_taken` judges a lock left in the way)."""
    # An empty old value means "must not exist yet" in every object format (40 zeros is SHA-1's).
    res = git.run("update-ref", "-m", "gitcoord write", ref, new, old or "")
    if res.returncode == 0:
        return True
    if is_lost_race(res.stderr):
        lock_taken(res.stderr)
        return False
    raise GitFailed(["update-ref", ref], res.returncode, res.stdout, res.stderr)


def lease_push(
    git: Git, remote: str, ref: str, old: str | None, new: str, timeout: float
) -> tuple[bool, Result]:
    """Push `new` to the remote's `ref` only if it is exactly `old` (absent for None): True when
    the remote's own verdict says it landed, whatever the exit code (a remote hook failing after
    the update, or the link dropping then, does not undo a write that landed).

    A lease on exactly OLD is the strictest compare-and-swap push offers: unlike a bare
    fast-forward check it also refuses a remote that was rewound behind OLD."""
    res = git.run(
        "push",
        "--porcelain",
        "--no-verify",
        f"--force-with-lease={ref}:{old or ''}",
        remote,
        f"{new}:{ref}",
        timeout=timeout,
        env={"GIT_TERMINAL_PROMPT": "0"},
    )
    return push_status(res.stdout.decode(errors="replace"), ref)[0] in ACCEPTED, res


def push_failure(remote: str, ref: str, res: Result) -> Unavailable | None:
    """What a push that did not land means: None for a lost race; `unreachable` raised when it
    never reached the remote; a hook's refusal raised (`rejected_push`); else the failure to
    report unless the remote's tip, fetched, shows that the write landed after all."""
    flag, summary = push_status(res.stdout.decode(errors="replace"), ref)
    if flag == "!":
        return rejected_push(remote, summary, remote_lines(res.stderr), LOCK_TAKEN.search(res.stderr))
    said = res.stdout.decode(errors="replace") + res.stderr
    local_said = "\n".join(line for line in res.stderr.splitlines() if not line.startswith("remote:"))
    if not flag and any(marker in local_said for marker in NEVER_CONNECTED):
        raise unreachable(remote, said)
    return unreachable(remote, said)


class LockWatch:
    """Tells a ref lock that another git holds for a moment from one a dead git left behind.

    `check(stderr)`: did git fail because a ref lock is taken? True (try again) while the lock
    comes and goes; raises Unavailable once the same lock file has stayed put for `patience`
    seconds of retries. `common_dir` names a lock inside it as the ref it guards.
    """

    def __init__(self, common_dir: Path | None, patience: float) -> None:
        self.common_dir, self.patience = common_dir, patience
        self._seen: tuple[str, int, int] | None = None
        self._since = 0.0

    def check(self, stderr: str) -> bool:
        found = LOCK_TAKEN.search(stderr)
        if found is None:
            return False
        lock = Path(found.group(1))
        try:
            st = lock.stat()
        except OSError:
            self._seen = None
            return True  # released meanwhile: try again
        seen = (str(lock), st.st_ino, st.st_mtime_ns)
        now = time.monotonic()
        if seen != self._seen:
            self._seen, self._since = seen, now
        elif now - self._since >= self.patience:
            self._seen = None
            raise Unavailable(
                stale_lock_message(self._name(lock)),
                hint=f"if no git process is running in this repository, remove {lock}; nothing was written.",
            )
        return True

    def _name(self, lock: Path) -> str:
        """A lock file as the ref it guards is named: relative to the git dir when inside it."""
        if self.common_dir is not None and lock.is_relative_to(self.common_dir):
            return lock.relative_to(self.common_dir).as_posix()
        return str(lock)
