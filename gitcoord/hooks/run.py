"""What an installed hook script executes: `python -m gitcoord.hooks HOOK SCRIPT MODE ARGS...`.

SCRIPT is the hook file git ran (its `.legacy` sibling, a hook that was there before gitcoord,
runs first with the same arguments and input), MODE the `--mode` given at install time or `-`
for the config's `hooks.mode`. No click, no GitPython, no pydantic on this path.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import NoReturn

from gitcoord.errors import GitcoordError
from gitcoord.git import Result

# Every path a commit touches (both sides of renames), as pre-commit asks it: the plumbing, which
# starts faster than `git diff` and reads none of the user's diff.* settings (`diff.relative`).
# A path only marked with `git add -N` is not committed: it is not listed (the porcelain's default).
STAGED_ARGS = (
    "diff-index",
    "--cached",
    "--name-status",
    "-z",
    "-M",
    "--ita-invisible-in-index",
    "HEAD",
    "--",
)
# Before the first commit there is no HEAD: the porcelain compares the index with nothing.
FIRST_STAGED_ARGS = ("diff", "--cached", "--name-status", "-z", "-M", "--")
# A `git STAGED_ARGS` started early: the directory it runs in, and the wait for its Result.
Started = tuple[str, Callable[[], Result]]
HOOKS = ("pre-commit", "prepare-commit-msg", "pre-push", "pre-receive", "post-merge")
_STDIN_HOOKS = ("pre-push", "pre-receive")


def main(argv: Sequence[str]) -> int:
    """Run one hook; the exit code git sees."""
    if len(argv) < 3 or argv[0] not in HOOKS:
        sys.stderr.write(f"usage: python -m gitcoord.hooks {{{','.join(HOOKS)}}} SCRIPT MODE [ARGS...]\n")
        return 2
    hook, script, mode, args = argv[0], argv[1], argv[2], list(argv[3:])
    stdin = sys.stdin.buffer.read() if hook in _STDIN_HOOKS else None
    try:
        if has_legacy(script):
            EARLY.clear()  # listed before the legacy hook ran, which may stage more
            legacy = run_legacy(Path(script), args, stdin)
            if legacy != 0:
                return legacy
        return dispatch(hook, None if mode in ("", "-") else mode, args, stdin or b"")
    except GitcoordError as exc:
        sys.stderr.write(
            f"gitcoord: {hook} hook failed: {exc.render()}\n"
            "hint: fix it, or bypass this once with --no-verify (verify and the server still check).\n"
        )
        return 1
    finally:
        _wait_started()


def has_legacy(script: str) -> bool:
    """Is there a hook installed before gitcoord's (kept as HOOK.legacy) to run first? Never for
    "-": a hook manager (pre-commit) runs us, and chains hooks itself."""
    legacy = f"{script}.legacy"
    return script != "-" and os.path.isfile(legacy) and os.access(legacy, os.X_OK)


def run_legacy(script: Path, args: Sequence[str], stdin: bytes | None) -> int:
    """Run the hook that was installed before gitcoord's (kept as HOOK.legacy), if any."""
    if not has_legacy(str(script)):
        return 0
    legacy = script.with_name(script.name + ".legacy")
    return subprocess.run([str(legacy), *args], input=stdin, check=False).returncode


def dispatch(hook: str, mode: str | None, args: list[str], stdin: bytes) -> int:
    from gitcoord.git import scrub_hook_env

    # Keep GIT_INDEX_FILE (`git commit -a` stages into a temporary index) and, for pre-receive,
    # the quarantine variables: the pushed objects are only visible through them.
    scrub_hook_env()
    if hook == "pre-commit":
        # git lists the staged paths while the modules below import (git runs a pre-commit in
        # the work tree's top directory, where `staged_paths` asks; it checks that it is).
        # A served call's git started when its child was forked (`start_staged`).
        listing = EARLY.pop() if EARLY else in_background(Path.cwd(), STAGED_ARGS)
        started: Started | None = (os.getcwd(), listing)
    from gitcoord.hooks.lean import LeanRepo

    repo = LeanRepo(Path.cwd())
    if hook == "pre-commit":
        from gitcoord.hooks.precommit import run_pre_commit

        return run_pre_commit(repo, repo.mode(mode), started)
    if hook == "prepare-commit-msg":
        from gitcoord.hooks.precommit import run_prepare_commit_msg

        return run_prepare_commit_msg(repo, args)
    if hook == "post-merge":
        from gitcoord.hooks.postmerge import run_post_merge

        return run_post_merge(repo, repo.mode(mode))
    from gitcoord.hooks.verify import run_pre_push, run_pre_receive

    if hook == "pre-push":
        return run_pre_push(repo, repo.mode(mode), args, stdin)
    return run_pre_receive(repo, repo.mode(mode), stdin)


# The wait for a pre-commit's `git STAGED_ARGS` that the warm server's child started the moment it
# was forked (`warm.child`); `dispatch` takes it, unless a legacy hook runs first.
EARLY: list[Callable[[], Result]] = []
# Every listing `start_staged` started, used or not: the hook waits for each before it exits, as
# an in-process hook waits for every git it starts (none is left for another process to reap).
_STARTED: list[Callable[[], Result]] = []
# What a hook's git must not inherit from a warm server's child: blocked or ignored signals.
_DEFAULT_SIGNALS = (
    signal.SIGINT,
    signal.SIGTERM,
    signal.SIGHUP,
    signal.SIGQUIT,
    signal.SIGPIPE,
    signal.SIGXFSZ,
)


