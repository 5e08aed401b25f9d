"""Human acts no agent can forge: signed coord commits, checked against committed allowed signers.

Real git, real ed25519 keys made by ssh-keygen in the test, signatures verified by git itself.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from gitcoord import Coordinator
from gitcoord.errors import Refused
from tests.conftest import World, git, run

pytestmark = pytest.mark.skipif(
    shutil.which("ssh-keygen") is None, reason="needs ssh-keygen (openssh-client)"
)

LEAD = "lead@example.com"


def keygen(where: Path, name: str) -> Path:
    key = where / name
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name, "-f", str(key)], check=True)
    return key


def use_key(clone: Path, key: Path) -> None:
    git(clone, "config", "gpg.format", "ssh")
    git(clone, "config", "user.signingkey", str(key))


def commit_signers(clone: Path, *entries: tuple[str, Path], reviewers: str = "") -> None:
    """Commit `.coord/allowed_signers` and the config line naming it, on the code branch."""
    lines = [f"{who} {key.with_suffix('.pub').read_text().strip()}" for who, key in entries]
    (clone / ".coord").mkdir(exist_ok=True)
    (clone / ".coord" / "allowed_signers").write_text("\n".join(lines) + "\n")
    (clone / ".coord" / "config.toml").write_text(
        f'[review]\nallowed_signers = ".coord/allowed_signers"\nreviewers = [{reviewers}]\n'
    )
    git(clone, "add", ".coord")
    git(clone, "commit", "-q", "-m", "reviewers' keys")


@pytest.fixture
def team(world: World, tmp_path: Path) -> tuple[World, Path, Path]:
    """Clone a: the agents; b: a stranger's machine; c: the lead, whose key is committed and pushed."""
    a, _, c = world.clones
    keys = tmp_path / "keys"
    keys.mkdir()
    lead, evil = keygen(keys, "lead"), keygen(keys, "evil")
    commit_signers(c, (LEAD, lead))
    git(c, "push", "-q", "origin", "HEAD")
    (a / ".coord" / "config.toml").unlink()  # init's uncommitted default; the committed one comes next
    for clone in world.clones[:2]:
        git(clone, "pull", "-q", "--ff-only")
    git(c, "config", "user.email", LEAD)
    use_key(c, lead)
    return world, lead, evil


def propose(clone: Path, agent: str = "beta", title: str = "Use JWT") -> str:
    res = run(
        clone,
        "log-decision",
        "--category",
        "api",
        "--impact",
        "high",
        "--rationale",
        "r",
        title,
        "--json",
        agent=agent,
    )
    assert res.code == 0, res.err
    return str(res.json()["id"])


def proof(clone: Path, did: str) -> tuple[str, bool | None, str | None]:
    found = {d["id"]: d for d in run(clone, "decisions", "list", "--json").json()}[did]
    return found["status"], found["review_verified"], found["review_signer"]


def coord_tip(world: World) -> str:
    return git(world.remote, "rev-parse", "coord")


def test_the_leads_signed_approval_is_verified_and_can_be_implemented(team: tuple[World, Path, Path]) -> None:
    world, _, _ = team
    a, _, c = world.clones
    did = propose(a)
    approved = run(c, "decisions", "approve", did, "--note", "go")
    assert approved.code == 0, approved.err
    assert approved.out.strip() == f"{did} approved by human:{LEAD} (verified: {LEAD})."
    assert "\ngpgsig -----BEGIN SSH SIGNATURE-----" in git(world.remote, "cat-file", "commit", "coord")
    assert proof(a, did) == ("approved", True, LEAD)
    text = run(a, "decisions", "list")
    assert f"verified: {LEAD}" in text.out
    done = run(a, "decisions", "implement", did, agent="beta")
    assert done.code == 0, done.err
    assert proof(a, did) == ("implemented", True, LEAD)  # the implement transition keeps the proof
    log = run(a, "log", "--json").json()
    act = next(e for e in log if e.get("action") == "decision-approve")
    assert (act["signed_by"], act["signature"]) == (LEAD, f"signed by {LEAD}")
    assert f"signed by {LEAD}" in run(a, "log").out


