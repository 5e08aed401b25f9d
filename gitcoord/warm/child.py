"""One call in a forked child of the warm server, made to look like the caller's own process.

The child takes the caller's standard streams, working directory, umask, environment and argv,
resets what the server changed (signals, the std streams), and runs `gitcoord.console.entry` exactly as
the console script would in-process (an installed hook's `gitcoord.hooks.run.entry` for a hook). It
never returns: its exit status is the call's.
"""

from __future__ import annotations

import contextlib
import io
import locale
import os
import signal
import sys
import time
import traceback
from typing import Any, NoReturn

from gitcoord.hooks.parent import take_callers_parent

# The signals a caller's client forwards to its call (and the server blocks across the fork).
CALLER_SIGNALS = frozenset({signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT})


def run_call(
    request: dict[str, Any],
    fds: list[int],
    mask: set[int | signal.Signals] | None = None,
    kept: str = "",
    said: int = -1,
) -> NoReturn:
    """Take the caller's place and run its call. `mask`: the signal mask to restore once the
    handlers are the caller's (a signal forwarded meanwhile is then delivered, not lost); `kept`:
    the server's runtime directory, where a hook keeps what git said of its repository
    (`kept.SavedWorkspace`); `said`: where the exit code is written as the child exits, for the
    server to report it at once (`hooks.run.AT_EXIT`)."""
    # A process group of its own (the server sets it too, whichever runs first): a signal the
    # client forwards, or the kill of a caller that vanished, reaches every process the call
    # started, as a signal to the caller's group reaches them in-process.
    with contextlib.suppress(OSError):
        os.setpgid(0, 0)
    if request.get("entry") == "hook" and request["argv"][1:2] == ["pre-commit"]:
        _start_staged(request, fds[3])
    try:
        _become_caller(request, fds)
    except BaseException:  # could not take the caller's place: say so, as an internal error
        os.write(
            fds[2] if len(fds) > 2 else 2,
            b"gitcoord: internal error: the warm server could not run the call.\n",
        )
        os._exit(1)
    if kept and request.get("entry") == "hook":
        from gitcoord.hooks import lean
        from gitcoord.kept import SavedWorkspace

        lean.KEPT = SavedWorkspace(kept)
    from gitcoord.hooks import run

    if said >= 0:
        run.AT_EXIT.append(lambda code: _say(said, code))
    code = _run(request, mask)
    run.leave(code, flush=False)


def _say(said: int, code: int) -> None:
    """Write the exit code for the server (it reports it to the caller before the child is gone)."""
    with contextlib.suppress(OSError):
        os.write(said, b"%d" % (code & 0xFF))


def _start_staged(request: dict[str, Any], cwd: int) -> None:
    """A pre-commit first lists the staged paths: its git starts now, in the caller's directory and
    environment, and runs while this child takes the caller's place (`hooks.run.start_staged`)."""
    from gitcoord.hooks import run

    try:
        os.fchdir(cwd)
        started = run.start_staged(request["env"])
    except (OSError, ValueError):  # the hook starts it itself, as in-process
        return
    if started is not None:
        run.EARLY.append(started)


def _become_caller(request: dict[str, Any], fds: list[int]) -> None:
    for sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT, signal.SIGCHLD):
        signal.signal(sig, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    stdin, stdout, stderr, cwd = fds
    for target, fd in ((0, stdin), (1, stdout), (2, stderr)):
        os.dup2(fd, target)
    os.fchdir(cwd)
    for fd in fds:
        os.close(fd)
    os.umask(int(request["umask"]))
    take_callers_parent(int(request["ppid"]))  # a hook (or `hook-run`) names its hand-off by it
    _take_environment({str(k): str(v) for k, v in request["env"].items()})
    time.tzset()  # the C library read TZ once, in the server: local times are the caller's zone
    sys.argv = [str(a) for a in request["argv"]]
    _std_streams()


def _take_environment(env: dict[str, str]) -> None:
    """`os.environ` becomes `env`: only what differs is unset or set (the server's environment is
    most often its callers', and each change is a C library call)."""
    for name in [name for name in os.environ if name not in env]:
        del os.environ[name]
    for name, value in env.items():
        if os.environ.get(name) != value:
            os.environ[name] = value


def _std_streams() -> None:
    """New sys.stdin/out/err over fds 0-2 with the encoding the caller's locale gives Python."""
    with contextlib.suppress(locale.Error):
        locale.setlocale(locale.LC_CTYPE, "")
    encoding, errors = _io_encoding()
    out = io.FileIO(1, "w", closefd=False)
    streams = {
        "stdin": io.TextIOWrapper(io.BufferedReader(io.FileIO(0, "r", closefd=False)), encoding, errors),
        "stdout": io.TextIOWrapper(io.BufferedWriter(out), encoding, errors, line_buffering=out.isatty()),
        "stderr": io.TextIOWrapper(
            io.BufferedWriter(io.FileIO(2, "w", closefd=False)),
            encoding,
            "backslashreplace",
            line_buffering=True,
        ),
    }
    for name, stream in streams.items():
        setattr(sys, name, stream)
        setattr(sys, f"__{name}__", stream)  # what the interpreter would have made them at start


def _io_encoding() -> tuple[str, str]:
    """What Python picks at start-up for stdin/stdout (PEP 538/540 and PYTHONIOENCODING)."""
    forced = os.environ.get("PYTHONIOENCODING", "")
    name, _, errors = forced.partition(":")
    if sys.flags.utf8_mode:
        return name or "utf-8", errors or "surrogateescape"
    ctype = locale.setlocale(locale.LC_CTYPE)
    lenient = ctype in ("C", "POSIX")
    return name or locale.getencoding(), errors or ("surrogateescape" if lenient else "strict")


def _run(request: dict[str, Any], mask: set[int | signal.Signals] | None = None) -> int:
    """The call, as its process would run it in-process: `gitcoord.console.entry` for the console
    script, `gitcoord.hooks.run.entry` for an installed hook (entry "hook"); its exit code."""
    code: int
    try:
        if mask is not None:
            signal.pthread_sigmask(signal.SIG_SETMASK, mask)  # a pending Ctrl-C lands here, handled below
        if request.get("entry") == "hook":
            from gitcoord.hooks.run import entry
        else:
            from gitcoord.console import entry
        entry()  # both end the process themselves (`hooks.run.leave`), as in-process
        code = 0
    except SystemExit as exc:
        code = _exit_code(exc.code)
    except KeyboardInterrupt:
        _flush()
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGINT)  # die of it, as the interpreter does
        code = 130
    except BaseException:
        traceback.print_exc()
        code = 1
    return code if _flush() else 120


def _exit_code(value: object) -> int:
    if value is None:
        return 0
    if isinstance(value, int):
        return value & 0xFF
    print(value, file=sys.stderr)
    return 1


def _flush() -> bool:
    """Flush stdout then stderr; False when stdout could not be written (the interpreter exits 120)."""
    ok = True
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            ok = ok and stream is not sys.stdout
    return ok
