"""`gitcoord dashboard --serve`: a real server process, real HTTP GETs, loopback only."""

from __future__ import annotations

import os
import queue
import re
import socket
import subprocess
import threading
import urllib.request
from pathlib import Path

from .conftest import GITCOORD, run, wait_for


def _listening_addresses(port: int) -> set[str]:
    """Local addresses (hex, as the kernel writes them) listening on `port`, from /proc/net/tcp*."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        if not os.path.exists(table):
            continue
        for line in Path(table).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            address, hex_port = local.split(":")
            if int(hex_port, 16) == port and state == "0A":
                found.add(address)
    return found


def _get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=60) as res:
        assert res.status == 200 and res.headers["Content-Type"].startswith("text/html")
        return str(res.read().decode("utf-8"))


def serve(repo: Path) -> tuple[subprocess.Popen[str], int]:
    """`dashboard --serve 0` in its own process, once it has said where: (process, port)."""
    proc = subprocess.Popen(
        [*GITCOORD, "-C", str(repo), "dashboard", "--serve", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines: queue.Queue[str] = queue.Queue()
    assert proc.stdout is not None
    out = proc.stdout
    threading.Thread(target=lambda: [lines.put(x) for x in out], daemon=True).start()
    said: list[str] = []

    def announced() -> bool:
        while not lines.empty():
            said.append(lines.get_nowait())
        return bool(said) or proc.poll() is not None

    wait_for(announced, "the server's URL")
    match = re.search(r"http://127\.0\.0\.1:(\d+)/", said[0] if said else "")
    assert match, said
    return proc, int(match.group(1))


def test_serve_regenerates_on_each_load_on_loopback_only(local_repo: Path) -> None:
    assert run(local_repo, "claim", "src/first.py", agent="alpha").code == 0
    proc, port = serve(local_repo)
    try:
        url = f"http://127.0.0.1:{port}/"
        assert "src/first.py" in _get(url)
        # Bound to the loopback address only, never to every interface.
        assert _listening_addresses(port) == {"0100007F"}
        # A new claim shows on the next load: no restart, no file to rewrite.
        assert run(local_repo, "claim", "src/second.py", agent="beta").code == 0
        assert "src/second.py" in _get(url)
        try:
            urllib.request.urlopen(url + "other", timeout=60)
            raise AssertionError("a path other than / was served")
        except urllib.error.HTTPError as exc:
            assert exc.code == 404
    finally:
        proc.terminate()
        proc.wait(timeout=60)


def test_serve_refuses_a_bad_or_busy_port(local_repo: Path) -> None:
    bad = run(local_repo, "dashboard", "--serve", "70000")
    assert bad.code == 2 and "--serve takes a port from 0 to 65535, not 70000." in bad.err
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        res = run(local_repo, "dashboard", "--serve", str(port))
    assert res.code == 2, res.err
    assert f"cannot serve on 127.0.0.1:{port}:" in res.err and "Traceback" not in res.err
