"""The HTML dashboard: every view present, all text escaped, nothing from the network, renders in Chromium."""

from __future__ import annotations

import shutil
import struct
import subprocess
import zlib
from datetime import date, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path

import pytest

from gitcoord import Coordinator
from gitcoord.dashboard import render_dashboard, write_dashboard
from gitcoord.records import Agent, Claim, Decision, ErrorRecord, HelpRequest, Summary, Task
from gitcoord.store import Txn
from gitcoord.timeline import claim_intervals

from .conftest import World, run

EVIL = '<script>alert("x")</script><img src="https://evil.example/x.png">'


class Page(HTMLParser):
    """What a browser would see: the tags, their attributes, the text (script and style apart)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []
        self._in: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        self._in.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag in self._in:
            while self._in and self._in.pop() != tag:
                pass

    def handle_data(self, data: str) -> None:
        if "style" not in self._in:
            self.text.append(data)

    @property
    def all_text(self) -> str:
        return " ".join(" ".join(self.text).split())


def parse(page: str) -> Page:
    parser = Page()
    parser.feed(page)
    parser.close()
    return parser


def _seed(repo: Path) -> None:
    """A busy store: live, released and dead claims, a stale agent, one record of every kind."""
    assert run(repo, "start", "--role", "backend", agent="alpha").code == 0
    assert run(repo, "claim", "src/api.py", "-m", EVIL, agent="alpha").code == 0
    assert run(repo, "check-in", "--progress", "40", "-m", "tests written", agent="alpha").code == 0
    assert run(repo, "claim", "docs/guide/", agent="beta").code == 0
    assert run(repo, "release", "docs/guide/", "-m", "done", agent="beta").code == 0
    assert run(repo, "claim", "--shared", "db:migrations", agent="beta").code == 0
    with Coordinator(repo) as coord:
        coord.write(lambda txn: _records(txn), actor="ops")


def _records(txn: Txn) -> None:
    now = txn.now
    txn.put(
        Agent(
            name="gamma",
            role="docs",
            last_check_in=now - timedelta(hours=3),
            next_check_in=now - timedelta(hours=2),
            resource="",
            message="went quiet",
        )
    )
    txn.put(
        Claim(
            id=txn.new_id("C"),
            agent="gamma",
            resource="old/lingering.txt",
            token=1,
            created_at=now - timedelta(hours=5),
            last_check_in=now - timedelta(hours=3),
            expires_at=now - timedelta(hours=2),
        )
    )
    txn.put(
        HelpRequest(
            id=txn.new_id("H"),
            from_agent="beta",
            to="alpha",
            priority="urgent",
            resource="src/api.py",
            message="need src/api.py for the schema",
            created_at=now,
        )
    )
    txn.put(
        HelpRequest(
            id=txn.new_id("H"),
            from_agent="gamma",
            to="any",
            priority="low",
            message="review my wording",
            created_at=now,
            status="resolved",
            resolved_by="alpha",
            resolution_note="looks fine",
        )
    )
    txn.put(
        ErrorRecord(
            id=txn.new_id("E"),
            agent="alpha",
            type="code_error",
            severity="critical",
            message="test suite crashed",
            trace="Traceback: boom\n  line 3",
            created_at=now,
        )
    )
    txn.put(
        ErrorRecord(
            id=txn.new_id("E"),
            agent="beta",
            type="timeout",
            severity="low",
            message="slow fetch " + EVIL,
            created_at=now,
        )
    )
    txn.put(
        Decision(
            id=txn.new_id("D"),
            agent="alpha",
            category="architecture",
            impact="high",
            title="Use SQLite for the cache",
            rationale="one file, no server",
            alternatives=["Redis", "in-memory"],
            created_at=now,
        )
    )
    txn.put(
        Decision(
            id=txn.new_id("D"),
            agent="beta",
            category="process",
            impact="low",
            title="Squash merges",
            rationale="clean history",
            created_at=now,
            status="approved",
            reviewed_by="human:lead@example.com",
            review_note="ok",
        )
    )
    txn.put(
        Task(
            id=txn.new_id("T"),
            title="Write the API docs",
            resources=["docs/api.md"],
            assignee="gamma",
            priority="high",
            created_by="alpha",
            created_at=now,
            status="blocked",
            block_reason="waiting for the schema",
        )
    )
    txn.put(Summary(agent="alpha", day=date(2026, 1, 1), completed="old day", next="x", created_at=now))
    txn.put(
        Summary(
            agent="alpha",
            day=date(2026, 1, 2),
            day_number=2,
            completed="endpoint merged",
            next="pagination",
            blockers="none",
            metrics={"tests": 42},
            created_at=now,
        )
    )
    txn.action, txn.what = "seed", "dashboard fixtures"


@pytest.fixture
def busy_repo(local_repo: Path) -> Path:
    _seed(local_repo)
    return local_repo


def test_dashboard_shows_every_view(busy_repo: Path, tmp_path: Path) -> None:
    out = tmp_path / "site" / "dash.html"
    res = run(busy_repo, "dashboard", "--out", str(out), "--json")
    assert res.code == 0, res.err
    assert res.json()["path"] == str(out) and res.json()["bytes"] == out.stat().st_size
    page = parse(out.read_text(encoding="utf-8"))
    text = page.all_text
    for expected in (
        "Agents",
        "Timeline: claims per agent",
        "Live claims",
        "Help requests",
        "Errors",
        "Decisions",
        "Tasks",
        "Latest summaries",
        "alpha",
        "beta",
        "gamma",
        "backend",
        "src/api.py",
        "db:migrations",
        "tests written",
        "1 stale agent: missed the check-in.",
        "Priority urgent",
        "need src/api.py for the schema",
        "Priority low",
        "looks fine",
        "Severity critical",
        "test suite crashed",
        "Traceback: boom",
        "Severity low",
        "Awaiting review",
        "Use SQLite for the cache",
        "Redis; in-memory",
        "Approved",
        "human:lead@example.com: ok",
        "Blocked",
        "Write the API docs",
        "waiting for the schema",
        "endpoint merged",
        "pagination",
        "tests: 42",
        "alpha · 2026-01-02 (day 2)",
    ):
        assert expected in text, expected
    # Only the newest summary of an agent is shown.
    assert "old day" not in text
    # The stale agent is flagged on its row.
    rows = out.read_text().split("<tr>")
    gamma_row = next(r for r in rows if "<b>gamma</b>" in r)
    assert 'class="badge stale"' in gamma_row
    # A released claim and a dead one are not live claims; the live ones are listed.
    live_table = out.read_text().split('id="claims"')[1].split("</section>")[0]
    assert "src/api.py" in live_table and "db:migrations" in live_table
    assert "docs/guide/" not in live_table and "old/lingering.txt" not in live_table


def test_dashboard_escapes_text_and_loads_nothing(busy_repo: Path) -> None:
    with Coordinator(busy_repo) as coord:
        html_text = render_dashboard(coord)
    page = parse(html_text)
    # The hostile message is shown as text, never as markup.
    assert EVIL in page.all_text
    assert not [
        t for t, _ in page.tags if t in {"script", "img", "link", "iframe", "object", "embed", "base"}
    ]
    for tag, attrs in page.tags:
        for name, value in attrs.items():
            assert not name.startswith("on"), (tag, name)
            if name in {"href", "src", "xlink:href", "action", "srcset"}:
                assert value is not None and value.startswith("#"), (tag, name, value)
    assert "url(" not in html_text and "@import" not in html_text
    csp = [a for t, a in page.tags if t == "meta" and a.get("http-equiv") == "Content-Security-Policy"]
    assert csp and "default-src 'none'" in (csp[0]["content"] or "")
    # The timeline's views (fitted, last hour, whole window): plain SVG, switched by anchors.
    assert sum(1 for t, _ in page.tags if t == "svg") == 3


def render_dashboard_default_view(page: Page) -> list[tuple[str, dict[str, str | None]]]:
    """The tags of the timeline's first view (the one fitted to the activity)."""
    svgs = [n for n, (t, _) in enumerate(page.tags) if t == "svg"]
    return page.tags[svgs[0] : svgs[1]]