def test_without_a_signing_key_the_act_is_refused_before_anything_is_written(
    team: tuple[World, Path, Path],
) -> None:
    world, _, _ = team
    a, b, _ = world.clones
    did = propose(a)
    before = coord_tip(world)
    refused = run(b, "decisions", "approve", did)
    assert refused.code == 3
    assert "has no signing key" in refused.err and "nothing was written" in refused.err
    assert "git config gpg.format ssh" in refused.err and "git config user.signingkey" in refused.err
    assert "Traceback" not in refused.err
    assert coord_tip(world) == before
    assert proof(a, did) == ("proposed", None, None)


def test_an_unlisted_key_and_a_borrowed_email_read_as_unverified(team: tuple[World, Path, Path]) -> None:
    world, _, evil = team
    a, b, _ = world.clones
    did = propose(a)
    use_key(b, evil)  # an agent's own key, and the lead's email borrowed for the act
    borrowed = {"GIT_CONFIG_COUNT": "1", "GIT_CONFIG_KEY_0": "user.email", "GIT_CONFIG_VALUE_0": LEAD}
    forged = run(b, "decisions", "approve", did, env=borrowed)
    assert forged.code == 0, forged.err
    assert "UNVERIFIED" in forged.out
    assert proof(a, did) == ("approved", False, None)
    refused = run(a, "decisions", "implement", did, agent="beta")
    assert refused.code == 3
    assert f"{did} cannot be implemented: its approval is not verified" in refused.err
    assert "signed by a key not in the allowed signers" in refused.err
    assert "UNVERIFIED" in run(a, "decisions", "list").out


def _hand_edit_coord(clone: Path, path: str, edit: dict[str, str]) -> None:
    """Change a record on the coord branch by hand (no gitcoord), and push it."""
    git(clone, "fetch", "-q", "origin", "coord")
    git(clone, "checkout", "-q", "-B", "hand", "origin/coord")
    file = clone / path
    text = file.read_text()
    for key, value in edit.items():
        lines = [f'{key} = "{value}"' if line.startswith(f"{key} = ") else line for line in text.splitlines()]
        if not any(line.startswith(f"{key} = ") for line in text.splitlines()):
            lines.append(f'{key} = "{value}"')
        text = "\n".join(lines) + "\n"
    file.write_text(text)
    git(clone, "commit", "-q", "-am", "approve it")
    git(clone, "push", "-q", "origin", "hand:coord")
    git(clone, "checkout", "-q", "main")


def test_a_hand_pushed_flip_reads_as_unverified_whatever_its_fields_say(
    team: tuple[World, Path, Path],
) -> None:
    world, _, _ = team
    a, b, _ = world.clones
    did = propose(a)
    _hand_edit_coord(
        b,
        f".coord/decisions/{did}.toml",
        {"status": "approved", "reviewed_by": f"human:{LEAD}", "reviewed_at": "2026-01-01T00:00:00Z"},
    )
    assert proof(a, did) == ("approved", False, None)
    refused = run(a, "decisions", "implement", did, agent="beta")
    assert refused.code == 3 and "is unsigned" in refused.err
    caught = run(a, "verify", "origin/coord~1..origin/coord")
    assert caught.code == 3 and "hand-made change to decisions or claims" in caught.out
    # The lead overturns the forged approval with a signed review; a proved one stays as it is.
    overturned = run(world.clones[2], "decisions", "reject", did, "--note", "not mine")
    assert overturned.code == 0, overturned.err
    assert proof(a, did) == ("rejected", True, LEAD)
    again = run(world.clones[2], "decisions", "approve", did)
    assert again.code == 3 and f"{did} is already rejected (by human:{LEAD})." in again.err


