"""Enforcement: git hooks, `verify`, and the editor guards (DESIGN §6).

Modules: `lean` (the light coord reader hooks run on), `precommit` (pre-commit and
prepare-commit-msg), `verify` (ranges of commits: `verify`, pre-push, pre-receive), `install`
(hooks install/uninstall), `guard` (Claude Code and Codex tool calls), `editors` (merging the
guard into an editor's settings), `run` (what the installed hook scripts execute).
Nothing here imports GitPython or pydantic at module level: the hooks must stay fast.
"""