def test_timeline_draws_claims_from_the_history(busy_repo: Path) -> None:
    with Coordinator(busy_repo) as coord:
        snap = coord.snapshot()
        now = coord.store.clock()
        found = {i.resource: i for i in claim_intervals(coord, snap, now)}
        page = parse(render_dashboard(coord))
    assert set(found) == {"src/api.py", "docs/guide/", "db:migrations", "old/lingering.txt"}
    released = found["docs/guide/"]
    assert not released.live and released.agent == "beta" and released.start <= released.end <= now
    assert found["src/api.py"].live and found["src/api.py"].end == now
    assert found["db:migrations"].mode == "shared"
    # Dead but still in the tree: drawn up to its expiry, not to now.
    dead = found["old/lingering.txt"]
    record = snap.record(Claim, dead.claim_id)
    assert record is not None
    assert not dead.live and dead.end == record.expires_at and dead.start == record.created_at
    assert dead.end - dead.start == timedelta(hours=3) and dead.end < now
    view = render_dashboard_default_view(page)
    bars = [a.get("class") for t, a in view if t == "rect"]
    assert bars.count("bar held") == 1 and bars.count("bar shared") == 1
    assert bars.count("bar ended") == 2
    # One row per agent, stale gamma included.
    assert {"alpha", "beta", "gamma"} <= set(page.text)


def test_timeline_ends_a_taken_over_claim_at_the_takeover(local_repo: Path) -> None:
    assert run(local_repo, "claim", "src/x.py", "--minutes", "1", agent="alpha").code == 0
    # beta's clock is two hours ahead: alpha's lease is dead there, so beta takes it over.
    taken = run(local_repo, "claim", "src/x.py", agent="beta", env={"GITCOORD_CLOCK_SKEW_SECONDS": "7200"})
    assert taken.code == 0, taken.err
    with Coordinator(local_repo) as coord:
        log = coord.log(limit=1)[0]
        spans = claim_intervals(coord, coord.snapshot(), coord.store.clock())
    assert "C-1 (alpha)" in log["takeover"]
    by_agent = {s.agent: s for s in spans}
    assert set(by_agent) == {"alpha", "beta"}
    assert not by_agent["alpha"].live and by_agent["beta"].live
    # alpha's claim ended with the commit that took it over.
    assert by_agent["alpha"].end == datetime.fromisoformat(log["time"])


