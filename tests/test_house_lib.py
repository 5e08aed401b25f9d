"""Issue 12, the operations: start's claims keep their state, typed results, shipped JSON Schemas.

Real git throughout: a local repository with the coord store, the CLI run as agents run it.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any

import pytest

from gitcoord import Coordinator

from .conftest import World, run

ROOT = Path(__file__).resolve().parent.parent
LATER = {"GITCOORD_CLOCK_SKEW_SECONDS": str(11 * 60)}  # past a 10-minute lease, inside the 5-minute grace


def _claims_by_resource(context: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["resource"]: c for c in context["active_claims"]}


def test_start_tells_each_claims_state_and_time_left(local_repo: Path) -> None:
    """`start` built the claims with their state, then overwrote them with a view without it."""
    assert run(local_repo, "claim", "src/theirs.py", "--minutes", "10", agent="beta").code == 0
    assert run(local_repo, "claim", "src/mine.py", "--minutes", "60", agent="alpha").code == 0
    started = run(local_repo, "start", "--json", agent="alpha", env=LATER)
    assert started.code == 0, started.err
    claims = _claims_by_resource(started.json())
    theirs, mine = claims["src/theirs.py"], claims["src/mine.py"]
    # beta's lease ran out about a minute ago: still honoured (the grace period), and said so.
    assert theirs["state"] == "expired" and theirs["mine"] is False
    assert -11 * 60 <= theirs["seconds_left"] <= -60, theirs
    assert mine["state"] == "live" and mine["mine"] is True
    assert 0 < mine["seconds_left"] <= 49 * 60, mine
    assert list(claims) == ["src/mine.py", "src/theirs.py"]  # mine first
    # The text for people and LLMs says it too.
    said = run(local_repo, "start", agent="alpha", env=LATER)
    assert said.code == 0, said.err
    line = next(line for line in said.out.splitlines() if "src/theirs.py" in line)
    assert "(exclusive, beta) lease ran out at" in line and "in its grace period" in line, said.out


def test_the_python_api_start_has_the_same_claim_fields(local_repo: Path) -> None:
    with Coordinator(local_repo, agent="beta") as beta:
        beta.claim(["docs/"], minutes=30)
    with Coordinator(local_repo, agent="alpha") as alpha:
        context = alpha.start()
    (claim,) = context["active_claims"]
    assert (claim["resource"], claim["state"], claim["mine"]) == ("docs/", "live", False)
    assert 0 < claim["seconds_left"] <= 30 * 60


# -- the JSON Schemas in docs/schema ------------------------------------------------------------


def _generator() -> Any:
    spec = importlib.util.spec_from_file_location("gen_schema", ROOT / "scripts" / "gen_schema.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("name", ["start", "status"])
def test_shipped_schema_is_current(name: str) -> None:
    shipped = ROOT / "docs" / "schema" / f"{name}.json"
    assert shipped.exists(), f"{shipped} is missing: run python scripts/gen_schema.py"
    assert shipped.read_text(encoding="utf-8") == _generator().render(name), (
        f"docs/schema/{name}.json is stale: run python scripts/gen_schema.py"
    )


def _closed(schema: Any) -> Any:
    """The schema with every object that lists its properties closed to any other key.

    The shipped schema lets a consumer accept keys added later; the test is stricter,
    so a key the output has and its type does not declare fails here.
    """
    if isinstance(schema, dict):
        closed = {k: _closed(v) for k, v in schema.items()}
        if closed.get("type") == "object" and "properties" in closed:
            closed.setdefault("additionalProperties", False)
        return closed
    if isinstance(schema, list):
        return [_closed(v) for v in schema]
    return schema


def _check(name: str, document: Any) -> None:
    """`document` against docs/schema/NAME.json: with jsonschema when installed, else pydantic."""
    schema = _closed(json.loads((ROOT / "docs" / "schema" / f"{name}.json").read_text(encoding="utf-8")))
    try:
        import jsonschema
    except ImportError:  # pydantic validates against the types the schema is generated from
        from pydantic import ConfigDict, TypeAdapter

        types = _generator().SCHEMAS
        TypeAdapter(types[name], config=ConfigDict(extra="forbid")).validate_python(document)
        return
    validator = jsonschema.Draft202012Validator(
        schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
    )
    problems = sorted(validator.iter_errors(document), key=lambda e: list(e.absolute_path))
    assert not problems, "\n".join(f"{list(p.absolute_path)}: {p.message}" for p in problems[:10])


def _busy(repo: Path) -> None:
    """Every kind of item the two documents show, one of each at least."""
    assert run(repo, "claim", "src/api.py", "-m", "endpoint", agent="beta").code == 0
    asked = run(repo, "request-help", "--to", "alpha", "--priority", "high", "need the schema", agent="beta")
    assert asked.code == 0, asked.err
    assert run(repo, "send", "--to", "alpha", "the API is in", agent="beta").code == 0
    queued = run(
        repo, "task", "add", "write the docs", "--assign", "alpha", "--resource", "docs/", agent="beta"
    )
    assert queued.code == 0, queued.err
    assert (
        run(repo, "log-error", "--type", "timeout", "--severity", "high", "LMS down", agent="beta").code == 0
    )
    proposed = run(
        repo,
        "log-decision",
        "--category",
        "api",
        "--impact",
        "high",
        "--rationale",
        "simple",
        "REST",
        "--json",
        agent="alpha",
    )
    assert proposed.code == 0, proposed.err
    approved = run(repo, "decisions", "approve", proposed.json()["id"])  # a person, no agent identity
    assert approved.code == 0, approved.err


def test_real_start_and_status_output_match_their_schemas(local_repo: Path) -> None:
    _busy(local_repo)
    started = run(local_repo, "start", "--json", agent="alpha")
    assert started.code == 0, started.err
    context = started.json()
    assert context["decisions"] and context["help_requests"] and context["my_tasks"] and context["messages"]
    assert context["errors"] and context["active_claims"]
    _check("start", context)
    status = run(local_repo, "status", "--json", agent="alpha", env=LATER)
    assert status.code == 0, status.err
    report = status.json()
    assert report["agents"] and report["claims"] and report["tasks"] and report["errors"]
    _check("status", report)


def test_a_start_that_left_items_out_matches_its_schema(local_repo: Path) -> None:
    """Over the caps, `omitted` counts what was left out: part of the schema too."""
    for n in range(8):
        assert run(local_repo, "send", "--to", "alpha", f"note {n}", agent="beta").code == 0
    context = run(local_repo, "start", "--json", agent="alpha").json()
    assert context["omitted"] == {"messages": 3}
    _check("start", context)


def test_start_in_a_clone_matches_the_schema_with_its_hooks_report(world: World) -> None:
    """In a clone of a remote, with hooks enforcing claims, `hooks` is a report, not None."""
    clone = world.clones[1]
    context = run(clone, "start", "--json", agent="beta").json()
    _check("start", context)


# -- the MCP tools declare the same types -----------------------------------------------------


def test_mcp_tools_publish_the_result_types_as_output_schemas(local_repo: Path) -> None:
    pytest.importorskip("mcp", reason="the official `mcp` SDK is not installed")
    anyio = pytest.importorskip("anyio")
    from gitcoord.mcp import build_server

    async def listed() -> dict[str, Any]:
        tools = await build_server(local_repo, "alpha").list_tools()
        return {t.name: t.output_schema for t in tools}

    schemas = anyio.run(listed)
    start = _generator().schema("start")
    assert set(schemas["start"]["properties"]) == set(start["properties"])
    assert schemas["start"]["properties"]["active_claims"] == start["properties"]["active_claims"]
    assert "seconds_left" in schemas["claims"]["$defs"]["ClaimView"]["properties"]
    assert "next_check_in" in schemas["check_in"]["properties"]
    assert set(schemas["status"]["properties"]) == set(_generator().schema("status")["properties"])


def test_mcp_log_keeps_the_trailers_of_a_commit_pushed_by_hand(local_repo: Path) -> None:
    """The SDK checks a tool's result against its type, which drops keys a type does not
    declare: a hand-made coord commit's own Coord-* trailers must survive it."""
    pytest.importorskip("mcp", reason="the official `mcp` SDK is not installed")
    from pydantic import TypeAdapter

    from gitcoord.mcp import LogPage

    from .conftest import git

    tip = git(local_repo, "rev-parse", "refs/heads/coord")
    tree = git(local_repo, "rev-parse", "refs/heads/coord^{tree}")
    made = git(
        local_repo, "commit-tree", tree, "-p", tip, "-m", "by hand\n\nCoord-Agent: alpha\nCoord-Ticket: OPS-7"
    )
    git(local_repo, "update-ref", "refs/heads/coord", made, tip)
    with Coordinator(local_repo, agent="alpha") as alpha:
        page: Any = {"entries": alpha.log(limit=1)}
    adapter = TypeAdapter(LogPage)
    shown = adapter.dump_python(adapter.validate_python(page), mode="json")
    assert shown["entries"][0]["ticket"] == "OPS-7" and shown["entries"][0]["agent"] == "alpha"
    assert shown == json.loads(json.dumps(page))


def test_mcp_prints_typed_results_as_the_cli_does(local_repo: Path) -> None:
    """start, status, check_in now reach MCP clients through the SDK's check against their
    types, not gitcoord's own JSON: the values must come out as `--json` prints them."""
    from pydantic import TypeAdapter

    from gitcoord.output import to_json
    from gitcoord.results import CheckInResult, StartContext, StatusReport

    _busy(local_repo)
    with Coordinator(local_repo, agent="alpha") as alpha:
        results = [
            (StartContext, alpha.start()),
            (StatusReport, alpha.status()),
            (CheckInResult, alpha.check_in(progress=10)),
        ]
    for kind, value in results:
        adapter: Any = TypeAdapter(kind)
        assert adapter.dump_python(adapter.validate_python(value), mode="json") == json.loads(to_json(value))
