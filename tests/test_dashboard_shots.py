"""The dashboard in a real browser: the demo's page and a 10-agent, 1-day world, screenshotted.

Headless Chromium renders each page; the test reads the live DOM (`--dump-dom`) for the title,
the legend, the lanes and the unwrapped ids, and takes a screenshot. With
GITCOORD_SCREENSHOTS=DIR the screenshots are written there (docs/dashboard.png and
docs/dashboard-10-agents.png are made this way).
"""

from __future__ import annotations

import os
import re
import shutil
import time
from pathlib import Path

import pytest

from gitcoord import Coordinator
from gitcoord.dashboard import write_dashboard

from .conftest import make_repo, run, spawn
from .test_dashboard import CHROMIUM, _chromium, _png_colours, parse

needs_chromium = pytest.mark.skipif(
    CHROMIUM is None, reason="headless Chromium is not installed (apt-get install chromium)"
)
HOUR = 3600


def _shoot(tmp_path: Path, page: Path, name: str, size: str) -> Path:
    shot = tmp_path / name
    res = _chromium(
        tmp_path, "--hide-scrollbars", f"--window-size={size}", f"--screenshot={shot}", page.as_uri()
    )
    assert res.returncode == 0 and shot.exists(), res.stderr[-2000:]
    assert _png_colours(shot.read_bytes(), rows=400) > 20  # not blank
    keep = os.environ.get("GITCOORD_SCREENSHOTS")
    if keep:
        Path(keep).mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shot, Path(keep) / name)
    return shot


def _dom(tmp_path: Path, page: Path) -> str:
    dom = _chromium(tmp_path, "--dump-dom", page.as_uri())
    assert dom.returncode == 0, dom.stderr[-2000:]
    return dom.stdout


def _default_view(dom: str) -> str:
    return dom.split('class="tlview default"')[1].split("</svg>")[0]


def test_demo_writes_its_page_where_it_was_run(tmp_path: Path) -> None:
    # The timeout only keeps a hung demo from hanging the suite; speed is measured in tests/bench.
    res = spawn(tmp_path, "demo", timeout=600)
    assert res.code == 0, res.out + res.err
    page = tmp_path / "gitcoord-demo.html"
    assert f"dashboard: {page}" in res.out
    assert page.read_text().lstrip().lower().startswith("<!doctype html")
    chosen = tmp_path / "pages" / "mine.html"
    res = spawn(tmp_path, "demo", "--out", str(chosen), timeout=600)
    assert res.code == 0 and f"dashboard: {chosen}" in res.out and chosen.exists()
    taken = spawn(tmp_path, "demo", "--out", str(tmp_path))
    assert taken.code == 2 and f"{tmp_path} is a directory" in taken.err


@needs_chromium
def test_screenshot_of_the_demo(tmp_path: Path) -> None:
    res = spawn(tmp_path, "demo", timeout=600)
    assert res.code == 0, res.out + res.err
    page = tmp_path / "gitcoord-demo.html"
    dom = _dom(tmp_path, page)
    rendered = parse(dom)
    assert "<title>ascent-basecamp · gitcoord</title>" in dom
    assert re.findall(r'<g class="lane" data-agent="([a-z]+)"', _default_view(dom)) == [
        "alpha",
        "beta",
        "gamma",
    ]
    for entry in ("held", "shared", "released or taken over", "check-in", "help request"):
        assert entry in rendered.all_text, entry
    _shoot(tmp_path, page, "dashboard.png", "1280,1500")


def _at(hours_ago: float) -> dict[str, str]:
    """The clock aid for the record times, and the commit time to match (the timeline reads both)."""
    seconds = int(hours_ago * HOUR)
    return {
        "GITCOORD_CLOCK_SKEW_SECONDS": str(-seconds),
        "GIT_COMMITTER_DATE": f"@{int(time.time()) - seconds} +0000",
    }


def _ten_agent_day(repo: Path) -> None:
    """Ten agents working through one day: the clock aid spreads their claims over 24 hours."""
    for n in range(10):
        agent = f"agent-{n:02d}"
        for step in range(3):
            hours_ago = 22 - n * 2.2 - step * 0.6
            resource = f"src/module_{n}/part_{step}.py"
            res = run(repo, "claim", resource, "--minutes", "240", agent=agent, env=_at(hours_ago))
            assert res.code == 0, res.err
            message = f"step {step + 1} of 3"
            assert run(repo, "check-in", resource, "--progress", str(30 * (step + 1)), "-m", message,
                       agent=agent, env=_at(hours_ago - 0.4)).code == 0  # fmt: skip
            if step < 2 or n % 3 == 0:
                assert run(repo, "release", resource, agent=agent, env=_at(hours_ago - 0.5)).code == 0
    for agent in ("agent-07", "agent-08"):  # still at it: their last claims are live now
        assert run(repo, "check-in", "--progress", "80", "-m", "almost there", agent=agent).code == 0
    assert run(repo, "claim", "--shared", "db:schema", agent="agent-01").code == 0
    assert run(repo, "request-help", "--to", "agent-02", "schema review", agent="agent-05").code == 0


@needs_chromium
def test_screenshot_of_ten_agents_over_a_day(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "orbital-planner")
    assert run(repo, "init").code == 0
    _ten_agent_day(repo)
    with Coordinator(repo) as coord:
        page = write_dashboard(coord, tmp_path / "ten.html")
    dom = _dom(tmp_path, page)
    assert "<title>orbital-planner · gitcoord</title>" in dom
    view = _default_view(dom)
    assert len(re.findall(r'<g class="lane"', view)) == 10
    start, end = (int(x) for x in re.search(r'data-start="(\d+)" data-end="(\d+)"', view).groups())  # type: ignore[union-attr]
    assert 20 * HOUR < end - start <= 24 * HOUR  # the day's activity fills the plot
    assert 'class="bar held"' in view and 'class="bar ended"' in view and 'class="bar shared"' in view
    assert re.search(r"td\.id\{[^}]*white-space:nowrap", dom)
    _shoot(tmp_path, page, "dashboard-10-agents.png", "1280,1300")