def test_a_signed_approval_changed_afterwards_is_unverified(team: tuple[World, Path, Path]) -> None:
    world, _, _ = team
    a, b, c = world.clones
    did = propose(a)
    assert run(c, "decisions", "approve", did).code == 0
    assert proof(a, did) == ("approved", True, LEAD)
    _hand_edit_coord(b, f".coord/decisions/{did}.toml", {"title": "Drop all tables"})
    assert proof(a, did) == ("approved", False, LEAD)
    refused = run(a, "decisions", "implement", did, agent="beta")
    assert refused.code == 3 and "changed the record after its signed review" in refused.err


def test_the_python_api_never_takes_a_reviewer_from_the_caller(team: tuple[World, Path, Path]) -> None:
    world, _, _ = team
    a, b, _ = world.clones
    did = propose(a)
    with Coordinator(a, agent="beta") as coord, pytest.raises(Refused, match="you are the agent beta"):
        coord.approve_decision(did, reviewer=f"human:{LEAD}")
    with Coordinator(b) as coord, pytest.raises(Refused, match="a reviewer is who runs the review"):
        coord.approve_decision(did, reviewer=f"human:{LEAD}")
    with Coordinator(a, agent="beta") as coord, pytest.raises(Refused, match="sync job's act"):
        coord.review_from_notion(did, "approved", f"notion:{LEAD}")
    assert proof(a, did) == ("proposed", None, None)


def test_a_signed_forced_release_is_reported_to_the_holder_with_the_signer(
    team: tuple[World, Path, Path],
) -> None:
    world, _, evil = team
    a, b, c = world.clones
    assert run(a, "start", agent="alpha").code == 0
    assert run(a, "claim", "src/api.py", "src/db.py", agent="alpha").code == 0
    forced = run(c, "release", "--force", "--reason", "stuck", "src/api.py")
    assert forced.code == 0, forced.err
    use_key(b, evil)
    assert run(b, "release", "--force", "--reason", "mine now", "src/db.py").code == 0
    lost = {x["resource"]: x for x in run(a, "start", "--json", agent="alpha").json()["lost_claims"]}
    assert (lost["src/api.py"]["signed_by"], lost["src/api.py"]["verified"]) == (LEAD, True)
    assert lost["src/api.py"]["removed_by"] == f"human:{LEAD}"
    assert (lost["src/db.py"]["signed_by"], lost["src/db.py"]["verified"]) == (None, False)
    assert lost["src/db.py"]["action"] == "force-release"


def test_the_forced_release_text_says_who_signed_it(team: tuple[World, Path, Path]) -> None:
    world, _, _ = team
    a, _, c = world.clones
    assert run(a, "start", agent="alpha").code == 0
    assert run(a, "claim", "src/api.py", agent="alpha").code == 0
    assert run(c, "release", "--force", "--reason", "stuck", "src/api.py").code == 0
    told = run(a, "check-in", agent="alpha")
    assert told.code == 3
    assert f"forced release by human:{LEAD}, signed by {LEAD}" in told.err


def test_speaking_for_another_agent_is_refused_and_its_bookkeeping_survives(world: World) -> None:
    a, b = world.clones[0], world.clones[1]
    assert run(a, "start", agent="alpha").code == 0
    claim_id = run(a, "claim", "src/api.py", "--json", agent="alpha").json()[0]["id"]
    assert run(b, "start", agent="beta").code == 0  # b is beta's worktree now
    task = run(a, "task", "add", "Write it", "--json", agent="alpha").json()["id"]
    for args in (
        ("release", claim_id),
        ("release", "--all"),
        ("check-in",),
        ("task", "done", task),
        ("task", "block", task, "--reason", "r"),
    ):
        refused = run(b, "--agent", "alpha", *args)
        assert refused.code == 3, (args, refused.out)
        assert (
            "this worktree belongs to beta" in refused.err and "as alpha from here is refused" in refused.err
        )
    assert [c["id"] for c in run(a, "claims", "--json").json()] == [claim_id]
    # A person takes it; a start in alpha's name from beta's worktree tells, but does not use up, the news.
    assert run(world.clones[2], "release", "--force", "--reason", "stuck", claim_id).code == 0
    elsewhere = run(b, "--agent", "alpha", "start", "--json").json()
    assert [x["id"] for x in elsewhere["lost_claims"]] == [claim_id]
    assert run(b, "start", agent="beta").code == 0  # give b back to beta
    at_home = run(a, "start", "--json", agent="alpha").json()
    assert [x["id"] for x in at_home["lost_claims"]] == [claim_id]


