"""The exact answer to "can these two claims touch one file?" (DESIGN §4).

A path-like resource claims the set S(R): every path its pattern matches and every path below
such a path. ``src/api.py`` therefore also claims ``src/api.py/x`` (harmless: it cannot exist
next to the file) and ``src/*`` claims all of ``src/x/...``. This errs toward overlap on purpose,
because a missed conflict costs far more than a spurious one.

``overlaps`` decides exactly whether S(a) and S(b) share a valid path, glob against glob too, by a
breadth-first search of the product of two small NFAs and a "valid path" automaton; ``witness``
returns the path that search found. ``covers`` and ``ResourceIndex`` answer the hooks' question
"who claims this staged file?" with compiled regular expressions, quickly.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Iterable, Iterator
from functools import lru_cache
from typing import Generic, NamedTuple, TypeVar

from gitcoord.resources import (
    ALL_CHARS,
    GLOB_CHARS,
    NOT_SLASH,
    SLASH,
    Atom,
    CharSet,
    Resource,
    complement,
    contains,
    fold_char,
    fold_text,
    glob_segments,
    intersect,
    pattern_segments,
)

__all__ = ["ResourceIndex", "covers", "overlaps", "witness"]

T = TypeVar("T")

# The product search is tiny for real patterns; this bounds pathological ones (``*a*a*a...``
# against ``*b*b*b...``) so a hook can never hang. Giving up counts as an overlap.
_SEARCH_LIMIT = 100_000
# Characters a witness is built from when the choice is free: readable and stable across case.
_PREFERRED_WITNESS_CHARS = "abcdefghijklmnopqrstuvwxyz0123456789_-"


# --------------------------------------------------------------------------------------------
# NFAs over character sets. Thompson-style construction with epsilon moves, which are removed
# before the product search so every search step consumes one character.


class _Nfa(NamedTuple):
    start: int
    edges: tuple[tuple[tuple[CharSet, int], ...], ...]
    accepting: frozenset[int]


class _NfaBuilder:
    def __init__(self) -> None:
        self._edges: list[list[tuple[CharSet, int]]] = []
        self._epsilon: list[list[int]] = []

    def state(self) -> int:
        self._edges.append([])
        self._epsilon.append([])
        return len(self._edges) - 1

    def step(self, source: int, chars: CharSet) -> int:
        """Consume one character of chars; return the new state."""
        target = self.state()
        self._edges[source].append((chars, target))
        return target

    def loop(self, source: int, chars: CharSet) -> int:
        """Consume any run of chars. A fresh state keeps the loop off states shared with others."""
        target = self.state()
        self._epsilon[source].append(target)
        self._edges[target].append((chars, target))
        return target

    def skip(self, source: int, target: int) -> None:
        self._epsilon[source].append(target)

    def finish(self, start: int, accept: int) -> _Nfa:
        closures = [self._closure(state) for state in range(len(self._edges))]
        edges = tuple(
            tuple(dict.fromkeys(edge for member in closure for edge in self._edges[member]))
            for closure in closures
        )
        accepting = frozenset(state for state, closure in enumerate(closures) if accept in closure)
        return _Nfa(start, edges, accepting)

    def _closure(self, state: int) -> list[int]:
        seen = {state: None}
        stack = [state]
        while stack:
            for target in self._epsilon[stack.pop()]:
                if target not in seen:
                    seen[target] = None
                    stack.append(target)
        return list(seen)


@lru_cache(maxsize=4096)
def _nfa(text: str, ignorecase: bool) -> _Nfa:
    """The NFA of S(R): the pattern, then an optional '/...' descendant tail."""
    builder = _NfaBuilder()
    start = state = builder.state()
    segments = glob_segments(text, ignorecase)
    for index, segment in enumerate(segments):
        last = index == len(segments) - 1
        if segment is None:
            state = _globstar(builder, state, last)
            continue
        for atom in segment:
            state = builder.loop(state, atom.chars) if atom.repeat else builder.step(state, atom.chars)
        if not last:
            state = builder.step(state, SLASH)
    accept = builder.state()
    builder.skip(state, accept)
    tail = builder.loop(builder.step(state, SLASH), ALL_CHARS)
    builder.skip(tail, accept)
    return builder.finish(start, accept)


def _globstar(builder: _NfaBuilder, state: int, last: bool) -> int:
    # Trailing `**` is "anything" (`.*`); elsewhere it is "zero or more whole segments"
    # (`(?:.*/)?`). Empty or '//' segments it could produce are cut by the valid-path automaton.
    if last:
        return builder.loop(state, ALL_CHARS)
    after = builder.step(builder.loop(state, ALL_CHARS), SLASH)
    builder.skip(state, after)
    return after


# --------------------------------------------------------------------------------------------
# The product search. A search node is (state in a, state in b, valid-path state), where the
# valid-path state is 0 at the start of a segment and 1 inside one: '/' is allowed only from 1,
# and only 1 accepts, so found paths have non-empty segments and no leading/trailing '/'.

_Node = tuple[int, int, int]


class _SearchTooLarge(Exception):
    """The product search passed _SEARCH_LIMIT nodes; callers must assume an overlap."""


def _search(a: _Nfa, b: _Nfa, ignorecase: bool) -> str | None:
    start: _Node = (a.start, b.start, 0)
    parents: dict[_Node, tuple[_Node, CharSet] | None] = {start: None}
    queue = deque([start])
    while queue:
        node = queue.popleft()
        state_a, state_b, inside = node
        if inside and state_a in a.accepting and state_b in b.accepting:
            return _spell(node, parents, ignorecase)
        for chars_a, next_a in a.edges[state_a]:
            for chars_b, next_b in b.edges[state_b]:
                for valid, chars in _valid_moves(intersect(chars_a, chars_b), inside):
                    successor = (next_a, next_b, valid)
                    if successor not in parents:
                        parents[successor] = (node, chars)
                        queue.append(successor)
        if len(parents) > _SEARCH_LIMIT:
            raise _SearchTooLarge
    return None


def _valid_moves(chars: CharSet, inside: int) -> Iterator[tuple[int, CharSet]]:
    if not chars:
        return
    in_segment = intersect(chars, NOT_SLASH)
    if in_segment:
        yield 1, in_segment
    if inside and contains(chars, ord("/")):
        yield 0, SLASH


def _spell(node: _Node, parents: dict[_Node, tuple[_Node, CharSet] | None], ignorecase: bool) -> str:
    """Rebuild the path that reached node, choosing a real character for each step."""
    reversed_chars: list[str] = []
    step = parents[node]
    while step is not None:
        node, chars = step
        reversed_chars.append(_pick(chars, ignorecase))
        step = parents[node]
    return "".join(reversed(reversed_chars))


def _pick(chars: CharSet, ignorecase: bool) -> str:
    for ch in _PREFERRED_WITNESS_CHARS:
        if contains(chars, ord(ch)):
            return ch
    for lo, hi in chars:
        for code_point in range(lo, min(hi, lo + 256) + 1):
            ch = chr(code_point)
            # Under ignorecase the witness must read the same once folded.
            if ch.isprintable() and (not ignorecase or fold_char(ch) == ch):
                return ch
    return chr(chars[0][0])


# --------------------------------------------------------------------------------------------
# Overlap, witness, covers.


def overlaps(a: Resource, b: Resource, *, ignorecase: bool = False) -> bool:
    """True if some path is claimed by both resources (named ones: if they are equal).

    Exact, glob against glob too; when exactness is out of reach the answer is True.

    >>> overlaps(parse_resource("src/*.py"), parse_resource("src/a*"))
    True
    >>> overlaps(parse_resource("*.py"), parse_resource("*.md"))
    False
    """
    try:
        return _find(a, b, ignorecase) is not None
    except _SearchTooLarge:
        return True


def witness(a: Resource, b: Resource, *, ignorecase: bool = False) -> str | None:
    """A concrete path claimed by both resources (for named ones, the shared name), or None.

    None also when the search gave up on a pathological pair, which overlaps() reports as True.

    >>> witness(parse_resource("src/**/test_*.py"), parse_resource("src/x/**"))
    'src/x/test_.py'
    """
    try:
        return _find(a, b, ignorecase)
    except _SearchTooLarge:
        return None


def _find(a: Resource, b: Resource, ignorecase: bool) -> str | None:
    if a.kind == "named" or b.kind == "named":
        return a.text if a == b else None
    if a.kind != "glob" and b.kind != "glob":
        return _literal_witness(_literal_key(a.text, ignorecase), _literal_key(b.text, ignorecase))
    return _search(_nfa(a.text, ignorecase), _nfa(b.text, ignorecase), ignorecase)


def _literal_key(text: str, ignorecase: bool) -> str:
    key = text.rstrip("/")
    return fold_text(key) if ignorecase else key


def _literal_witness(a: str, b: str) -> str | None:
    # Each literal claims itself and everything below it: they meet iff one contains the other.
    if a == b or b.startswith(a + "/"):
        return b
    if a.startswith(b + "/"):
        return a
    return None


def covers(resource: Resource, path: str, *, ignorecase: bool = False) -> bool:
    """True if the repo-relative file path is claimed by resource (is in S(resource)).

    >>> covers(parse_resource("src/api/"), "src/api/v1/users.py")
    True
    >>> covers(parse_resource("db:migrations"), "db:migrations")
    False
    """
    if resource.kind == "named":
        return False
    query = _query_path(path, ignorecase)
    if query is None:
        return False
    if resource.kind == "glob":
        return _regex(resource.text, ignorecase).fullmatch(query) is not None
    key = _literal_key(resource.text, ignorecase)
    return query == key or query.startswith(key + "/")


def _query_path(path: str, ignorecase: bool) -> str | None:
    """The path as a valid normalised repo path (folded if asked), or None if it cannot be one."""
    if path.startswith("/"):
        return None
    segments = [segment for segment in path.split("/") if segment not in ("", ".")]
    if not segments or ".." in segments:
        return None
    query = "/".join(segments)
    return fold_text(query) if ignorecase else query


@lru_cache(maxsize=4096)
def _regex(text: str, ignorecase: bool) -> re.Pattern[str]:
    """S(R) as an anchored regex, for one valid path at a time (so no validity checks needed)."""
    segments = glob_segments(text, ignorecase)
    parts: list[str] = []
    for index, segment in enumerate(segments):
        last = index == len(segments) - 1
        if segment is None:
            parts.append(".*" if last else "(?:.*/)?")
            continue
        parts.extend(_atom_regex(atom) for atom in segment)
        if not last:
            parts.append("/")
    parts.append("(?:/.*)?")
    return re.compile("".join(parts), re.DOTALL)


def _atom_regex(atom: Atom) -> str:
    chars = atom.chars
    single = len(chars) == 1 and chars[0][0] == chars[0][1]
    body = re.escape(chr(chars[0][0])) if single else _class_regex(chars)
    return body + "*" if atom.repeat else body


def _class_regex(chars: CharSet) -> str:
    # A negated class is stored as its complement over all of Unicode; write whichever form is
    # shorter, e.g. "[^/a]" rather than four ranges.
    outside = complement(chars)
    if len(outside) < len(chars):
        return "[^" + _ranges_regex(outside) + "]"
    return "[" + _ranges_regex(chars) + "]"


def _ranges_regex(chars: CharSet) -> str:
    return "".join(
        re.escape(chr(lo)) if lo == hi else f"{re.escape(chr(lo))}-{re.escape(chr(hi))}" for lo, hi in chars
    )


# --------------------------------------------------------------------------------------------
# The index the hooks use: many claims against many staged paths.


class ResourceIndex(Generic[T]):
    """Find every claim covering a path without trying every claim.

    Literal paths and directories sit in a dict and are found by looking up the path and each of
    its ancestors. Globs are bucketed by their literal leading directory, so a path only tries
    globs that can apply; a glob's longest literal run must also occur in the path before its
    regex is compiled (once) and run. Payloads come back in the order the items were given.

    >>> index = ResourceIndex([(parse_resource("src/"), "C-1"), (parse_resource("*.md"), "C-2")])
    >>> index.covering("src/README.md")
    ['C-1']
    """

    def __init__(self, items: Iterable[tuple[Resource, T]], *, ignorecase: bool = False) -> None:
        self._ignorecase = ignorecase
        self._literals: dict[str, list[tuple[int, T]]] = {}
        # base directory -> (order, needle, glob text, payload)
        self._globs: dict[str, list[tuple[int, str, str, T]]] = {}
        for order, (resource, payload) in enumerate(items):
            self._add(order, resource, payload)

    def _add(self, order: int, resource: Resource, payload: T) -> None:
        if resource.kind == "named":
            return  # named resources never cover a file
        if resource.kind == "glob":
            base, needle = _glob_keys(resource.text, self._ignorecase)
            self._globs.setdefault(base, []).append((order, needle, resource.text, payload))
        else:
            key = _literal_key(resource.text, self._ignorecase)
            self._literals.setdefault(key, []).append((order, payload))

    def dump(self) -> tuple[bool, dict[str, list[tuple[int, T]]], dict[str, list[tuple[int, str, str, T]]]]:
        """The index as plain data, for a cache (`undump` takes it back; payloads must be plain)."""
        return self._ignorecase, self._literals, self._globs

    @classmethod
    def undump(
        cls, state: tuple[bool, dict[str, list[tuple[int, T]]], dict[str, list[tuple[int, str, str, T]]]]
    ) -> ResourceIndex[T]:
        index: ResourceIndex[T] = cls((), ignorecase=state[0])
        index._literals, index._globs = state[1], state[2]
        return index

    def covering(self, path: str) -> list[T]:
        """Payloads of every resource that covers path (see covers())."""
        query = _query_path(path, self._ignorecase)
        if query is None:
            return []
        found: list[tuple[int, T]] = []
        for prefix in _prefixes(query):
            found.extend(self._literals.get(prefix, ()))
            for order, needle, text, payload in self._globs.get(prefix, ()):
                if needle in query and _regex(text, self._ignorecase).fullmatch(query):
                    found.append((order, payload))
        found.sort(key=lambda hit: hit[0])
        return [payload for _, payload in found]


# Splits a valid glob into its literal runs: on classes, '*', '?' and '/'.
_NON_LITERAL = re.compile(r"\[[!^]?\]?[^\]]*\]|[*?/]")


def _glob_keys(text: str, ignorecase: bool) -> tuple[str, str]:
    """A glob's literal leading directory and the longest literal run after it.

    The glob only matches paths below the directory ("" for none), and only paths containing
    the run: a matched path holds every literal character of the pattern.
    """
    segments = pattern_segments(text)
    base = 0
    while base < len(segments) - 1 and not GLOB_CHARS.intersection(segments[base]):
        base += 1
    runs = _NON_LITERAL.split("/".join(segments[base:]))
    keys = ("/".join(segments[:base]), max(runs, key=len))
    return (fold_text(keys[0]), fold_text(keys[1])) if ignorecase else keys


def _prefixes(path: str) -> Iterator[str]:
    """The root (the empty string), each ancestor directory of path, then path itself."""
    yield ""
    cut = path.find("/")
    while cut != -1:
        yield path[:cut]
        cut = path.find("/", cut + 1)
    yield path
