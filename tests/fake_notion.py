"""A local stand-in for the Notion API (version 2025-09-03), for tests.

It serves, over real HTTP on 127.0.0.1, the endpoints the sync uses, with the
documented request and response shapes: databases created with an initial data
source, data sources retrieved, updated and queried, pages parented by a data
source, block children appended, listed (in pages of at most 100) and deleted,
users. It validates what it receives (unknown properties, wrong value types,
rich text over 2,000 characters (counted in UTF-16 code units, as Notion's
JavaScript does) or 100 items, more than 100 blocks in an array, a code block
without a known language, a body over 500 KB, a page size over 100 give 400
`validation_error` with Notion's error body; deleting an archived block is
refused as Notion refuses it) and can inject faults: a fraction of requests answered 429
with Retry-After, or 500/503, some of them *after* the write was applied (the
answer lost on the way back, the case that makes naive retries duplicate rows),
or, when asked, 409 `conflict_error` (not applied; Notion says to try again).

Queries can be made to misbehave as a real service may: `stale_queries = n` answers the next n
queries (on `stale_source` when set) from the view frozen by `freeze()` (rows created since are
missing: a result lagging behind writes), `page_cap` answers fewer rows than the `page_size`
asked (a client must follow `has_more`), and `repeat_page = True` answers the next query that
carries a `start_cursor` with the first page again (a wrong cursor). `trash_database` does what
a person does in the app: the database and its data sources go to the trash (`in_trash`, and
`archived` as its deprecated alias); the stand-in then refuses new rows in them with a
`validation_error`, its own choice where Notion's documentation does not say.

Everything is kept in memory (`FakeNotion.pages`, ...) so tests can assert.
"""

from __future__ import annotations

import json
import random
import re
import threading
import uuid
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl

VERSION = "2025-09-03"
PROPERTY_TYPES = {
    "title",
    "rich_text",
    "number",
    "select",
    "multi_select",
    "date",
    "checkbox",
    "url",
    "email",
    "people",
    "status",
    "created_time",
    "last_edited_time",
}
TEXT_LIMIT, ARRAY_LIMIT, BLOCK_LIMIT, PAGE_SIZE_LIMIT = 2000, 100, 100, 100
BODY_LIMIT = 500_000  # bytes of a request body
TEXT_BLOCKS = {
    "paragraph",
    "heading_1",
    "heading_2",
    "heading_3",
    "quote",
    "bulleted_list_item",
    "numbered_list_item",
    "code",
}
CODE_LANGUAGES = (
    "abap",
    "abc",
    "agda",
    "arduino",
    "ascii art",
    "assembly",
    "bash",
    "basic",
    "bnf",
    "c",
    "c#",
    "c++",
    "clojure",
    "coffeescript",
    "coq",
    "css",
    "dart",
    "dhall",
    "diff",
    "docker",
    "ebnf",
    "elixir",
    "elm",
    "erlang",
    "f#",
    "flow",
    "fortran",
    "gherkin",
    "glsl",
    "go",
    "graphql",
    "groovy",
    "haskell",
    "hcl",
    "html",
    "idris",
    "java",
    "javascript",
    "json",
    "julia",
    "kotlin",
    "latex",
    "less",
    "lisp",
    "livescript",
    "llvm ir",
    "lua",
    "makefile",
    "markdown",
    "markup",
    "matlab",
    "mathematica",
    "mermaid",
    "nix",
    "notion formula",
    "objective-c",
    "ocaml",
    "pascal",
    "perl",
    "php",
    "plain text",
    "powershell",
    "prolog",
    "protobuf",
    "purescript",
    "python",
    "r",
    "racket",
    "reason",
    "ruby",
    "rust",
    "sass",
    "scala",
    "scheme",
    "scss",
    "shell",
    "smalltalk",
    "solidity",
    "sql",
    "swift",
    "toml",
    "typescript",
    "vb.net",
    "verilog",
    "vhdl",
    "visual basic",
    "webassembly",
    "xml",
    "yaml",
    "java/c/c++/c#",
)


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.headers = status, code, message, headers or {}