def test_signing_in_local_mode(local_repo: Path, tmp_path: Path) -> None:
    r = local_repo
    lead = keygen(tmp_path, "lead")
    (r / ".coord" / "config.toml").unlink()
    commit_signers(r, (LEAD, lead))
    git(r, "config", "user.email", LEAD)
    use_key(r, lead)
    did = propose(r)
    assert run(r, "decisions", "approve", did).code == 0
    assert proof(r, did) == ("approved", True, LEAD)
    assert run(r, "decisions", "implement", did, agent="beta").code == 0


def test_uncommitted_signers_do_not_count(local_repo: Path, tmp_path: Path) -> None:
    r = local_repo
    lead = keygen(tmp_path, "lead")
    (r / ".coord" / "allowed_signers").write_text(f"{LEAD} {lead.with_suffix('.pub').read_text()}")
    (r / ".coord" / "config.toml").write_text('[review]\nallowed_signers = ".coord/allowed_signers"\n')
    did = propose(r)
    assert run(r, "decisions", "approve", did).code == 0  # not committed: not configured, unsigned as before
    assert proof(r, did) == ("approved", None, None)


def test_without_allowed_signers_nothing_changes(world: World) -> None:
    a, _, c = world.clones
    did = propose(a)
    approved = run(c, "decisions", "approve", did)
    assert approved.code == 0 and approved.out.strip() == f"{did} approved by human:human@example.com."
    assert proof(a, did) == ("approved", None, None)
    assert git(world.remote, "log", "-1", "--format=%B", "coord").startswith("human:human@example.com:")
    assert run(a, "decisions", "implement", did, agent="beta").code == 0


def test_verify_reports_unsigned_human_acts_in_the_coord_range(team: tuple[World, Path, Path]) -> None:
    world, _, evil = team
    a, b, c = world.clones
    good = propose(a, title="Signed one")
    assert run(c, "decisions", "approve", good).code == 0
    assert run(a, "claims").code == 0  # fetches the coord branch
    start = git(a, "rev-parse", "origin/coord")
    clean = run(a, "verify", f"{start}~1..origin/coord", "--json")
    assert clean.code == 0, clean.err
    assert clean.json()["unsigned_human_acts"] == []
    bad = propose(a, title="Forged one")
    use_key(b, evil)
    assert run(b, "decisions", "approve", bad).code == 0
    found = run(a, "verify", f"{start}..origin/coord")
    assert found.code == 3
    assert (
        "decision-approve by human:human@example.com is signed by a key not in the allowed signers"
        in found.out
    )
    assert "verify found 1 human act(s) no allowed signer signed" in found.err


def test_doctor_recommends_signing_until_it_is_set_up(
    team: tuple[World, Path, Path], local_repo: Path
) -> None:
    world, _, _ = team
    plain = {f["check"]: f for f in run(local_repo, "doctor", "--json").json()["findings"]}["signing"]
    assert plain["level"] == "warning" and "allowed_signers" in plain["fix"]
    signed = {f["check"]: f for f in run(world.clones[0], "doctor", "--json").json()["findings"]}["signing"]
    assert (signed["level"], signed["message"]) == ("ok", f"human acts are signed; allowed signers: {LEAD}.")


def test_start_and_status_say_whether_a_review_is_verified(team: tuple[World, Path, Path]) -> None:
    world, _, evil = team
    a, b, c = world.clones
    assert run(a, "start", agent="beta").code == 0
    good, bad = propose(a, title="Signed one"), propose(a, title="Forged one")
    assert run(c, "decisions", "approve", good).code == 0
    use_key(b, evil)
    assert run(b, "decisions", "approve", bad).code == 0
    status = {d["id"]: d for d in run(a, "status", "--json").json()["decisions"]}
    assert (status[good]["review_verified"], status[good]["review_signer"]) == (True, LEAD)
    assert (status[bad]["review_verified"], status[bad]["review_signer"]) == (False, None)
    assert "UNVERIFIED" in run(a, "status").out
    text = run(a, "start", agent="beta", env={"GITCOORD_CLOCK_SKEW_SECONDS": "60"}).out
    assert f"{good} approved by human:{LEAD} (verified: {LEAD}): Signed one" in text
    unverified = "(UNVERIFIED: not signed by an allowed signer)"
    assert f"{bad} approved by human:human@example.com {unverified}: Forged one" in text


