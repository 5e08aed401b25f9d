"""Human acts that no agent can forge: signed coord commits, verified from history.

`review.allowed_signers` in `.coord/config.toml` names a file in git's
`gpg.ssh.allowedSignersFile` format (`PRINCIPAL KEYTYPE KEY`, one per line),
committed on the code branch. Both the setting and the file are read from the
committed tree (`HEAD`), never from uncommitted edits: an agent can edit its
working tree, not what was reviewed and committed.

With allowed signers set, every human act (approve, reject, forced release)
is a coord commit signed with the person's own git signing setup
(`gpg.format`, `user.signingkey`; `git commit-tree -S`), and whether an act
is trusted is computed from the coord history: the commit that made the
change must carry a good signature (`%G?` = `G`) from a key in the allowed
signers, and the signer's principal is who acted. A record's fields alone
prove nothing: anyone who can push to the coord branch can write them.

Nothing here runs unless the setting is present, so repositories without it
pay no extra git process.
"""

from __future__ import annotations

import tempfile
import tomllib
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gitcoord.constants import CONFIG_PATH, PERSON_PREFIXES
from gitcoord.errors import InvalidInput, Refused
from gitcoord.git import run_plain

# The Coord-Action of every act DESIGN reserves for people.
HUMAN_ACTIONS = frozenset({"decision-approve", "decision-reject", "force-release"})
# Acts an agent may do to its own work, and a person to anyone's: a person's is a human act.
HUMAN_WHEN_A_PERSON_ACTS = frozenset({"task-block"})


def is_human_act(action: str, actor: str) -> bool:
    """Whether a coord commit's act is one DESIGN reserves for people (so it must be signed)."""
    return action in HUMAN_ACTIONS or (
        action in HUMAN_WHEN_A_PERSON_ACTS and actor.startswith(PERSON_PREFIXES)
    )


REVIEWED = ("approved", "rejected")
DECISIONS_DIR = ".coord/decisions/"
# What may change in a reviewed decision after its review: the implement transition, nothing else.
_AFTER_REVIEW = frozenset({"status", "implemented_at", "updated_rev"})
_SIGNING_FIX = "git config gpg.format ssh\n      git config user.signingkey ~/.ssh/id_ed25519.pub"


@dataclass(frozen=True)
class Signature:
    """What git says about one commit's signature: `%G?` and the signer's principal (`%GS`)."""

    code: str = "N"
    signer: str = ""

    @property
    def good(self) -> bool:
        """A good signature by a key the allowed signers list (git's `G`)."""
        return self.code == "G" and bool(self.signer)

    def describe(self) -> str:
        if self.good:
            return f"signed by {self.signer}"
        return {"N": "unsigned", "U": "signed by a key not in the allowed signers", "B": "bad signature"}.get(
            self.code, f"signature not verified ({self.code})"
        )


@dataclass(frozen=True)
class ReviewCheck:
    """Whether a decision's review (approval or rejection) is proved by a signature."""

    verified: bool
    signer: str | None
    commit: str | None = None
    why: str = ""