def _invalid(message: str) -> ApiError:
    return ApiError(400, "validation_error", message)


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def _units(text: str) -> int:
    """Length as Notion measures it: UTF-16 code units (an emoji counts 2)."""
    return len(text.encode("utf-16-le")) // 2


def _rich(items: Any, where: str) -> list[dict[str, Any]]:
    """Validate a rich text array from a request; the response form of it."""
    if not isinstance(items, list):
        raise _invalid(f"{where} should be an array, instead was `{json.dumps(items)[:60]}`.")
    if len(items) > ARRAY_LIMIT:
        raise _invalid(f"{where}.length should be ≤ `{ARRAY_LIMIT}`, instead was `{len(items)}`.")
    out = []
    for n, item in enumerate(items):
        text = item.get("text") if isinstance(item, dict) else None
        content = text.get("content") if isinstance(text, dict) else None
        if not isinstance(content, str):
            raise _invalid(f"{where}[{n}].text.content should be defined, instead was `undefined`.")
        if _units(content) > TEXT_LIMIT:
            raise _invalid(
                f"{where}[{n}].text.content.length should be ≤ `{TEXT_LIMIT}`, "
                f"instead was `{_units(content)}`."
            )
        out.append(
            {
                "type": "text",
                "text": {"content": content, "link": None},
                "plain_text": content,
                "href": None,
                "annotations": {
                    "bold": False,
                    "italic": False,
                    "strikethrough": False,
                    "underline": False,
                    "code": False,
                    "color": "default",
                },
            }
        )
    return out