def test_dashboard_of_an_empty_store(local_repo: Path, tmp_path: Path) -> None:
    with Coordinator(local_repo) as coord:
        path = write_dashboard(coord, tmp_path / "empty.html")
    text = parse(path.read_text()).all_text
    assert "no agent has started yet" in text and "no activity in this window" in text
    assert "no live claims" in text and "no summaries yet" in text
    assert list(tmp_path.glob(".empty.html.*")) == []  # the temporary file was renamed, not left behind


def test_dashboard_in_remote_mode_fetches_first(world: World, tmp_path: Path) -> None:
    a, b = world.clones[0], world.clones[1]
    assert run(a, "claim", "remote/only.py", agent="alpha").code == 0
    out = tmp_path / "b.html"
    assert run(b, "dashboard", "--out", str(out)).code == 0
    assert "remote/only.py" in parse(out.read_text()).all_text


# -- a real browser ---------------------------------------------------------------------

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def _chromium(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    assert CHROMIUM
    cmd = [
        CHROMIUM,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--disable-dev-shm-usage",
        f"--user-data-dir={tmp_path / 'chromium-profile'}",
        *args,
    ]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120)


def _png_colours(data: bytes, rows: int) -> int:
    """Distinct pixel colours among the first `rows` rows of an 8-bit RGB(A) PNG."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, header = 8, b"", b""
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos : pos + 8])
        chunk = data[pos + 8 : pos + 8 + length]
        header = chunk if kind == b"IHDR" else header
        idat += chunk if kind == b"IDAT" else b""
        pos += 12 + length
    width, height, depth, colour = struct.unpack(">IIBB", header[:10])
    assert depth == 8 and colour in (2, 6)
    bpp = 3 if colour == 2 else 4
    raw = zlib.decompress(idat)
    stride = width * bpp
    prev = bytearray(stride)
    colours: set[bytes] = set()
    for y in range(min(rows, height)):
        line = raw[y * (stride + 1) : (y + 1) * (stride + 1)]
        row = _unfilter(line[0], bytearray(line[1:]), prev, bpp)
        colours.update(bytes(row[i : i + 3]) for i in range(0, stride, bpp * 7))
        prev = row
    return len(colours)


def _unfilter(kind: int, row: bytearray, prev: bytearray, bpp: int) -> bytearray:
    for i in range(len(row)):
        left = row[i - bpp] if i >= bpp else 0
        up = prev[i]
        corner = prev[i - bpp] if i >= bpp else 0
        if kind == 1:
            row[i] = (row[i] + left) & 0xFF
        elif kind == 2:
            row[i] = (row[i] + up) & 0xFF
        elif kind == 3:
            row[i] = (row[i] + (left + up) // 2) & 0xFF
        elif kind == 4:
            p = left + up - corner
            pa, pb, pc = abs(p - left), abs(p - up), abs(p - corner)
            pred = left if pa <= pb and pa <= pc else up if pb <= pc else corner
            row[i] = (row[i] + pred) & 0xFF
    return row


@pytest.mark.skipif(CHROMIUM is None, reason="headless Chromium is not installed (apt-get install chromium)")
def test_dashboard_renders_in_headless_chromium(busy_repo: Path, tmp_path: Path) -> None:
    out = tmp_path / "dash.html"
    assert run(busy_repo, "dashboard", "--out", str(out)).code == 0
    dom = _chromium(tmp_path, "--dump-dom", out.as_uri())
    assert dom.returncode == 0, dom.stderr[-2000:]
    rendered = parse(dom.stdout)
    assert (
        "Use SQLite for the cache" in rendered.all_text
        and "need src/api.py for the schema" in rendered.all_text
    )
    # The hostile text stayed text in the live DOM too: no script ran, no element was injected.
    assert not [t for t, _ in rendered.tags if t in {"script", "img"}] and EVIL in rendered.all_text
    shot = tmp_path / "shot.png"
    res = _chromium(tmp_path, "--window-size=1000,700", f"--screenshot={shot}", out.as_uri())
    assert res.returncode == 0 and shot.exists(), res.stderr[-2000:]
    # Not blank: the dark header, the light page, badges and antialiased text give many colours.
    assert _png_colours(shot.read_bytes(), rows=260) > 20


def test_an_unwritable_destination_is_bad_input_not_a_crash(local_repo: Path, tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where a directory should be\n")
    res = run(local_repo, "dashboard", "--out", str(blocker / "dash.html"))
    assert res.code == 2, res.err
    assert f"cannot write the dashboard to {blocker / 'dash.html'}" in res.err and "Traceback" not in res.err
    assert blocker.read_text() == "a file where a directory should be\n"