@dataclass
class Authority:
    """The allowed signers of the committed tree, and the signature checks that use them."""

    cwd: Path
    path: str = ""  # review.allowed_signers at HEAD; "" when not configured
    content: bytes = b""
    _checked: dict[str, Signature] = field(default_factory=dict)

    @classmethod
    def load(cls, cwd: Path) -> Authority:
        """Read `review.allowed_signers` and the file it names from `HEAD` (no working tree)."""
        path = _head_setting(cwd)
        if not path:
            return cls(cwd)
        blob = run_plain(cwd, "cat-file", "blob", f"HEAD:{path}")
        return cls(cwd, path, blob.stdout if blob.returncode == 0 else b"")

    @property
    def configured(self) -> bool:
        return bool(self.path)

    def principals(self) -> list[str]:
        """The principals the committed file lists (for messages and `doctor`)."""
        found = []
        for line in self.content.decode(errors="replace").splitlines():
            words = line.split()
            if words and not words[0].startswith("#"):
                found += words[0].split(",")
        return found

    def judge(self, code: str, signer: str) -> Signature:
        """A signature as git reported it, with an OpenPGP signer held to the allowed principals.

        An SSH signature's `%GS` is already the principal git found in the allowed signers.
        An OpenPGP one is checked by git against the verifying machine's keyring and `%GS` is
        the key's user id (`Name <email>`): it counts only when good (`G`) and its email is a
        principal of the allowed signers, and then that email is the signer.
        """
        signer = signer.strip()
        if "<" not in signer:
            return Signature(code or "N", signer)
        email = signer.rpartition("<")[2].rstrip(">").strip()
        if code == "G" and email.lower() in {p.lower() for p in self.principals()}:  # a few lines: cheap
            return Signature("G", email)
        return Signature("U" if code == "G" else code or "N", "")

    # -- signing ------------------------------------------------------------------------

    def require_signing_key(self, gitconfig: dict[str, list[str]]) -> None:
        """Refuse a human act before anything is written when it could not be signed."""
        key = gitconfig.get("user.signingkey", [""])[-1]
        fmt = gitconfig.get("gpg.format", ["openpgp"])[-1].lower()
        default_cmd = gitconfig.get("gpg.ssh.defaultkeycommand", [""])[-1]
        if key or (fmt == "ssh" and default_cmd):
            return
        raise Refused(
            f"human acts here are signed ({self.path} lists who may act), and git has no "
            "signing key on this machine; nothing was written.",
            hint=f"set one, with your key listed in {self.path}:\n      {_SIGNING_FIX}",
        )

    # -- verifying ----------------------------------------------------------------------

    @contextmanager
    def signers_file(self) -> Iterator[str]:
        """HEAD's allowed signers as a file for git's `gpg.ssh.allowedSignersFile`."""
        with tempfile.TemporaryDirectory(prefix="gitcoord-signers-") as tmp:
            file = Path(tmp) / "allowed_signers"
            file.write_bytes(self.content)
            yield str(file)

    def git_log(self, *args: str) -> str:
        """`git log ARGS` with signatures checked against HEAD's allowed signers."""
        with self.signers_file() as file:
            res = run_plain(self.cwd, "-c", f"gpg.ssh.allowedSignersFile={file}", "log", *args)
        if res.returncode != 0:
            raise InvalidInput(f"cannot read the coord history: {res.stderr.strip()}")
        return res.stdout.decode(errors="replace")

    def signatures(self, commits: Iterable[str]) -> dict[str, Signature]:
        """The signature of each commit (one `git log --no-walk` for those not yet checked)."""
        commits = list(commits)
        wanted = [c for c in dict.fromkeys(commits) if c not in self._checked]
        if wanted:
            out = self.git_log("--no-walk=unsorted", "--format=%H%x1f%G?%x1f%GS", *wanted)
            for line in out.splitlines():
                sha, code, signer = [*line.split("\x1f"), "", ""][:3]
                self._checked[sha] = self.judge(code, signer)
        return {c: self._checked.get(c, Signature()) for c in commits}

    def review_checks(self, tip: str | None, read_blobs: Any) -> dict[str, ReviewCheck]:
        """Every reviewed decision's check, from one pass over the decisions' history.

        `read_blobs(shas)` returns the contents (or None) of blob ids, in order.
        """
        if tip is None:
            return {}
        changes = _decision_changes(
            self.judge,
            self.git_log(
                "--reverse",
                "--raw",
                "--no-abbrev",
                "--no-renames",
                "--format=%x1e%H%x1f%G?%x1f%GS",
                tip,
                "--",
                DECISIONS_DIR,
            ),
        )
        blobs = sorted({blob for *_, blob in changes if blob})
        texts = dict(zip(blobs, read_blobs(blobs), strict=True))
        trails: dict[str, _Trail] = {}
        for sha, sig, did, blob in changes:
            trails.setdefault(did, _Trail()).step(sha, sig, _parse(texts.get(blob)) if blob else None)
        return {did: trail.result() for did, trail in trails.items() if trail.reviewed is not None}

    def act_signatures(self, entries: list[dict[str, Any]]) -> None:
        """Add `signed_by` (principal or None) and `signature` to the human acts of `log` entries."""
        acts = [e for e in entries if is_human_act(e.get("action", ""), e.get("agent", ""))]
        found = self.signatures(e["commit"] for e in acts)
        for entry in acts:
            sig = found[entry["commit"]]
            entry["signed_by"] = sig.signer if sig.good else None
            entry["signature"] = sig.describe()

    def unsigned_acts(self, rev_args: list[str]) -> list[dict[str, str]]:
        """The human acts among the coord commits `git log REV_ARGS` names that no listed key signed.

        Two kinds: a gitcoord human act (approve, reject, forced release) without a good
        signature, and a commit no gitcoord write made (no Coord-Action trailer) that changes a
        decision or removes a claim: a hand-pushed flip is a human act nobody signed for.
        """
        out = self.git_log(
            "--raw",
            "--no-abbrev",
            "--no-renames",
            "--format=%x1e%H%x1f%G?%x1f%GS%x1f%(trailers:key=Coord-Action,valueonly,separator=)"
            "%x1f%(trailers:key=Coord-Agent,valueonly,separator=)",
            *rev_args,
            "--",
        )
        found = []
        for chunk in out.split("\x1e"):
            header, _, raw = chunk.partition("\n")
            sha, code, signer, action, actor = [*header.split("\x1f"), "", "", "", ""][:5]
            if not sha.strip():
                continue
            sig, action = self.judge(code, signer), action.strip()
            if is_human_act(action, actor.strip()) and not sig.good:
                found.append(
                    {
                        "commit": sha,
                        "action": action,
                        "actor": actor.strip() or "?",
                        "signature": sig.describe(),
                    }
                )
            elif not action and not sig.good and _hand_made_act(raw):
                found.append(
                    {
                        "commit": sha,
                        "action": "hand-made change to decisions or claims",
                        "actor": "a commit no gitcoord write made",
                        "signature": sig.describe(),
                    }
                )
        return found

    def removal(self, tip: str, path: str) -> dict[str, Any]:
        """Who removed a file from the coord branch, and whether that act is proved by a signature."""
        out = self.git_log(
            "-1",
            "--diff-filter=D",
            "--format=%H%x1f%G?%x1f%GS%x1f%(trailers:key=Coord-Agent,"
            "valueonly,separator=)%x1f%(trailers:key=Coord-Action,valueonly,separator=)",
            tip,
            "--",
            path,
        ).strip()
        if not out:
            return {}
        sha, code, signer, actor, action = [*out.split("\x1f"), "", "", "", ""][:5]
        sig = self.judge(code, signer)
        return {
            "removed_by": actor.strip(),
            "removed_in": sha,
            "action": action.strip(),
            "signed_by": sig.signer if sig.good else None,
            "verified": sig.good,
        }