def start_staged(env: dict[str, str]) -> Callable[[], Result] | None:
    """`git STAGED_ARGS` started in this directory under `env` (a hook's environment; the variables
    `scrub_hook_env` drops are dropped), as a process of its own with every signal unblocked and
    at its default action; the wait for its Result, or None when it cannot start (the hook then
    starts it itself, as in-process)."""
    import shutil

    from gitcoord.git import hook_env

    env = hook_env(env)
    program = shutil.which("git", path=env.get("PATH", os.defpath))
    if program is None:
        return None
    out, err = os.pipe(), os.pipe()
    try:
        pid = os.posix_spawn(
            program,
            ["git", *STAGED_ARGS],
            env,
            file_actions=[
                (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
                (os.POSIX_SPAWN_DUP2, out[1], 1),
                (os.POSIX_SPAWN_DUP2, err[1], 2),
            ],
            setsigmask=(),
            setsigdef=_DEFAULT_SIGNALS,
        )
    except OSError:
        os.close(out[0])
        os.close(err[0])
        return None
    finally:
        os.close(out[1])
        os.close(err[1])

    done: list[Result] = []

    def result() -> Result:
        if not done:
            stdout, stderr = _drain(out[0], err[0])
            _, status = os.waitpid(pid, 0)
            done.append(Result(os.waitstatus_to_exitcode(status), stdout, stderr.decode(errors="replace")))
        return done[0]

    _STARTED.append(result)
    return result


def _wait_started() -> None:
    """Wait for the listings started early that the hook did not use (a legacy hook ran first,
    mode `off`, nothing to judge)."""
    while _STARTED:
        with contextlib.suppress(OSError):
            _STARTED.pop()()


def _drain(*fds: int) -> list[bytes]:
    """Everything until the end of each pipe, read as it comes (none can fill up and stall git)."""
    import selectors

    chunks: dict[int, list[bytes]] = {fd: [] for fd in fds}
    with selectors.DefaultSelector() as selector:
        for fd in fds:
            selector.register(fd, selectors.EVENT_READ)
        while selector.get_map():
            for key, _ in selector.select():
                data = os.read(key.fd, 1 << 16)
                if data:
                    chunks[key.fd].append(data)
                else:
                    selector.unregister(key.fd)
                    os.close(key.fd)
    return [b"".join(chunks[fd]) for fd in fds]


def in_background(cwd: Path, args: Sequence[str]) -> Callable[[], Result]:
    """`run_plain(cwd, *args)` on a thread; calling what comes back waits for its Result (or
    raises what it raised). The thread mostly waits on git, so the imports go on meanwhile."""
    import threading

    from gitcoord.git import run_plain

    done: list[Result | BaseException] = []

    def work() -> None:
        try:
            done.append(run_plain(cwd, *args))
        except BaseException as exc:  # handed to whoever waits for the result
            done.append(exc)

    thread = threading.Thread(target=work, daemon=True)
    thread.start()

    def result() -> Result:
        thread.join()
        if isinstance(done[0], BaseException):
            raise done[0]
        return done[0]

    return result


def with_site() -> None:
    """Make the installed packages importable before a hook reaches beyond the stdlib-only hook
    modules (an override record, a merge's releases, signatures): installed hooks start Python
    with -S (`gitcoord.hooks.files.boot_code`), which skips `site` for the common case."""
    if sys.flags.no_site and "site" not in sys.modules:
        import site

        site.main()


def entry() -> None:
    leave(main(sys.argv[1:]))


# Called with the exit code just before the process ends (`leave`): a warm server's child tells
# the server, which tells the caller without waiting for the child to be gone (`warm.child`).
AT_EXIT: list[Callable[[int], None]] = []


def leave(code: int, *, flush: bool = True) -> NoReturn:
    """Flush stdout and stderr, then `os._exit`: the end of every gitcoord process (CLI, hooks,
    guard), without the interpreter's teardown.

    Tearing the interpreter down (freeing every module and object of pydantic, click, ...)
    costs more than a typical call's git work, and nothing of gitcoord's waits for it: every
    write is committed or renamed into place before the call returns, caches are saved
    explicitly, threads left running are daemons, and the logging handler writes through at
    once. What is left buffered is the output, flushed here (`flush=False`: flushed already)."""
    if flush:
        code = finish(code)
    for told in AT_EXIT:
        told(code)
    os._exit(code)


def finish(code: int) -> int:
    """Flush stdout and stderr; the exit code to leave with.

    A reader that went away (`gitcoord claims | head -1`) is a quiet success, as when the pipe
    breaks during the command; any other failure to write the output is an error."""
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        pass  # `os._exit` never retries the flush, so no "Exception ignored" follows
    except (OSError, ValueError) as exc:  # a full disk; a stream closed by the command
        with contextlib.suppress(OSError, ValueError):
            sys.stderr.write(f"gitcoord: could not write the output: {exc}\n")
        code = code or 1
    with contextlib.suppress(OSError, ValueError):  # nowhere left to say anything
        sys.stderr.flush()
    return code
