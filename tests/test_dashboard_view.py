"""The dashboard as a lead reads it (issue 16): a timeline that fits the activity, a legible
legend, absolute times, the repository's name, ids that never wrap, agents' live work, and the
coming conflicts (issue 15)."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

from gitcoord import Coordinator
from gitcoord.dashboard import render_dashboard

from .conftest import git, run
from .test_dashboard import parse

HOUR = 3600


def _svg_window(page: str) -> tuple[float, float]:
    """(seconds shown, share of the plot the widest bar takes) of the default timeline view."""
    view = page.split('class="tlview default"')[1].split("</svg>")[0]
    start, end = re.search(r'data-start="(\d+)" data-end="(\d+)"', view).groups()  # type: ignore[union-attr]
    plot = float(re.search(r'data-plot="([\d.]+)"', view).group(1))  # type: ignore[union-attr]
    widths = [float(w) for w in re.findall(r'<rect class="bar [a-z]+"[^>]* width="([\d.]+)"', view)]
    return int(end) - int(start), max(widths, default=0.0) / plot


def test_the_timeline_fits_the_activity_not_a_fixed_day(local_repo: Path) -> None:
    two_hours_ago = {"GITCOORD_CLOCK_SKEW_SECONDS": str(-2 * HOUR)}
    assert (
        run(local_repo, "claim", "src/a.py", "--minutes", "240", agent="alpha", env=two_hours_ago).code == 0
    )
    assert run(local_repo, "claim", "src/b.py", agent="beta").code == 0
    with Coordinator(local_repo) as coord:
        page = render_dashboard(coord)
    shown, widest = _svg_window(page)
    # Two hours of activity fill the plot: no sliver at the right edge of a 24-hour axis.
    assert 2 * HOUR <= shown <= 3 * HOUR, shown
    assert widest > 0.6, widest
    # Zoom by plain anchors: the last hour and the whole window, no script.
    for anchor in ("#tl-fit", "#tl-1h", "#tl-window"):
        assert f'href="{anchor}"' in page, anchor
    assert "<script" not in page


def test_since_chooses_the_window_and_bad_input_is_refused(local_repo: Path, tmp_path: Path) -> None:
    assert run(local_repo, "claim", "src/a.py", agent="alpha").code == 0
    out = tmp_path / "d.html"
    assert run(local_repo, "dashboard", "--out", str(out), "--since", "6h").code == 0
    window = out.read_text().split('id="tl-window"')[1].split("</svg>")[0]
    start, end = re.search(r'data-start="(\d+)" data-end="(\d+)"', window).groups()  # type: ignore[union-attr]
    assert int(end) - int(start) == 6 * HOUR
    bad = run(local_repo, "dashboard", "--out", str(out), "--since", "soon")
    assert bad.code == 2
    assert "--since takes a duration such as 90m, 6h or 2d, not 'soon'." in bad.err
    assert "Traceback" not in bad.err


def test_legend_lanes_ticks_and_markers(local_repo: Path) -> None:
    assert run(local_repo, "start", agent="alpha").code == 0
    assert run(local_repo, "claim", "src/a.py", agent="alpha").code == 0
    assert run(local_repo, "check-in", "--progress", "40", "-m", "half", agent="alpha").code == 0
    assert run(local_repo, "claim", "--shared", "db:schema", agent="beta").code == 0
    assert run(local_repo, "claim", "docs/", agent="gamma").code == 0
    assert run(local_repo, "release", "docs/", agent="gamma").code == 0
    help_res = run(local_repo, "request-help", "--to", "alpha", "need a.py", agent="beta")
    assert help_res.code == 0, help_res.err
    with Coordinator(local_repo) as coord:
        page = render_dashboard(coord)
    legend = page.split('class="legend"')[1].split("</p>")[0]
    for entry in ("held", "released or taken over", "shared", "auto", "check-in", "help request", "conflict"):
        assert entry in legend, entry
    # Each state has its own colour in the legend, all different.
    swatches = re.findall(r'<i class="sw ([a-z-]+)"', legend)
    assert {"held", "ended", "shared", "auto"} <= set(swatches)
    css = page.split("<style>")[1].split("</style>")[0]
    colours = {s: re.search(rf"\.sw\.{s}\{{background:(#[0-9a-f]+)", css).group(1) for s in swatches[:4]}  # type: ignore[union-attr]
    assert len(set(colours.values())) == 4, colours
    view = page.split('class="tlview default"')[1].split("</svg>")[0]
    assert re.findall(r'<g class="lane" data-agent="([a-z]+)"', view) == ["alpha", "beta", "gamma"]
    alpha = view.split('data-agent="alpha"')[1].split('</g><g class="lane"')[0]
    assert alpha.count('class="checkin"') == 1 and 'class="help"' not in alpha
    beta = view.split('data-agent="beta"')[1].split('</g><g class="lane"')[0]
    assert 'class="help"' in beta  # on the lane of who asked
    assert 'class="bar held"' in alpha
    assert 'class="bar shared"' in view and 'class="bar ended"' in view


def test_times_are_absolute_and_the_generation_time_is_stated(local_repo: Path) -> None:
    assert run(local_repo, "claim", "src/a.py", agent="alpha").code == 0
    with Coordinator(local_repo) as coord:
        now = coord.store.clock()
        page = render_dashboard(coord)
    text = parse(page).all_text
    assert f"as of {now:%H:%M} UTC" in text
    assert " ago" not in text and "in 59 min" not in text


def test_title_is_the_repository_name(tmp_path: Path) -> None:
    bare = tmp_path / "rover-firmware.git"
    git(tmp_path, "init", "-q", "--bare", str(bare))
    seed = tmp_path / "seed"
    seed.mkdir()
    git(seed, "init", "-q")
    (seed / "f").write_text("x\n")
    git(seed, "add", "f")
    git(seed, "commit", "-q", "-m", "one")
    git(seed, "push", "-q", str(bare), "HEAD:main")
    clone = tmp_path / "human"
    git(tmp_path, "clone", "-q", str(bare), str(clone))
    assert run(clone, "init").code == 0
    with Coordinator(clone) as coord:
        page = parse(render_dashboard(coord))
    titles = [t for t in page.text if "gitcoord" in t]
    assert "rover-firmware · gitcoord" in titles[0], titles
    assert "human" not in " ".join(titles)
    # Local mode, no remote: the top-level directory.
    local = tmp_path / "atlas"
    local.mkdir()
    git(local, "init", "-q")
    (local / "f").write_text("x\n")
    git(local, "add", "f")
    git(local, "commit", "-q", "-m", "one")
    assert run(local, "init").code == 0
    with Coordinator(local) as coord:
        assert "<title>atlas · gitcoord</title>" in render_dashboard(coord)


def test_ids_never_wrap_and_agents_show_their_live_work(local_repo: Path) -> None:
    assert run(local_repo, "start", agent="alpha").code == 0
    assert run(local_repo, "claim", "src/a.py", "src/b.py", agent="alpha").code == 0
    assert (
        run(local_repo, "check-in", "src/a.py", "--progress", "90", "-m", "tests pass", agent="alpha").code
        == 0
    )
    assert run(local_repo, "start", agent="idle").code == 0
    assert (
        run(local_repo, "log-error", "--type", "code_error", "--severity", "high", "boom", agent="alpha").code
        == 0
    )
    with Coordinator(local_repo) as coord:
        page = render_dashboard(coord)
    css = page.split("<style>")[1].split("</style>")[0]
    assert re.search(r"td\.id\{[^}]*white-space:nowrap", css)
    ids = re.findall(r'<td class="id">([^<]*)</td>', page)
    assert any(i.startswith("C-") for i in ids) and any(i.startswith("E-") for i in ids)
    agents = page.split('id="agents"')[1].split("</section>")[0]
    alpha_row = next(r for r in agents.split("<tr") if "<b>alpha</b>" in r)
    # Each live claim with its own progress and last words.
    assert "src/a.py" in alpha_row and "90%" in alpha_row and "tests pass" in alpha_row
    assert "src/b.py" in alpha_row
    idle_row = next(r for r in agents.split("<tr") if "<b>idle</b>" in r)
    cells = re.findall(r"<td[^>]*>(.*?)</td>", idle_row)
    assert cells[-2] == "", cells  # no next check-in for an idle agent holding nothing


def test_decisions_awaiting_review_come_first(local_repo: Path) -> None:
    for title in ("Old approved", "Needs a look"):
        res = run(
            local_repo, "log-decision", title, "--category", "process", "--impact", "low",
            "--rationale", "r", agent="alpha",
        )  # fmt: skip
        assert res.code == 0, res.err
    assert run(local_repo, "decisions", "approve", "D-1", "--note", "ok").code == 0
    with Coordinator(local_repo) as coord:
        page = render_dashboard(coord)
    assert page.index('id="decisions"') < page.index('id="agents"')
    decisions = page.split('id="decisions"')[1].split("</section>")[0]
    assert decisions.index("Needs a look") < decisions.index("Old approved")


def test_the_coming_conflicts_are_listed_and_marked(local_repo: Path, tmp_path: Path) -> None:
    (local_repo / "shared.txt").write_text("one\ntwo\nthree\n")
    git(local_repo, "add", "shared.txt")
    git(local_repo, "commit", "-q", "-m", "shared file")
    trees = {}
    for agent in ("alpha", "beta"):
        tree = tmp_path / f"wt-{agent}"
        git(local_repo, "worktree", "add", "-q", "-b", f"work/{agent}", str(tree))
        (tree / "shared.txt").write_text(f"one\n{agent} was here\nthree\n")
        git(tree, "commit", "-q", "-am", f"{agent} edits")
        assert run(tree, "start", agent=agent).code == 0
        trees[agent] = tree
    with Coordinator(local_repo) as coord:
        page = render_dashboard(coord)
    section = page.split('id="conflicts"')[1].split("</section>")[0]
    text = parse(section).all_text
    assert "alpha" in text and "beta" in text and "shared.txt" in text and "rebase" in text
    view = page.split('class="tlview default"')[1].split("</svg>")[0]
    assert view.count('class="conflict"') == 2  # one marker on each lane


def test_an_auto_claim_has_its_own_colour_and_badge(local_repo: Path) -> None:
    from gitcoord.records import Claim
    from gitcoord.store import Txn

    def plant(txn: Txn) -> None:
        now = txn.now
        txn.put(
            Claim(
                id=txn.new_id("C"), agent="alpha", resource="src/auto.py", token=1, auto=True,
                created_at=now, last_check_in=now, expires_at=now + timedelta(minutes=30),
            )
        )  # fmt: skip
        txn.action, txn.what = "claim", "src/auto.py"

    with Coordinator(local_repo) as coord:
        coord.write(plant, actor="alpha")
        page = render_dashboard(coord)
    view = page.split('class="tlview default"')[1].split("</svg>")[0]
    assert 'class="bar auto"' in view and "(exclusive, auto, live)" in view
    claims = page.split('id="claims"')[1].split("</section>")[0]
    assert 'class="badge auto"' in claims
