"""`hooks install` and `hooks uninstall`: our hooks where git really runs them, beside the team's manager.

The directory is git's own answer (`git rev-parse --git-path hooks`): `core.hooksPath` when set,
else the common dir's `hooks/`, which every worktree shares. What goes there depends on who else
manages that directory (`detect`):

- nobody: our scripts; a hook that was there before is kept as `HOOK.legacy`, run first by ours,
  and put back by uninstall. Our scripts carry a marker line, so reinstalling replaces only our own
  files and never wraps a legacy hook twice. They run the Python that installed them, except in a
  hooks directory inside the work tree (a tracked `.githooks`): there they run the committed
  launcher `.coord/gitcoord`, so the files hold no path of this machine.
- husky, lefthook or the pre-commit framework: through that manager (`gitcoord.hooks.managers`).

The files themselves (script text, markers, atomic writes) are in `gitcoord.hooks.files`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gitcoord.errors import GitcoordError, InvalidInput, Refused
from gitcoord.git import run_plain
from gitcoord.hooks.files import (
    ALL_HOOKS,
    LAUNCHER,
    MERGE_HOOKS,
    InstallReport,
    in_work_tree,
    ours_runnable,
    runnable,
    script,
    stale_script,
    write_file,
)
from gitcoord.hooks.files import CLIENT_HOOKS as CLIENT_HOOKS
from gitcoord.hooks.files import SERVER_HOOKS as SERVER_HOOKS
from gitcoord.hooks.files import is_ours as is_ours
from gitcoord.hooks.lean import MODES
from gitcoord.hooks.managers import (
    FRAMEWORK_CONFIG,
    check_framework,
    check_lefthook,
    framework_ids,
    has_block,
    install_husky,
    is_framework,
    is_husky_dir,
    is_lefthook,
    lefthook_config,
    lefthook_wired,
    uninstall_husky,
    uninstall_lefthook,
    wire_lefthook,
)
from gitcoord.hooks.managers import FRAMEWORK_IDS as FRAMEWORK_IDS


@dataclass
class HookState:
    """Who runs the hooks of a work tree, and which of gitcoord's hooks git would really run."""

    hooks_dir: Path
    manager: str  # none, pre-commit, husky, lefthook, tracked
    guarded: list[str]
    unguarded: list[str]

    def as_dict(self) -> dict[str, Any]:
        return {
            "hooks_dir": str(self.hooks_dir),
            "manager": self.manager,
            "guarded": self.guarded,
            "unguarded": self.unguarded,
        }


def hooks_dir(cwd: Path) -> Path:
    """The directory git runs hooks from for the repository at cwd."""
    args = ("rev-parse", "--path-format=absolute", "--git-path", "hooks")
    out = run_plain(cwd, *args).check(args).decode().strip()
    return Path(out)


def hooks_dir_from(top: Path, common_dir: Path, hooks_path: str) -> Path:
    """git's hooks directory without a git process: `core.hooksPath` (relative to the work tree top)."""
    if not hooks_path:
        return common_dir / "hooks"
    return top / Path(hooks_path).expanduser()


def is_bare(cwd: Path) -> bool:
    args = ("rev-parse", "--is-bare-repository")
    return run_plain(cwd, *args).check(args).decode().strip() == "true"


def state(top: Path, where: Path) -> HookState:
    """Which of gitcoord's client hooks git would run in the work tree at top, and through whom.

    Only reads a few small files: `start` calls it on every session.
    """
    if is_husky_dir(where):
        team = where.parent
        guarded = [n for n in CLIENT_HOOKS if runnable(where / n) and has_block(team / n)]
        return _state(where, "husky", guarded)
    lefthook = lefthook_config(top)
    ids = framework_ids(top)
    guarded, managers = [], set()
    for name in CLIENT_HOOKS:
        path = where / name
        if is_framework(path):
            managers.add("pre-commit")
            if runnable(path) and (FRAMEWORK_IDS[name] in ids or ours_runnable(where / f"{name}.legacy")):
                guarded.append(name)
        elif is_lefthook(path):
            managers.add("lefthook")
            if runnable(path) and lefthook is not None and lefthook_wired(top, lefthook):
                guarded.append(name)
        elif ours_runnable(path):
            guarded.append(name)
    if not managers:
        if lefthook is not None:
            managers.add("lefthook")
        elif (top / FRAMEWORK_CONFIG).is_file():
            managers.add("pre-commit")
        elif in_work_tree(top, where):
            managers.add("tracked")
    return _state(where, "+".join(sorted(managers)) or "none", guarded)


