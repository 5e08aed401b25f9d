"""The house's rooms: every word list written once, no room over 500 lines.

Issue 12: priorities, severities, error types, impacts, statuses and hook modes were spelled out
in six modules, so a new word meant six edits and a missed one meant a CLI choice the records
refuse (or a Notion select the sync cannot write). They live in `gitcoord.constants`; this test
reads every module's source and fails on any collection of string literals that spells one of
those lists again, in any order.
"""

from __future__ import annotations

import ast
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from gitcoord import constants
from gitcoord.errors import InvalidInput

from .conftest import git

PACKAGE = Path(__file__).resolve().parent.parent / "gitcoord"

# Two-word lists (open/resolved, exclusive/shared) are too common to search for as a set.
WORD_LISTS = {name: frozenset(words) for name, words in {
    "PRIORITIES": constants.PRIORITIES, "SEVERITIES": constants.SEVERITIES, "ERROR_TYPES": constants.ERROR_TYPES,
    "IMPACTS": constants.IMPACTS, "TASK_STATUSES": constants.TASK_STATUSES, "HELP_STATUSES": constants.HELP_STATUSES,
    "DECISION_STATUSES": constants.DECISION_STATUSES, "HOOK_MODES": constants.HOOK_MODES,
}.items()}


def _string_groups(tree: ast.AST) -> Iterator[tuple[int, frozenset[str]]]:
    """Every tuple, list, set, dict's keys, call's arguments and subscript written as string literals."""
    for node in ast.walk(tree):
        items: list[ast.expr | None]
        if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
            items = list(node.elts)
        elif isinstance(node, ast.Dict):
            items = list(node.keys)
        elif isinstance(node, ast.Call):
            items = list(node.args)
        else:
            continue
        if len(items) >= 3 and all(isinstance(i, ast.Constant) and isinstance(i.value, str) for i in items):
            yield node.lineno, frozenset(i.value for i in items if isinstance(i, ast.Constant))


def repeated_word_lists(package: Path) -> list[str]:
    """`path:line NAME` for each word list spelled out again outside constants.py."""
    found = []
    for path in sorted(package.rglob("*.py")):
        if path.name == "constants.py" and path.parent == package:
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for line, words in _string_groups(tree):
            found += [f"{path.relative_to(package.parent)}:{line} {name}"
                      for name, listed in WORD_LISTS.items() if words == listed]
    return found


def test_every_word_list_is_written_once() -> None:
    assert repeated_word_lists(PACKAGE) == []


def test_the_scan_finds_a_list_spelled_again(tmp_path: Path) -> None:
    package = tmp_path / "gitcoord"
    package.mkdir()
    (package / "constants.py").write_text('P = ("low", "normal", "high", "urgent")\n', encoding="utf-8")
    (package / "other.py").write_text('from typing import Literal\nX = Literal["urgent", "high", "normal", "low"]\n'
                                      'Y = {"off": 1, "warn": 2, "others": 3, "strict": 4,'
                                      ' "auto": 5}\n', encoding="utf-8")
    assert sorted(repeated_word_lists(package)) == ["gitcoord/other.py:2 PRIORITIES", "gitcoord/other.py:3 HOOK_MODES"]


@pytest.mark.parametrize(("order", "words"), [
    (constants.PRIORITY_ORDER, constants.PRIORITIES), (constants.SEVERITY_ORDER, constants.SEVERITIES),
    (constants.IMPACT_ORDER, constants.IMPACTS), (constants.HELP_STATUS_ORDER, constants.HELP_STATUSES),
    (constants.TASK_STATUS_ORDER, constants.TASK_STATUSES), (constants.TASK_BOARD_ORDER, constants.TASK_STATUSES),
])
def test_every_order_ranks_exactly_the_words_of_its_list(order: object, words: tuple[str, ...]) -> None:
    ranked = list(order) if isinstance(order, (dict, tuple)) else []
    assert sorted(ranked) == sorted(words) and len(set(ranked)) == len(ranked)