def test_the_dashboard_shows_verified_and_unverified_reviews(team: tuple[World, Path, Path]) -> None:
    world, _, evil = team
    a, b, c = world.clones
    good, bad = propose(a, title="Signed one"), propose(a, title="Forged one")
    assert run(c, "decisions", "approve", good).code == 0
    use_key(b, evil)
    assert run(b, "decisions", "approve", bad).code == 0
    page = world.root / "board.html"
    assert run(a, "dashboard", "--out", str(page)).code == 0
    html = page.read_text()
    assert f"verified: {LEAD}</span>" in html and "UNVERIFIED</span>" in html


def test_the_notion_bridge_signs_pulled_back_reviews_with_its_own_key(
    local_repo: Path, tmp_path: Path
) -> None:
    from gitcoord.records import Decision
    from tests.fake_notion import FakeNotion
    from tests.test_dashboard import _seed
    from tests.test_notion import page_of, set_up, sync

    r = local_repo
    _seed(r)  # a busy store, made before signing was set up
    propose(r, "alpha", "Another one")
    lead, bridge = keygen(tmp_path, "lead"), keygen(tmp_path, "bridge")
    (r / ".coord" / "config.toml").unlink()
    commit_signers(r, (LEAD, lead), ("notion-bridge", bridge))
    fake = FakeNotion().start()
    try:
        sources = set_up(r, fake)
        sync(r, fake)
        with Coordinator(r) as coord:
            first, second = [d.id for d in coord.snapshot().records(Decision) if d.status == "proposed"][:2]
        person = fake.add_user("Lead Person")

        def approve_in_notion(did: str) -> None:
            fake.human_edit(
                str(page_of(fake, sources["decisions"], did)["id"]),
                person,
                {"Status": {"select": {"name": "approved"}}},
            )

        # The CI job without its key: refused before writing, reported by the sync.
        approve_in_notion(first)
        unsigned = sync(r, fake)
        assert unsigned["pulled_back"] == 0
        assert any("has no signing key" in line for line in unsigned["refused"])  # type: ignore[attr-defined]
        _run_bridge_key_step(r, bridge, tmp_path / "runner")  # what the CI job does with its secret
        approve_in_notion(second)
        assert sync(r, fake)["pulled_back"] == 1
        sync(r, fake)
        props = page_of(fake, sources["decisions"], second)["properties"]
        shown = props["Review proof"]  # type: ignore[index]
        assert shown["rich_text"][0]["plain_text"] == "verified: notion-bridge"
    finally:
        fake.stop()
    assert proof(r, first) == ("proposed", None, None)
    assert proof(r, second) == ("approved", True, "notion-bridge")
    listed = {d["id"]: d for d in run(r, "decisions", "list", "--json").json()}
    assert listed[second]["reviewed_by"] == "notion:lead-person"  # the reviewer is still the Notion user
    assert run(r, "decisions", "implement", second, agent="alpha").code == 0


def _run_bridge_key_step(repo: Path, key: Path, runner_temp: Path) -> None:
    """Run the workflow's own "Sign as the Notion bridge" step, the secret in its env, as Actions would."""
    import os

    import yaml

    from gitcoord.ci import render_workflow

    steps = yaml.safe_load(render_workflow())["jobs"]["sync"]["steps"]
    step = next(s for s in steps if s.get("name") == "Sign as the Notion bridge")
    assert step["if"] == "env.HAS_BRIDGE_KEY == 'true'"
    assert step["env"] == {"BRIDGE_KEY": "${{ secrets.GITCOORD_BRIDGE_SSH_KEY }}"}
    runner_temp.mkdir()
    env = {**os.environ, "RUNNER_TEMP": str(runner_temp), "BRIDGE_KEY": key.read_text()}
    subprocess.run(["bash", "-e", "-c", step["run"]], cwd=repo, env=env, check=True)
    written = runner_temp / "gitcoord-bridge-key"
    assert written.stat().st_mode & 0o777 == 0o600
    assert git(repo, "config", "user.signingkey") == str(written)