def _state(where: Path, manager: str, guarded: list[str]) -> HookState:
    return HookState(where, manager, guarded, [n for n in CLIENT_HOOKS if n not in guarded])


def install(cwd: Path, *, mode: str | None = None, server: bool = False) -> InstallReport:
    """Install the client hooks (or, with `server`, pre-receive in a bare repository)."""
    if mode is not None and mode not in MODES:
        raise InvalidInput(f"unknown mode {mode!r}.", hint=f"use one of {', '.join(MODES)}.")
    bare = is_bare(cwd)
    if server and not bare:
        raise InvalidInput(
            "--server installs pre-receive in a bare repository, and this one is not bare.",
            hint="run it in the shared remote (the repository agents push to).",
        )
    if bare and not server:
        raise InvalidInput(
            "this is a bare repository: nobody commits here.",
            hint="use `gitcoord hooks install --server` for the pre-receive fence.",
        )
    where = hooks_dir(cwd)
    if server:
        return _install_plain(where, SERVER_HOOKS, InstallReport(where, mode), mode, launcher=False)
    top = _top(cwd)
    return install_client(top, where, _common_dir(cwd), mode)


def install_client(top: Path, where: Path, common_dir: Path, mode: str | None) -> InstallReport:
    """The client hooks for the work tree at top, through the manager that owns `where`."""
    from gitcoord.launcher import ensure_launcher, remember_interpreter

    remember_interpreter(common_dir)
    report = InstallReport(where, mode)
    if is_husky_dir(where):
        report.manager = "husky"
        _launcher(top, report, ensure_launcher)
        return install_husky(top, where, report, mode)
    framework = [n for n in CLIENT_HOOKS if is_framework(where / n)]
    lefthook = lefthook_config(top)
    if framework:
        report.manager = "pre-commit"
        _launcher(top, report, ensure_launcher)
        check_framework(top, where, framework, mode)
    if lefthook is not None:
        report.manager = "lefthook"
        check_lefthook(top, lefthook)
        _launcher(top, report, ensure_launcher)
        wire_lefthook(top, lefthook, report, mode)
    plain = [n for n in CLIENT_HOOKS if not (is_framework(where / n) or is_lefthook(where / n))]
    report.installed += [n for n in CLIENT_HOOKS if n not in plain]
    tracked = in_work_tree(top, where)
    if tracked and report.manager == "none":
        report.manager = "tracked"
    if tracked and plain:
        _launcher(top, report, ensure_launcher)
    _install_merge_hooks(where, report, mode, launcher=tracked)
    return _install_plain(where, plain, report, mode, launcher=tracked)


def _install_merge_hooks(where: Path, report: InstallReport, mode: str | None, *, launcher: bool) -> None:
    """post-merge where gitcoord writes the hooks itself; a manager's users add it by hand."""
    if report.manager in ("none", "tracked"):
        _install_plain(where, MERGE_HOOKS, report, mode, launcher=launcher)
    else:
        report.notes.append(
            f"{report.manager} runs this clone's hooks: to release claims when their work "
            "lands, run `gitcoord release --merged` from its post-merge hook."
        )


def _launcher(top: Path, report: InstallReport, ensure: Any) -> None:
    if ensure(top) and LAUNCHER not in report.files:
        report.files.append(LAUNCHER)


def _install_plain(
    where: Path,
    names: tuple[str, ...] | list[str],
    report: InstallReport,
    mode: str | None,
    *,
    launcher: bool,
) -> InstallReport:
    where.mkdir(parents=True, exist_ok=True)
    for name in names:
        _check_installable(where / name)
    for name in names:
        if _install_one(where / name, script(name, mode, launcher=launcher)):
            report.kept_legacy.append(name)
        report.installed.append(name)
    return report


def _top(cwd: Path) -> Path:
    args = ("rev-parse", "--show-toplevel")
    return Path(run_plain(cwd, *args).check(args).decode().strip())


def _common_dir(cwd: Path) -> Path:
    args = ("rev-parse", "--path-format=absolute", "--git-common-dir")
    return Path(run_plain(cwd, *args).check(args).decode().strip())


def _check_installable(path: Path) -> None:
    legacy = path.with_name(path.name + ".legacy")
    if path.exists() and not is_ours(path) and legacy.exists():
        raise Refused(
            f"both {path} and {legacy} exist, and neither is gitcoord's.",
            hint=f"merge them into {legacy} (it runs before gitcoord's hook), remove {path}, "
            "and install again.",
        )


