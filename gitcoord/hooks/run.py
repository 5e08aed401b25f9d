"""What an installed hook script executes: `python -m gitcoord.hooks HOOK SCRIPT MODE ARGS...`.

SCRIPT is the hook file git ran (its `.legacy` sibling, a hook that was there before gitcoord,
runs first with the same arguments and input), MODE the `--mode` given at install time or `-`
for the config's `hooks.mode`. No click, no GitPython, no pydantic on this path.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import NoReturn

from gitcoord.errors import GitcoordError
from gitcoord.git import Result

# Every path a commit touches (both sides of renames), as pre-commit asks it: the plumbing, which
# starts faster than `git diff` and reads none of the user's diff.* settings (`diff.relative`).
STAGED_ARGS = ("diff-index", "--cached", "--name-status", "-z", "-M", "HEAD")
# Before the first commit there is no HEAD: the porcelain compares the index with nothing.
FIRST_STAGED_ARGS = ("diff", "--cached", "--name-status", "-z", "-M")
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
    legacy = run_legacy(Path(script), args, stdin)
    if legacy != 0:
        return legacy
    try:
        return dispatch(hook, None if mode in ("", "-") else mode, args, stdin or b"")
    except GitcoordError as exc:
        sys.stderr.write(
            f"gitcoord: {hook} hook failed: {exc.render()}\n"
            "hint: fix it, or bypass this once with --no-verify (verify and the server still check).\n"
        )
        return 1


def run_legacy(script: Path, args: Sequence[str], stdin: bytes | None) -> int:
    """Run the hook that was installed before gitcoord's (kept as HOOK.legacy), if any."""
    if str(script) == "-":
        return 0  # run by a hook manager (pre-commit), which chains hooks itself
    legacy = script.with_name(script.name + ".legacy")
    if not (legacy.is_file() and os.access(legacy, os.X_OK)):
        return 0
    return subprocess.run([str(legacy), *args], input=stdin, check=False).returncode


def dispatch(hook: str, mode: str | None, args: list[str], stdin: bytes) -> int:
    from gitcoord.git import scrub_hook_env

    # Keep GIT_INDEX_FILE (`git commit -a` stages into a temporary index) and, for pre-receive,
    # the quarantine variables: the pushed objects are only visible through them.
    scrub_hook_env()
    if hook == "pre-commit":
        # git lists the staged paths while the modules below import (git runs a pre-commit in
        # the work tree's top directory, where `staged_paths` asks; it checks that it is).
        started: Started | None = (os.getcwd(), in_background(Path.cwd(), STAGED_ARGS))
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


def leave(code: int) -> NoReturn:
    """Flush stdout and stderr, then `os._exit`: the end of every gitcoord process (CLI, hooks,
    guard), without the interpreter's teardown.

    Tearing the interpreter down (freeing every module and object of pydantic, click, ...)
    costs more than a typical call's git work, and nothing of gitcoord's waits for it: every
    write is committed or renamed into place before the call returns, caches are saved
    explicitly, threads left running are daemons, and the logging handler writes through at
    once. What is left buffered is the output, flushed here."""
    os._exit(finish(code))


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