class FakeNotion:
    """The stand-in: start it, point NOTION_BASE_URL at `base_url`, assert on its memory."""

    def __init__(self, token: str = "secret_test_token", *, seed: int = 7) -> None:
        self.token = token
        self.databases: dict[str, dict[str, Any]] = {}
        self.data_sources: dict[str, dict[str, Any]] = {}
        self.pages: dict[str, dict[str, Any]] = {}
        self.children: dict[
            str, list[dict[str, Any]]
        ] = {}  # page id -> its blocks in order, trashed ones too
        self.blocks: dict[str, dict[str, Any]] = {}
        self.users: dict[str, dict[str, Any]] = {}
        self.requests: list[tuple[str, str, int]] = []
        self.fault_rate = 0.0
        self.fault_paths = ".*"  # a regex: only requests to matching paths fail
        self.fault_kinds: tuple[str, ...] = ()  # drawn from these when set ("429", "409", "before", "after")
        self.retry_after = "0"
        self.stale_queries = 0
        self.stale_source = ""  # when set, only queries on this data source are stale
        self.repeat_page = False
        self.page_cap = PAGE_SIZE_LIMIT  # rows a query answers at most, whatever page_size asked
        self._frozen: set[str] = set()
        self.rng = random.Random(seed)
        self.lock = threading.Lock()
        self.bot = self.add_user("gitcoord bot", kind="bot")
        self._server: ThreadingHTTPServer | None = None

    # -- lifecycle -------------------------------------------------------------------

    def start(self) -> FakeNotion:
        fake = self

        class Handler(_Handler):
            server_fake = fake

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    @property
    def base_url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    # -- test helpers ----------------------------------------------------------------

    def add_user(self, name: str, kind: str = "person", email: str | None = None) -> str:
        """A workspace member. Notion shows `person.email` only to integrations granted
        user information with emails; `email=None` plays one that was not."""
        uid = str(uuid.uuid4())
        user: dict[str, Any] = {"object": "user", "id": uid, "name": name, "type": kind, "avatar_url": None}
        if kind == "person":
            user["person"] = {"email": email} if email else {}
        self.users[uid] = user
        return uid

    def add_parent_page(self) -> str:
        """A plain page shared with the integration, to create databases under."""
        pid = str(uuid.uuid4())
        self.pages[pid] = {
            "object": "page",
            "id": pid,
            "parent": {"type": "workspace", "workspace": True},
            "properties": {},
            "in_trash": False,
            "archived": False,
        }
        return pid

    def rows(self, data_source_id: str, *, include_trash: bool = False) -> list[dict[str, Any]]:
        return [
            p
            for p in self.pages.values()
            if p["parent"].get("data_source_id") == data_source_id and (include_trash or not p["in_trash"])
        ]

    def human_edit(self, page_id: str, user_id: str, properties: dict[str, Any]) -> None:
        """What a person does in the Notion app: change property values of a row."""
        with self.lock:
            page = self.pages[page_id]
            self._set_properties(page, properties)
            page["last_edited_by"] = {"object": "user", "id": user_id}
            page["last_edited_time"] = _now()

    def human_row(self, data_source_id: str, user_id: str, properties: dict[str, Any]) -> str:
        """What a person does in the Notion app: add a row to a database."""
        with self.lock:
            page = self._create_page(
                {
                    "parent": {"type": "data_source_id", "data_source_id": data_source_id},
                    "properties": properties,
                }
            )
            page["created_by"] = page["last_edited_by"] = {"object": "user", "id": user_id}
        return str(page["id"])

    def human_schema_edit(self, data_source_id: str, name: str, new_name: str | None = None) -> None:
        """What a person does in the Notion app: rename a property, or delete it (`new_name=None`)."""
        with self.lock:
            props = self.data_sources[data_source_id]["properties"]
            config = props.pop(name)
            if new_name is not None:
                props[new_name] = {**config, "name": new_name}
            for page in self.rows(data_source_id, include_trash=True):
                value = page["properties"].pop(name)
                if new_name is not None:
                    page["properties"][new_name] = value

    def freeze(self) -> None:
        """Remember which rows exist now: a stale query answers from this view."""
        with self.lock:
            self._frozen = {pid for pid, p in self.pages.items() if not p["in_trash"]}

    def trash_database(self, database_id: str) -> None:
        """What a person does in the Notion app: move a database (with its data sources) to the trash."""
        with self.lock:
            db = self.databases[database_id]
            db["in_trash"] = db["archived"] = True
            for ds in db["data_sources"]:
                source = self.data_sources[ds["id"]]
                source["in_trash"] = source["archived"] = True

    def copy_row(self, page_id: str) -> str:
        """A second row with the same values (what a duplicated append leaves behind)."""
        with self.lock:
            page = self.pages[page_id]
            copy = self._create_page(
                {"parent": {"type": "data_source_id", "data_source_id": page["parent"]["data_source_id"]}}
            )
            copy["properties"] = json.loads(json.dumps(page["properties"]))
        return str(copy["id"])

    def body(self, page_id: str) -> list[dict[str, Any]]:
        """The blocks a person sees in the page (trashed ones left out)."""
        return [b for b in self.children.get(page_id, []) if not b["in_trash"]]

    def count(self, method: str, path_pattern: str) -> int:
        return sum(1 for m, p, _ in self.requests if m == method and re.fullmatch(path_pattern, p))

    # -- dispatch --------------------------------------------------------------------

    def handle(
        self, method: str, path: str, headers: dict[str, str], body: Any, query: dict[str, str] | None = None
    ) -> tuple[int, Any, dict[str, str]]:
        try:
            self._check_headers(headers)
            fault = self._fault(method) if re.fullmatch(self.fault_paths, path) else ""
            if fault == "before":
                raise ApiError(503, "service_unavailable", "Notion is unavailable, please try again later.")
            if fault == "409":
                raise ApiError(
                    409,
                    "conflict_error",
                    "The transaction could not be completed, potentially due to "
                    "a data collision. Make sure the parameters are up to date "
                    "and try again.",
                )
            if fault == "429":
                raise ApiError(
                    429,
                    "rate_limited",
                    "You have been rated limited. Please try again in a few minutes.",
                    {"Retry-After": self.retry_after},
                )
            with self.lock:
                result = self._route(method, path, body, query or {})
            if fault == "after":
                raise ApiError(500, "internal_server_error", "Unexpected error occurred.")
            return 200, result, {}
        except ApiError as exc:
            return _error(exc)

    def _check_headers(self, headers: dict[str, str]) -> None:
        if headers.get("authorization") != f"Bearer {self.token}":
            raise ApiError(401, "unauthorized", "API token is invalid.")
        version = headers.get("notion-version")
        if not version:
            raise ApiError(
                400, "missing_version", "Notion-Version header failed validation: should be defined."
            )
        if version != VERSION:
            raise _invalid(f"this stand-in serves Notion-Version {VERSION}, not {version}.")

    def _fault(self, method: str) -> str:
        if self.fault_rate <= 0 or self.rng.random() >= self.fault_rate:
            return ""
        kinds = ["429", "before"] + (["after"] if method in {"POST", "PATCH", "DELETE"} else [])
        return self.rng.choice(self.fault_kinds or kinds)

    def _route(self, method: str, path: str, body: Any, query: dict[str, str]) -> Any:
        parts = path.strip("/").split("/")
        if parts[:1] != ["v1"]:
            raise ApiError(404, "invalid_request_url", "Invalid request URL.")
        parts = parts[1:]
        routes: list[tuple[str, str, Any]] = [
            ("POST", "databases", self._create_database),
            ("GET", "databases/*", self._get_database),
            ("GET", "data_sources/*", self._get_data_source),
            ("PATCH", "data_sources/*", self._update_data_source),
            ("POST", "data_sources/*/query", self._query),
            ("POST", "pages", self._create_page),
            ("GET", "pages/*", self._get_page),
            ("PATCH", "pages/*", self._update_page),
            ("PATCH", "blocks/*/children", self._append_children),
            ("GET", "blocks/*/children", self._list_children),
            ("DELETE", "blocks/*", self._delete_block),
            ("GET", "users/*", self._get_user),
        ]
        for verb, pattern, func in routes:
            want = pattern.split("/")
            if verb != method or len(want) != len(parts):
                continue
            if all(w in ("*", p) for w, p in zip(want, parts, strict=True)):
                args = [p for w, p in zip(want, parts, strict=True) if w == "*"]
                if method == "GET":
                    return func(*args, query) if func == self._list_children else func(*args)
                return func(*args) if method == "DELETE" else func(*args, body)
        raise ApiError(400, "invalid_request_url", f"Invalid request URL: {method} /{path.strip('/')}.")

    # -- databases and data sources ----------------------------------------------------

    def _schema(self, props: Any, where: str, *, creating: bool) -> dict[str, dict[str, Any]]:
        if not isinstance(props, dict):
            raise _invalid(f"{where} should be an object.")
        out: dict[str, dict[str, Any]] = {}
        for name, config in props.items():
            if config is None and not creating:
                out[name] = {}
                continue
            kinds = [k for k in config if k in PROPERTY_TYPES] if isinstance(config, dict) else []
            if len(kinds) != 1:
                raise _invalid(f"{where}.{name} should have exactly one property type.")
            kind = kinds[0]
            settings = config[kind]
            if kind in {"select", "multi_select"}:
                options = settings.get("options", [])
                if len(options) > ARRAY_LIMIT or any("," in o.get("name", "") for o in options):
                    raise _invalid(f"{where}.{name}.{kind}.options are invalid.")
                settings = {
                    "options": [
                        {"id": str(uuid.uuid4())[:8], "name": o["name"], "color": o.get("color", "default")}
                        for o in options
                    ]
                }
            out[name] = {"id": str(uuid.uuid4())[:8], "name": name, "type": kind, kind: settings}
        if creating and sum(1 for p in out.values() if p.get("type") == "title") != 1:
            raise _invalid(f"{where} should have exactly one title property.")
        return out

    def _create_database(self, body: Any) -> dict[str, Any]:
        parent = body.get("parent") or {}
        if parent.get("type") != "page_id" or parent.get("page_id") not in self.pages:
            raise ApiError(404, "object_not_found", f"Could not find page with ID: {parent.get('page_id')}.")
        title = _rich(body.get("title", []), "body.title")
        initial = body.get("initial_data_source") or {}
        schema = self._schema(initial.get("properties"), "body.initial_data_source.properties", creating=True)
        db_id, ds_id = str(uuid.uuid4()), str(uuid.uuid4())
        name = "".join(t["plain_text"] for t in title)
        self.databases[db_id] = {
            "object": "database",
            "id": db_id,
            "title": title,
            "parent": parent,
            "is_inline": bool(body.get("is_inline", False)),
            "in_trash": False,
            "created_time": _now(),
            "data_sources": [{"id": ds_id, "name": name}],
        }
        self.data_sources[ds_id] = {
            "object": "data_source",
            "id": ds_id,
            "title": title,
            "properties": schema,
            "parent": {"type": "database_id", "database_id": db_id},
            "database_parent": parent,
            "in_trash": False,
            "archived": False,
            "created_time": _now(),
        }
        return self.databases[db_id]

    def _get_database(self, db_id: str) -> dict[str, Any]:
        if db_id not in self.databases:
            raise ApiError(404, "object_not_found", f"Could not find database with ID: {db_id}.")
        return self.databases[db_id]

    def _data_source(self, ds_id: str) -> dict[str, Any]:
        if ds_id not in self.data_sources:
            raise ApiError(404, "object_not_found", f"Could not find data_source with ID: {ds_id}.")
        return self.data_sources[ds_id]

    def _get_data_source(self, ds_id: str) -> dict[str, Any]:
        return self._data_source(ds_id)

    def _update_data_source(self, ds_id: str, body: Any) -> dict[str, Any]:
        ds = self._data_source(ds_id)
        changes = self._schema(body.get("properties", {}), "body.properties", creating=False)
        for name, config in changes.items():
            if not config:
                ds["properties"].pop(name, None)
            else:
                ds["properties"][name] = config
        self._reshape_rows(ds)
        return ds

    def _reshape_rows(self, ds: dict[str, Any]) -> None:
        """A page shows every property of its data source, empty ones too, and no other."""
        for page in self.rows(ds["id"], include_trash=True):
            have = page["properties"]
            page["properties"] = {
                name: have.get(name) or _empty(config) for name, config in ds["properties"].items()
            }

    # -- queries -----------------------------------------------------------------------

    def _query(self, ds_id: str, body: Any) -> dict[str, Any]:
        ds = self._data_source(ds_id)
        size = body.get("page_size", 100)
        if not isinstance(size, int) or not 1 <= size <= PAGE_SIZE_LIMIT:
            raise _invalid(f"body.page_size should be ≤ `{PAGE_SIZE_LIMIT}`, instead was `{size}`.")
        rows = [p for p in self.rows(ds_id) if self._matches(ds, p, body.get("filter"))]
        if self.stale_queries > 0 and self.stale_source in ("", ds_id):
            self.stale_queries -= 1
            rows = [p for p in rows if p["id"] in self._frozen]
        rows.sort(key=lambda p: p["created_time"] + p["id"])
        for sort in reversed(body.get("sorts", [])):
            if sort.get("timestamp") in ("created_time", "last_edited_time"):  # a timestamp sort
                stamp = sort["timestamp"]
                rows.sort(key=lambda p, s=stamp: p[s], reverse=sort.get("direction") == "descending")
                continue
            prop = sort.get("property")
            if prop not in ds["properties"]:
                raise _invalid(f"Could not find sort property with name or id: {prop}")
            rows.sort(
                key=lambda p, prop=prop: _sort_key(p["properties"].get(prop)),
                reverse=sort.get("direction") == "descending",
            )
        start = int(body.get("start_cursor") or 0)
        if start and self.repeat_page:
            self.repeat_page, start = False, 0
        size = min(size, self.page_cap)  # page_size is the number desired; has_more tells the rest
        chunk = rows[start : start + size]
        more = start + size < len(rows)
        return {
            "object": "list",
            "results": chunk,
            "next_cursor": str(start + size) if more else None,
            "has_more": more,
            "type": "page_or_data_source",
            "page_or_data_source": {},
        }

    def _matches(self, ds: dict[str, Any], page: dict[str, Any], flt: Any) -> bool:
        if not flt:
            return True
        if "and" in flt:
            return all(self._matches(ds, page, f) for f in flt["and"])
        if "or" in flt:
            return any(self._matches(ds, page, f) for f in flt["or"])
        prop = flt.get("property")
        if prop not in ds["properties"]:
            raise _invalid(f"Could not find property with name or id: {prop}")
        kind = ds["properties"][prop]["type"]
        cond = flt.get(kind)
        if not isinstance(cond, dict) or len(cond) != 1:
            raise _invalid(f"body.filter.{kind} should be defined for a {kind} property.")
        ((op, want),) = cond.items()
        value = _plain(page["properties"].get(prop))
        checks = {
            "equals": lambda v: v == want,
            "does_not_equal": lambda v: v != want,
            "greater_than": lambda v: v is not None and v > want,
            "greater_than_or_equal_to": lambda v: v is not None and v >= want,
            "is_empty": lambda v: v in (None, ""),
            "is_not_empty": lambda v: v not in (None, ""),
        }
        if op not in checks:
            raise _invalid(f"body.filter.{kind}.{op} is not supported here.")
        return bool(checks[op](value))

    # -- pages and blocks --------------------------------------------------------------

    def _set_properties(self, page: dict[str, Any], values: Any) -> None:
        ds = self.data_sources[page["parent"]["data_source_id"]]
        if not isinstance(values, dict):
            raise _invalid("body.properties should be an object.")
        for name, value in values.items():
            config = ds["properties"].get(name)
            if config is None:
                raise _invalid(f"{name} is not a property that exists.")
            page["properties"][name] = {
                "id": config["id"],
                "type": config["type"],
                config["type"]: _value(config["type"], value, name),
            }

    def _create_page(self, body: Any) -> dict[str, Any]:
        parent = body.get("parent") or {}
        if parent.get("type") != "data_source_id":
            raise _invalid("body.parent.data_source_id should be defined (API version 2025-09-03).")
        ds = self._data_source(parent.get("data_source_id", ""))
        if ds["in_trash"]:
            raise _invalid("Can't edit block that is archived. You must unarchive the block before editing.")
        children = self._check_blocks(body.get("children", []), "body.children")
        pid, now = str(uuid.uuid4()), _now()
        page = {
            "object": "page",
            "id": pid,
            "created_time": now,
            "last_edited_time": now,
            "created_by": {"object": "user", "id": self.bot},
            "last_edited_by": {"object": "user", "id": self.bot},
            "parent": {
                "type": "data_source_id",
                "data_source_id": ds["id"],
                "database_id": ds["parent"]["database_id"],
            },
            "in_trash": False,
            "archived": False,
            "properties": {},
            "url": f"https://www.notion.so/{pid}",
        }
        for name, config in ds["properties"].items():
            page["properties"][name] = _empty(config)
        self._set_properties(page, body.get("properties", {}))
        self.pages[pid] = page
        self._attach(pid, children)
        return page

    def _get_page(self, pid: str) -> dict[str, Any]:
        if pid not in self.pages:
            raise ApiError(404, "object_not_found", f"Could not find page with ID: {pid}.")
        return self.pages[pid]

    def _update_page(self, pid: str, body: Any) -> dict[str, Any]:
        page = self._get_page(pid)
        if "properties" in body:
            self._set_properties(page, body["properties"])
        for flag in ("in_trash", "archived"):
            if flag in body:
                page["in_trash"] = page["archived"] = bool(body[flag])
        page["last_edited_by"] = {"object": "user", "id": self.bot}
        page["last_edited_time"] = _now()
        return page

    def _check_blocks(self, blocks: Any, where: str) -> list[dict[str, Any]]:
        """Validate an array of blocks from a request; their stored (response) form, not yet attached."""
        if not isinstance(blocks, list):
            raise _invalid(f"{where} should be an array, instead was `{json.dumps(blocks)[:60]}`.")
        if len(blocks) > BLOCK_LIMIT:
            raise _invalid(f"{where}.length should be ≤ `{BLOCK_LIMIT}`, instead was `{len(blocks)}`.")
        return [self._check_block(block, f"{where}[{n}]") for n, block in enumerate(blocks)]

    def _check_block(self, block: Any, where: str) -> dict[str, Any]:
        kind = block.get("type") if isinstance(block, dict) else None
        if kind is None and isinstance(block, dict):  # `type` may be left out: the one type key tells
            kind = next((k for k in block if k in TEXT_BLOCKS), None)
        if kind not in TEXT_BLOCKS or not isinstance(block.get(kind), dict):
            raise _invalid(
                f"{where} should be a block object of a supported type (this stand-in serves "
                f"{', '.join(sorted(TEXT_BLOCKS))})."
            )
        content = block[kind]
        stored: dict[str, Any] = {"rich_text": _rich(content.get("rich_text"), f"{where}.{kind}.rich_text")}
        if kind == "code":
            language = content.get("language")
            if language not in CODE_LANGUAGES:
                allowed = ", ".join(f'`"{name}"`' for name in CODE_LANGUAGES)
                raise _invalid(
                    f"{where}.code.language should be {allowed}, instead was `{json.dumps(language)}`."
                )
            stored["caption"] = _rich(content.get("caption", []), f"{where}.code.caption")
            stored["language"] = language
        now = _now()
        return {
            "object": "block",
            "id": str(uuid.uuid4()),
            "created_time": now,
            "last_edited_time": now,
            "created_by": {"object": "user", "id": self.bot},
            "last_edited_by": {"object": "user", "id": self.bot},
            "has_children": False,
            "archived": False,
            "in_trash": False,
            "type": kind,
            kind: stored,
        }

    def _attach(self, pid: str, blocks: list[dict[str, Any]], after: Any = None) -> None:
        siblings = self.children.setdefault(pid, [])
        at = len(siblings)
        if after is not None:
            found = [n for n, b in enumerate(siblings) if b["id"] == after and not b["in_trash"]]
            if not found:
                raise _invalid(
                    f"body.after should be the id of a child block of {pid}, instead was `{after}`."
                )
            at = found[0] + 1
        for block in blocks:
            block["parent"] = {"type": "page_id", "page_id": pid}
            self.blocks[block["id"]] = block
        siblings[at:at] = blocks

    def _append_children(self, bid: str, body: Any) -> dict[str, Any]:
        if bid not in self.pages or self.pages[bid]["in_trash"]:
            raise ApiError(404, "object_not_found", f"Could not find block with ID: {bid}.")
        added = self._check_blocks(body.get("children"), "body.children")
        self._attach(bid, added, body.get("after"))
        return {
            "object": "list",
            "results": added,
            "next_cursor": None,
            "has_more": False,
            "type": "block",
            "block": {},
        }

    def _list_children(self, bid: str, query: dict[str, str]) -> dict[str, Any]:
        if bid not in self.pages and bid not in self.blocks:
            raise ApiError(404, "object_not_found", f"Could not find block with ID: {bid}.")
        raw = query.get("page_size", "100")
        size = int(raw) if raw.isdigit() else 0
        if not 1 <= size <= PAGE_SIZE_LIMIT:
            raise _invalid(f"page_size should be a number ≤ `{PAGE_SIZE_LIMIT}`, instead was `{raw}`.")
        live = self.body(bid)
        start = 0
        if query.get("start_cursor"):
            ids = [b["id"] for b in live]
            if query["start_cursor"] not in ids:
                raise _invalid(
                    f"start_cursor should be a valid cursor, instead was `{query['start_cursor']}`."
                )
            start = ids.index(query["start_cursor"])
        chunk, rest = live[start : start + size], live[start + size :]
        return {
            "object": "list",
            "results": chunk,
            "next_cursor": rest[0]["id"] if rest else None,
            "has_more": bool(rest),
            "type": "block",
            "block": {},
        }

    def _delete_block(self, bid: str) -> dict[str, Any]:
        if bid in self.pages:  # a page is a block too: deleting it moves it to the trash
            return self._update_page(bid, {"in_trash": True})
        block = self.blocks.get(bid)
        if block is None:
            raise ApiError(404, "object_not_found", f"Could not find block with ID: {bid}.")
        if block["in_trash"]:
            raise _invalid("Can't edit block that is archived. You must unarchive the block before editing.")
        block["in_trash"] = block["archived"] = True
        block["last_edited_time"] = _now()
        return block

    def _get_user(self, uid: str) -> dict[str, Any]:
        if uid not in self.users:
            raise ApiError(404, "object_not_found", f"Could not find user with ID: {uid}.")
        return self.users[uid]