@pytest.mark.skipif(shutil.which("gpg") is None, reason="needs gpg")
def test_gpg_signatures_are_verified_when_present(
    local_repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    r = local_repo
    home = tmp_path / "gnupg"
    home.mkdir(mode=0o700)
    monkeypatch.setenv("GNUPGHOME", str(home))

    def gpg_key(uid: str) -> str:
        subprocess.run(
            ["gpg", "--batch", "--passphrase", "", "--quick-gen-key", uid, "ed25519", "sign", "never"],
            check=True,
            capture_output=True,
        )
        out = subprocess.run(
            ["gpg", "--list-secret-keys", "--with-colons", uid], check=True, capture_output=True, text=True
        ).stdout
        return next(line.split(":")[9] for line in out.splitlines() if line.startswith("fpr:"))

    try:
        lead, stranger = gpg_key(f"Lead <{LEAD}>"), gpg_key("Someone <someone@example.com>")
        (r / ".coord" / "config.toml").unlink()
        commit_signers(r, (LEAD, keygen(tmp_path, "ssh-lead")))  # the principal, whatever the key's format
        git(r, "config", "gpg.format", "openpgp")
        good, bad = propose(r, title="Signed one"), propose(r, title="Signed by a stranger")
        git(r, "config", "user.signingkey", lead)
        assert run(r, "decisions", "approve", good).code == 0
        git(r, "config", "user.signingkey", stranger)
        assert run(r, "decisions", "approve", bad).code == 0
        assert proof(r, good) == ("approved", True, LEAD)
        assert proof(r, bad) == ("approved", False, None)
        assert run(r, "decisions", "implement", bad, agent="beta").code == 3
    finally:
        subprocess.run(["gpgconf", "--kill", "gpg-agent"], check=False, capture_output=True)


def test_the_pre_receive_fence_refuses_unsigned_human_acts_on_the_coord_branch(
    team: tuple[World, Path, Path],
) -> None:
    world, _, evil = team
    a, b, c = world.clones
    installed = run(world.remote, "hooks", "install", "--server")
    assert installed.code == 0, installed.err
    good, bad = propose(a, title="Signed one"), propose(a, title="Forged one")
    assert run(c, "decisions", "approve", good).code == 0  # the lead's signed act passes the fence
    use_key(b, evil)
    refused = run(b, "decisions", "approve", bad)
    assert refused.code == 3
    assert "refused the write" in refused.err and "signed by a key not in the allowed signers" in refused.err
    git(b, "config", "--unset", "user.signingkey")
    git(b, "fetch", "-q", "origin", "coord")
    git(b, "checkout", "-q", "-B", "hand", "origin/coord")
    path = b / ".coord" / "decisions" / f"{bad}.toml"
    path.write_text(path.read_text().replace('status = "proposed"', 'status = "approved"'))
    git(b, "commit", "-q", "-am", "approve it")
    pushed = subprocess.run(["git", "push", "origin", "hand:coord"], cwd=b, capture_output=True, text=True)
    assert pushed.returncode != 0
    assert (
        "hand-made change to decisions or claims by a commit no gitcoord write made is unsigned"
        in pushed.stderr
    )
    assert proof(a, bad) == ("proposed", None, None)
    assert proof(a, good) == ("approved", True, LEAD)


def test_a_forced_release_without_a_key_or_with_a_broken_one_writes_nothing(
    team: tuple[World, Path, Path],
) -> None:
    world, _, _ = team
    a, b, _ = world.clones
    assert run(a, "claim", "src/api.py", agent="alpha").code == 0
    before = coord_tip(world)
    no_key = run(b, "release", "--force", "--reason", "stuck", "src/api.py")
    assert no_key.code == 3 and "git config user.signingkey" in no_key.err
    use_key(b, world.root / "no-such-key")
    broken = run(b, "release", "--force", "--reason", "stuck", "src/api.py")
    assert broken.code == 3
    assert broken.err.startswith(
        "gitcoord: git could not sign the commit of this human act; nothing was written"
    )
    assert "Traceback" not in broken.err
    assert coord_tip(world) == before
    assert [c["resource"] for c in run(a, "claims", "--json").json()] == ["src/api.py"]


def test_a_bad_allowed_signers_setting_is_bad_input(local_repo: Path) -> None:
    r = local_repo
    (r / ".coord" / "config.toml").write_text('[review]\nallowed_signers = "../../etc/keys"\n')
    git(r, "add", ".coord/config.toml")
    git(r, "commit", "-q", "-m", "bad")
    res = run(r, "decisions", "list")
    assert res.code == 2
    assert res.err.splitlines()[0] == (
        "gitcoord: review.allowed_signers in .coord/config.toml must be a path "
        "inside the repository, not '../../etc/keys'."
    )


def test_the_mcp_decisions_tool_says_whether_a_review_is_verified(team: tuple[World, Path, Path]) -> None:
    """An agent reading decisions over MCP (the real server, over stdio) sees the review's proof."""
    import anyio

    from .test_mcp import _data, _session_run

    world, _, evil = team
    a, b, c = world.clones
    assert run(a, "start", agent="beta").code == 0
    good, bad = propose(a, title="Signed one"), propose(a, title="Forged one")
    assert run(c, "decisions", "approve", good).code == 0
    use_key(b, evil)
    assert run(b, "decisions", "approve", bad).code == 0
    _, (listed,) = anyio.run(_session_run, a, "beta", [("decisions", {})])
    shown = {d["id"]: d for d in _data(listed)["decisions"]}
    assert (shown[good]["review_verified"], shown[good]["review_signer"]) == (True, LEAD)
    assert (shown[bad]["review_verified"], shown[bad]["review_signer"]) == (False, None)


def test_a_person_blocking_a_task_signs_it_as_a_human_act(team: tuple[World, Path, Path]) -> None:
    """Blocking someone's task releases that agent's claims: from a person it is signed, and a
    person's unsigned block is named by `verify`; an agent parking its own task is not a human act."""
    world, _, evil = team
    a, b, c = world.clones
    start = git(a, "rev-parse", "origin/coord")
    assert run(a, "start", agent="alpha").code == 0
    tasks = [run(a, "task", "add", f"Part {n}", "--resource", f"src/p{n}.py", "--json") for n in (1, 2, 3)]
    ids = [t.json()["id"] for t in tasks]
    for _ in ids:
        assert run(a, "task", "next", agent="alpha").code == 0
    blocked = run(c, "task", "block", ids[0], "--reason", "waiting on the vendor")
    assert blocked.code == 0, blocked.err
    assert "\ngpgsig -----BEGIN SSH SIGNATURE-----" in git(world.remote, "cat-file", "commit", "coord")
    use_key(b, evil)
    assert run(b, "task", "block", ids[1], "--reason", "forged").code == 0
    assert run(a, "task", "block", ids[2], "--reason", "mine", agent="alpha").code == 0
    log = [e for e in run(a, "log", "--json").json() if e.get("action") == "task-block"]
    by_what = {t: next(e for e in log if e["subject"].endswith(f" {t}")) for t in ids}
    assert by_what[ids[0]]["signed_by"] == LEAD
    assert by_what[ids[1]]["signed_by"] is None
    assert "signed_by" not in by_what[ids[2]]  # the agent's own: not a human act
    found = run(a, "verify", f"{start}..origin/coord")
    assert found.code == 3
    assert "task-block by human:human@example.com is signed by a key not in the allowed signers" in found.out
    assert "verify found 1 human act(s) no allowed signer signed" in found.err