def _install_one(path: Path, text: str) -> bool:
    """Write one hook; True when a foreign hook was moved aside to HOOK.legacy."""
    moved = False
    if path.exists() and not is_ours(path):
        path.rename(path.with_name(path.name + ".legacy"))
        moved = True
    write_file(path, text, 0o755)
    return moved


def uninstall(cwd: Path) -> InstallReport:
    """Remove our hooks and put back the ones they replaced; foreign hooks stay untouched."""
    where = hooks_dir(cwd)
    report = InstallReport(where, None)
    if not is_bare(cwd):
        top = _top(cwd)
        report.manager = state(top, where).manager
        if is_husky_dir(where):
            uninstall_husky(top, where, report)
        uninstall_lefthook(top, lefthook_config(top), report)
        if framework_ids(top) and any(is_framework(where / n) for n in CLIENT_HOOKS):
            report.notes.append(
                f"remove gitcoord's hooks ({', '.join(sorted(framework_ids(top)))}) from "
                f"{FRAMEWORK_CONFIG} yourself: gitcoord does not edit it."
            )
    for name in ALL_HOOKS:
        path = where / name
        for aside in (path.with_name(f"{name}.legacy"), path.with_name(f"{name}.old")):
            if is_ours(aside):  # a manager installed after us moved ours aside
                aside.unlink()
                report.removed.append(aside.name)
        if not is_ours(path):
            continue
        path.unlink()
        report.removed.append(name)
        legacy = path.with_name(name + ".legacy")
        if legacy.exists():
            legacy.rename(path)
            report.restored.append(name)
    return report


def ensure_clone_hooks(
    top: Path | None, common_dir: Path, hooks_path: str, mode: str
) -> dict[str, Any] | None:
    """Install or repair this work tree's hooks when the team's config enforces claims.

    What `start` runs in every clone and worktree: a few small reads when the hooks are in place,
    an install (through the team's hook manager) when they are not. None when there is nothing
    to guard (a bare repository, or hooks.mode off). Never raises a refusal: it reports it.
    """
    if top is None or mode == "off":
        return None
    from gitcoord.launcher import ensure_launcher, remember_interpreter

    where = hooks_dir_from(top, common_dir, hooks_path)
    before = state(top, where)
    result: dict[str, Any] = {
        "manager": before.manager,
        "hooks_dir": str(where),
        "installed": [],
        "files": [],
        "problem": "",
    }
    try:
        if not before.unguarded:
            # Hooks committed in tracked files run the launcher: it needs this clone's record and itself.
            remember_interpreter(common_dir)
            if before.manager in ("husky", "lefthook", "tracked") and ensure_launcher(top):
                result["files"].append(LAUNCHER)
            if before.manager == "none":
                result["installed"] = refresh_stale(where)
            return result
        if not _of_this_repository(top, common_dir, where):
            result["problem"] = (
                f"core.hooksPath ({where}) is outside this repository and may serve others too, so start"
                " does not write there: run `gitcoord hooks install` to install there, or point"
                " core.hooksPath of this repository inside it."
            )
            return result
        report = install_client(top, where, common_dir, None)
    except GitcoordError as exc:  # a start goes on; the clone's state is what it reports
        result["problem"] = exc.render()
        return result
    except OSError as exc:
        result["problem"] = f"could not write the hooks: {exc}"
        return result
    after = state(top, where)
    result.update(
        manager=after.manager,
        installed=[n for n in before.unguarded if n in after.guarded],
        files=report.files,
    )
    if after.unguarded:
        result["problem"] = f"git would still not run gitcoord's {', '.join(after.unguarded)} hook here."
    return result


def refresh_stale(where: Path) -> list[str]:
    """Rewrite gitcoord's own hooks that an earlier gitcoord wrote in `where` (today's boot code runs
    them through the hooks' warm server; same interpreter and mode); the names rewritten."""
    done = []
    for name in (*CLIENT_HOOKS, *MERGE_HOOKS):
        fresh = stale_script(where / name, name)
        if fresh is not None:
            write_file(where / name, fresh)  # in one step, keeping the file's mode
            done.append(name)
    return done


def _of_this_repository(top: Path, common_dir: Path, where: Path) -> bool:
    """A hooks directory in this work tree or under this repository's git dir: `start` may write
    there. A global `core.hooksPath` (one directory for all of a user's repositories) is not."""
    found = where.resolve()
    return any(found.is_relative_to(p.resolve()) for p in (top, common_dir))
