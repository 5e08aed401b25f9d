"""Write docs/schema/start.json and docs/schema/status.json: the JSON Schemas of `start --json`
and `status --json`, generated from their types in gitcoord.results (a test keeps them current)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter

from gitcoord.results import StartContext, StatusReport

SCHEMAS: dict[str, Any] = {"start": StartContext, "status": StatusReport}
TARGET = Path(__file__).resolve().parent.parent / "docs" / "schema"


def schema(name: str) -> dict[str, Any]:
    """The schema of `gitcoord NAME --json`, as JSON (timestamps as date-time text)."""
    generated = TypeAdapter(SCHEMAS[name]).json_schema(mode="serialization")
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$comment": "Generated from gitcoord.results by `python scripts/gen_schema.py`; do not edit.",
        **generated,
    }


def render(name: str) -> str:
    return json.dumps(schema(name), indent=2, ensure_ascii=False) + "\n"


def main() -> int:
    TARGET.mkdir(parents=True, exist_ok=True)
    for name in SCHEMAS:
        path = TARGET / f"{name}.json"
        path.write_text(render(name), encoding="utf-8")
        print(f"wrote {path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