def _empty(config: dict[str, Any]) -> dict[str, Any]:
    """A page's value of a property it has no value for."""
    kind = config["type"]
    return {"id": config["id"], "type": kind, kind: [] if kind in {"title", "rich_text"} else None}


def _error(exc: ApiError) -> tuple[int, Any, dict[str, str]]:
    """Notion's error body for a refused request."""
    return (
        exc.status,
        {
            "object": "error",
            "status": exc.status,
            "code": exc.code,
            "message": exc.message,
            "request_id": str(uuid.uuid4()),
        },
        exc.headers,
    )


def _value(kind: str, value: Any, name: str) -> Any:
    """Validate a property value of a request; its stored (response) form."""
    where = f"body.properties.{name}.{kind}"
    if not isinstance(value, dict) or kind not in value:
        raise _invalid(f"{where} should be defined, instead was `undefined`.")
    raw = value[kind]
    if kind in {"title", "rich_text"}:
        return _rich(raw, where)
    if kind == "number":
        if raw is not None and not isinstance(raw, (int, float)):
            raise _invalid(f"{where} should be a number or `null`, instead was `{json.dumps(raw)}`.")
        return raw
    if kind == "checkbox":
        if not isinstance(raw, bool):
            raise _invalid(f"{where} should be a boolean, instead was `{json.dumps(raw)}`.")
        return raw
    if kind == "select":
        if raw is None:
            return None
        label = raw.get("name", "") if isinstance(raw, dict) else None
        if not isinstance(label, str) or not label or len(label) > 100 or "," in label:
            raise _invalid(
                f"{where}.name should be a non-empty string without commas, at most 100 characters."
            )
        return {"id": label[:8], "name": label, "color": "default"}
    if kind == "date":
        if raw is None:
            return None
        start = raw.get("start") if isinstance(raw, dict) else None
        try:
            datetime.fromisoformat(str(start).replace("Z", "+00:00"))
        except ValueError:
            raise _invalid(
                f"{where}.start should be a valid ISO 8601 date string, instead was `{start}`."
            ) from None
        return {"start": start, "end": raw.get("end"), "time_zone": None}
    raise _invalid(f"{where}: writing {kind} properties is not supported by this stand-in.")