@dataclass
class _Trail:
    """A decision's history, replayed: its last review and whether anything changed it since."""

    previous: dict[str, Any] | None = None
    reviewed: dict[str, Any] | None = None
    commit: str | None = None
    signature: Signature = field(default_factory=Signature)
    tampered: str = ""

    def step(self, sha: str, sig: Signature, record: dict[str, Any] | None) -> None:
        before, self.previous = self.previous, record
        if record is None:
            self.reviewed, self.commit = None, None
            return
        if record.get("status") in REVIEWED and _review_of(record) != _review_of(before):
            self.reviewed, self.commit, self.signature, self.tampered = record, sha, sig, ""
        elif self.reviewed is not None and not self.tampered and _changed_after_review(self.reviewed, record):
            self.tampered = sha

    def result(self) -> ReviewCheck:
        signer = self.signature.signer if self.signature.good else None
        if not self.signature.good:
            why = f"the review commit {str(self.commit)[:12]} is {self.signature.describe()}"
        elif self.tampered:
            why = f"commit {self.tampered[:12]} changed the record after its signed review"
        else:
            why = ""
        return ReviewCheck(not why, signer, self.commit, why)


def _review_of(record: dict[str, Any] | None) -> tuple[Any, ...]:
    if record is None:
        return ()
    status = record.get("status")
    return (
        status if status in REVIEWED else "",
        record.get("reviewed_by"),
        record.get("reviewed_at"),
        record.get("review_note"),
    )


def _changed_after_review(reviewed: dict[str, Any], now: dict[str, Any]) -> bool:
    """Anything but approved -> implemented (and its stamps) changes what was reviewed."""
    keys = (set(reviewed) | set(now)) - _AFTER_REVIEW
    if any(reviewed.get(k) != now.get(k) for k in keys):
        return True
    allowed = {reviewed.get("status")} | ({"implemented"} if reviewed.get("status") == "approved" else set())
    return now.get("status") not in allowed


def _decision_changes(
    judge: Callable[[str, str], Signature], log: str
) -> list[tuple[str, Signature, str, str]]:
    """(commit, signature, decision id, new blob or "" when deleted) per changed decision file."""
    out = []
    for chunk in log.split("\x1e"):
        header, _, raw = chunk.partition("\n")
        parts = header.split("\x1f")
        if len(parts) < 3:
            continue
        sig = judge(parts[1], parts[2])
        for line in raw.splitlines():
            meta, _, path = line.partition("\t")
            fields = meta.split()
            if len(fields) < 5 or not path.startswith(DECISIONS_DIR) or not path.endswith(".toml"):
                continue
            blob = "" if fields[4] == "D" else fields[3]
            out.append((parts[0], sig, path[len(DECISIONS_DIR) : -len(".toml")], blob))
    return out


def _hand_made_act(raw: str) -> bool:
    """Does a commit's `--raw` diff change a decision or remove a claim?"""
    for line in raw.splitlines():
        meta, _, path = line.partition("\t")
        fields = meta.split()
        if len(fields) < 5:
            continue
        if path.startswith(DECISIONS_DIR) or (path.startswith(".coord/claims/") and fields[4] == "D"):
            return True
    return False


def _parse(data: bytes | None) -> dict[str, Any] | None:
    if data is None:
        return None
    try:
        return tomllib.loads(data.decode())
    except (tomllib.TOMLDecodeError, UnicodeDecodeError):
        return {"unreadable": True}


def _head_setting(cwd: Path) -> str:
    """`review.allowed_signers` as committed at HEAD ("" when absent or HEAD has no config)."""
    res = run_plain(cwd, "cat-file", "blob", f"HEAD:{CONFIG_PATH}")
    if res.returncode != 0:
        return ""
    try:
        review = tomllib.loads(res.stdout.decode()).get("review", {})
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"{CONFIG_PATH} at HEAD is not valid TOML: {exc}") from exc
    value = review.get("allowed_signers", "") if isinstance(review, dict) else ""
    if not isinstance(value, str) or value.startswith("/") or ".." in value.split("/"):
        raise InvalidInput(
            f"review.allowed_signers in {CONFIG_PATH} must be a path inside the repository, not {value!r}.",
            hint='for example: allowed_signers = ".coord/allowed_signers"',
        )
    return value.strip()