def test_the_records_and_the_cli_accept_the_same_words() -> None:
    from click import Choice

    from gitcoord.cli import cli
    from gitcoord.records import Decision, ErrorRecord, HelpRequest, Task

    def choices(path: list[str], option: str) -> tuple[str, ...]:
        command = cli
        for name in path:
            command = command.commands[name]  # type: ignore[attr-defined]
        param = next(p for p in command.params if p.name == option)
        assert isinstance(param.type, Choice)
        return tuple(param.type.choices)

    assert choices(["request-help"], "priority") == constants.PRIORITIES
    assert choices(["log-error"], "severity") == constants.SEVERITIES
    assert choices(["log-error"], "type_") == constants.ERROR_TYPES
    assert choices(["log-decision"], "impact") == constants.IMPACTS
    assert choices(["hooks", "install"], "mode") == constants.HOOK_MODES
    for model, words in [(Task, constants.TASK_STATUSES), (HelpRequest, constants.HELP_STATUSES),
                         (ErrorRecord, constants.ERROR_STATUSES), (Decision, constants.DECISION_STATUSES)]:
        assert model.model_json_schema()["properties"]["status"]["enum"] == list(words)


def test_no_room_of_this_slice_is_over_500_lines() -> None:
    rooms = ["resources.py", "overlap.py", "store.py", "snapshot.py", "cas.py", "dashboard.py", "ci.py",
             "constants.py", "records.py", "config.py", "hooks", "notion"]
    long = []
    for room in rooms:
        for path in sorted((PACKAGE / room).rglob("*.py")) if (PACKAGE / room).is_dir() else [PACKAGE / room]:
            lines = len(path.read_text(encoding="utf-8").splitlines())
            if lines > 500:
                long.append(f"{path.relative_to(PACKAGE)}: {lines}")
    assert long == []


# -- writes the library makes: the override record and the CI workflow ---------------------------


def test_an_override_is_recorded_by_the_coordinator(local_repo: Path) -> None:
    """The hook asks `Coordinator.record_override`; the record and trailer are the library's."""
    from gitcoord.coordinator import Coordinator
    from gitcoord.records import ErrorRecord

    with Coordinator(local_repo) as coord:
        error_id = coord.record_override(["src/b.py", "src/a.py", "src/a.py"], ["C-1 (alpha)"], "prod\n is  down",
                                         actor="beta")
        record = coord.snapshot().record(ErrorRecord, error_id)
    assert record is not None and (record.type, record.severity, record.agent) == ("conflict", "medium", "beta")
    assert json.loads(record.trace) == ["src/a.py", "src/b.py"] and record.resource == "src/a.py"
    assert record.message == ("beta overrode the pre-commit hook for src/a.py, src/b.py; claims: C-1 (alpha); "
                              "reason: prod is down")
    body = git(local_repo, "log", "-1", "--format=%B", "coord")
    assert "Coord-Action: override" in body and "Coord-Override: prod is down" in body


def test_an_override_with_a_bad_reason_writes_nothing(local_repo: Path) -> None:
    from gitcoord.coordinator import Coordinator

    before = git(local_repo, "rev-parse", "coord")
    with Coordinator(local_repo) as coord, pytest.raises(InvalidInput) as refused:
        coord.record_override(["a.py"], [], "why\x1b[31m", actor="beta")
    assert refused.value.exit_code == 2 and "override reason" in refused.value.message
    assert "control character" in refused.value.message
    assert git(local_repo, "rev-parse", "coord") == before


def test_the_ci_workflow_is_committed_by_the_coordinator(local_repo: Path) -> None:
    from gitcoord.coordinator import Coordinator

    with Coordinator(local_repo, agent="alpha") as coord:
        assert coord.put_workflow("gitcoord-notion.yml", "name: x\n") is True
        assert coord.put_workflow("gitcoord-notion.yml", "name: x\n") is False  # already there: no commit
        assert coord.snapshot().read(".github/workflows/gitcoord-notion.yml") == b"name: x\n"
        with pytest.raises(InvalidInput) as refused:
            coord.put_workflow("evil.yml", "name: y\n")
    assert refused.value.exit_code == 2 and "is not a gitcoord workflow file name" in refused.value.message
    subjects = git(local_repo, "log", "--format=%s", "coord").splitlines()
    assert subjects.count("alpha: ci .github/workflows/gitcoord-notion.yml") == 1


def test_every_package_data_pattern_ships_a_file() -> None:
    """A pattern matching nothing (the old `templates/*`) promises files the package does not have."""
    import tomllib

    project = tomllib.loads((PACKAGE.parent / "pyproject.toml").read_text(encoding="utf-8"))
    patterns = project["tool"]["setuptools"]["package-data"]["gitcoord"]
    assert patterns and [p for p in patterns if not list(PACKAGE.glob(p))] == []