def _plain(prop: Any) -> Any:
    if not prop:
        return None
    value = prop.get(prop["type"])
    if prop["type"] in {"title", "rich_text"}:
        return "".join(t["plain_text"] for t in value or [])
    if prop["type"] == "select":
        return value["name"] if value else None
    if prop["type"] == "date":
        return value["start"] if value else None
    return value


def _sort_key(prop: Any) -> tuple[int, Any]:
    """Empty values after the others, so first when descending: Notion's reference does not say where
    they go, and a caller must not depend on it (filter them out instead)."""
    value = _plain(prop)
    return (0, value) if value is not None else (1, 0)


class _Handler(BaseHTTPRequestHandler):
    server_fake: FakeNotion
    protocol_version = "HTTP/1.1"

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        fake = self.server_fake
        path, _, query = self.path.partition("?")
        try:
            body = json.loads(raw) if raw else {}
        except json.JSONDecodeError:
            status, payload, headers = _error(ApiError(400, "invalid_json", "Error parsing JSON body."))
        else:
            if len(raw) > BODY_LIMIT:
                status, payload, headers = _error(
                    _invalid(f"Request body too large: {len(raw)} bytes, the limit is {BODY_LIMIT}.")
                )
            else:
                status, payload, headers = fake.handle(
                    self.command,
                    path,
                    {k.lower(): v for k, v in self.headers.items()},
                    body,
                    dict(parse_qsl(query)),
                )
        with fake.lock:
            fake.requests.append((self.command, path, status))
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for key, value in headers.items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_PATCH = do_DELETE = _serve

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the tests assert on `FakeNotion.requests` instead."""
