"""Resources that claims name, and the exact answer to "can these two claims touch one file?".

A resource (DESIGN §4) is one of:

- a named non-file resource ``scheme:name`` (``db:migrations``, ``port:8080``), matched exactly;
- a repo-relative path (``src/api.py``) or directory (``src/api/``);
- a gitignore-style glob (``src/**/*.py``, ``*``, ``?``, ``[a-z]``, ``[!a]``, ``**``).

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

import bisect
import re
import unicodedata
from collections import deque
from collections.abc import Iterable, Iterator
from functools import lru_cache
from typing import Generic, Literal, NamedTuple, TypeVar

from gitcoord.errors import InvalidInput
from gitcoord.validate import BIDI_CONTROLS

__all__ = [
    "MAX_RESOURCE_BYTES",
    "Kind",
    "Resource",
    "ResourceIndex",
    "covers",
    "overlaps",
    "parse_resource",
    "witness",
]

Kind = Literal["path", "dir", "glob", "named"]
T = TypeVar("T")

MAX_RESOURCE_BYTES = 1024
# Case folding a class is done member by member; past this size we stop being exact and let the
# class match any character, which can only add overlaps, never hide one.
_FOLD_LIMIT = 4096
# The product search is tiny for real patterns; this bounds pathological ones (``*a*a*a...``
# against ``*b*b*b...``) so a hook can never hang. Giving up counts as an overlap.
_SEARCH_LIMIT = 100_000

_SCHEME = re.compile(r"[a-z][a-z0-9+.\-]*:")
_GLOB_CHARS = frozenset("*?[")
# Directional marks: harmless in prose, but a path holding one reads differently than it compares.
_BIDI_MARKS = frozenset("\u061c\u200e\u200f")
_MAX_CODE_POINT = 0x10FFFF
# Characters a witness is built from when the choice is free: readable and stable across case.
_PREFERRED_WITNESS_CHARS = "abcdefghijklmnopqrstuvwxyz0123456789_-"


class Resource(NamedTuple):
    """A validated, normalised resource, as stored in claim records.

    A NamedTuple rather than a dataclass: the commit hooks import this module, and
    the dataclasses machinery alone would cost them milliseconds on every commit.

    >>> parse_resource("./src//api/")
    Resource(text='src/api/', kind='dir')
    """

    text: str
    kind: Kind

    def __str__(self) -> str:
        return self.text


# --------------------------------------------------------------------------------------------
# Character sets: sorted, disjoint, non-adjacent inclusive code-point ranges. Negated classes
# become their (finite) complement over all of Unicode, so every intersection is exact.

_CharSet = tuple[tuple[int, int], ...]

_ALL: _CharSet = ((0, _MAX_CODE_POINT),)
_SLASH: _CharSet = ((ord("/"), ord("/")),)
_NOT_SLASH: _CharSet = ((0, ord("/") - 1), (ord("/") + 1, _MAX_CODE_POINT))


def _charset(ranges: Iterable[tuple[int, int]]) -> _CharSet:
    merged: list[tuple[int, int]] = []
    for lo, hi in sorted(ranges):
        if merged and lo <= merged[-1][1] + 1:
            merged[-1] = (merged[-1][0], max(merged[-1][1], hi))
        else:
            merged.append((lo, hi))
    return tuple(merged)


def _complement(chars: _CharSet) -> _CharSet:
    gaps: list[tuple[int, int]] = []
    next_free = 0
    for lo, hi in chars:
        if lo > next_free:
            gaps.append((next_free, lo - 1))
        next_free = hi + 1
    if next_free <= _MAX_CODE_POINT:
        gaps.append((next_free, _MAX_CODE_POINT))
    return tuple(gaps)


@lru_cache(maxsize=8192)
def _intersect(a: _CharSet, b: _CharSet) -> _CharSet:
    common: list[tuple[int, int]] = []
    i = j = 0
    while i < len(a) and j < len(b):
        lo, hi = max(a[i][0], b[j][0]), min(a[i][1], b[j][1])
        if lo <= hi:
            common.append((lo, hi))
        if a[i][1] < b[j][1]:
            i += 1
        else:
            j += 1
    return tuple(common)


def _contains(chars: _CharSet, code_point: int) -> bool:
    at = bisect.bisect_right(chars, (code_point, _MAX_CODE_POINT + 1)) - 1
    return at >= 0 and chars[at][0] <= code_point <= chars[at][1]


def _size(chars: _CharSet) -> int:
    return sum(hi - lo + 1 for lo, hi in chars)


# --------------------------------------------------------------------------------------------
# Case folding (git's core.ignorecase): compare in lowercase, one character for one character.
# A character whose lowercase is several characters (U+0130) is left alone, so `?` still
# matches it and folding never changes a path's length.


def _fold_char(ch: str) -> str:
    low = ch.lower()
    return low if len(low) == 1 else ch


def _fold_text(text: str) -> str:
    # str.lower() on a whole string applies context rules (Greek final sigma); char by char
    # keeps paths and patterns folded identically.
    return text.lower() if text.isascii() else "".join(map(_fold_char, text))


@lru_cache(maxsize=1024)
def _fold_members(members: _CharSet) -> _CharSet | None:
    """The folded image of a class's listed characters, or None when too large to fold."""
    if _size(members) > _FOLD_LIMIT:
        return None
    folded = (ord(_fold_char(chr(cp))) for lo, hi in members for cp in range(lo, hi + 1))
    return _charset((cp, cp) for cp in folded)


# --------------------------------------------------------------------------------------------
# Parsed patterns. A segment is a tuple of atoms, or None for a whole-segment `**`.


class _Atom(NamedTuple):
    """One pattern element: a literal, `?`, `*` or a `[...]` class. Never matches '/'."""

    members: _CharSet  # the characters written (a literal's own character; empty for ? and *)
    negated: bool  # matches every character except the members
    repeat: bool  # any run of matching characters (`*`) instead of exactly one

    @property
    def chars(self) -> _CharSet:
        if self.negated:
            return _complement(_charset((*self.members, *_SLASH)))
        return _intersect(self.members, _NOT_SLASH)

    def folded(self) -> _Atom:
        members = _fold_members(self.members)
        if members is None:
            return _Atom((), negated=True, repeat=self.repeat)
        return _Atom(members, self.negated, self.repeat)


_Segment = tuple[_Atom, ...] | None
_ANY_ONE = _Atom((), negated=True, repeat=False)
_ANY_RUN = _Atom((), negated=True, repeat=True)


class _PatternError(Exception):
    """A glob syntax problem; parse_resource turns it into InvalidInput with the resource."""


def _literal(ch: str) -> _Atom:
    return _Atom(((ord(ch), ord(ch)),), negated=False, repeat=False)


def _is_globstar(segment: str) -> bool:
    # git's wildmatch treats any run of two or more stars filling a segment as `**`.
    return len(segment) >= 2 and segment.strip("*") == ""


def _parse_segment(segment: str) -> _Segment:
    if _is_globstar(segment):
        return None
    atoms: list[_Atom] = []
    i = 0
    while i < len(segment):
        ch = segment[i]
        if ch == "*":
            while i < len(segment) and segment[i] == "*":
                i += 1
            atoms.append(_ANY_RUN)
            continue
        if ch == "[":
            atom, i = _parse_class(segment, i)
            atoms.append(atom)
            continue
        atoms.append(_ANY_ONE if ch == "?" else _literal(ch))
        i += 1
    return tuple(atoms)


def _parse_class(segment: str, start: int) -> tuple[_Atom, int]:
    """Parse the class opening at segment[start]; return it and the index after its ']'."""
    i = start + 1
    negated = i < len(segment) and segment[i] in "!^"
    if negated:
        i += 1
    first = i
    ranges: list[tuple[int, int]] = []
    while True:
        if i >= len(segment):
            raise _PatternError(
                f"the character class starting at {segment[start:]!r} is unterminated"
                " (a '[' needs a closing ']' in the same path segment)"
            )
        if segment[i] == "]" and i > first:
            return _Atom(_charset(ranges), negated, repeat=False), i + 1
        if segment.startswith("[:", i):
            raise _PatternError("POSIX classes such as [:alpha:] are not supported; list the characters")
        i = _parse_class_member(segment, i, ranges)


def _parse_class_member(segment: str, i: int, ranges: list[tuple[int, int]]) -> int:
    """Append the single character or range at segment[i] to ranges; return the next index."""
    low = ord(segment[i])
    if i + 2 < len(segment) and segment[i + 1] == "-" and segment[i + 2] != "]":
        high = ord(segment[i + 2])
        if low > high:
            raise _PatternError(f"the class range {segment[i : i + 3]!r} is reversed and matches nothing")
        ranges.append((low, high))
        return i + 3
    ranges.append((low, low))
    return i + 1


def _pattern_segments(text: str) -> list[str]:
    """The non-empty segments of a normalised path resource (its trailing '/' dropped)."""
    return [segment for segment in text.split("/") if segment]


@lru_cache(maxsize=4096)
def _segments(text: str, ignorecase: bool) -> tuple[_Segment, ...]:
    parsed = tuple(_parse_segment(segment) for segment in _pattern_segments(text))
    if not ignorecase:
        return parsed
    return tuple(None if seg is None else tuple(atom.folded() for atom in seg) for seg in parsed)


# --------------------------------------------------------------------------------------------
# Parsing and validating resource text.


def parse_resource(text: str) -> Resource:
    """Validate and normalise a resource as typed by a user or an agent.

    Raises InvalidInput (exit 2) with a sentence naming the problem.

    >>> parse_resource("db:migrations").kind
    'named'
    >>> parse_resource("./src/**/*.py")
    Resource(text='src/**/*.py', kind='glob')
    """
    _check_characters(text)
    scheme = _SCHEME.match(text)
    if scheme:
        return _parse_named(text, scheme.end())
    return _parse_path(text)


def _refuse(text: str, problem: str, hint: str | None = None) -> InvalidInput:
    return InvalidInput(f"The resource {text!r} {problem}.", hint=hint)


def _check_characters(text: str) -> None:
    if not text:
        raise InvalidInput("The resource is empty.", hint="name a path, a directory/, a glob or scheme:name")
    # Size first, so an absurdly long input is refused before any per-character work.
    try:
        size = len(text.encode("utf-8"))
    except UnicodeEncodeError:
        raise _refuse(text, "is not valid Unicode (it holds a lone surrogate)") from None
    if size > MAX_RESOURCE_BYTES:
        raise _refuse(text[:40] + "...", f"is {size} bytes long, over the limit of {MAX_RESOURCE_BYTES} bytes")
    for ch in text:
        # Records are TOML and hook messages go to terminals: control characters would
        # corrupt both, and no sane file name needs them.
        if unicodedata.category(ch) == "Cc":
            raise _refuse(text, f"contains the control character {ch!r}")
        if ch in BIDI_CONTROLS or ch in _BIDI_MARKS:
            # A path shown in a refusal or a dashboard must read as it is stored.
            raise _refuse(text, f"contains the bidirectional control {ch!r}")
    if "\\" in text:
        raise _refuse(text, "contains a backslash", hint="resources use '/' as the only separator")


def _parse_named(text: str, name_start: int) -> Resource:
    if name_start == len(text):
        raise _refuse(text, "has a scheme but no name after the ':'", hint="for example db:migrations")
    return Resource(text, "named")


def _parse_path(text: str) -> Resource:
    if text.startswith("/"):
        raise _refuse(text, "is an absolute path", hint="use a path relative to the repository root")
    if text == ".":
        raise _refuse(text, "is '.', the whole repository", hint="claim '**' to mean every path")
    parts = text.split("/")
    segments = [part for part in parts if part not in ("", ".")]
    if ".." in segments:
        raise _refuse(text, "contains a '..' segment", hint="resources must stay inside the repository")
    if not segments:
        raise _refuse(text, "is empty after normalisation")
    # A trailing '/.' names the directory just like a trailing '/', as it does for git.
    is_dir = len(parts) > 1 and parts[-1] in ("", ".")
    normalised = "/".join(segments) + ("/" if is_dir else "")
    if not _GLOB_CHARS.intersection(normalised):
        return Resource(normalised, "dir" if is_dir else "path")
    try:
        _segments(normalised, False)
    except _PatternError as error:
        raise _refuse(text, f"is not a valid glob: {error}") from None
    return Resource(normalised, "glob")


# --------------------------------------------------------------------------------------------
# NFAs over character sets. Thompson-style construction with epsilon moves, which are removed
# before the product search so every search step consumes one character.


class _Nfa(NamedTuple):
    start: int
    edges: tuple[tuple[tuple[_CharSet, int], ...], ...]
    accepting: frozenset[int]


class _NfaBuilder:
    def __init__(self) -> None:
        self._edges: list[list[tuple[_CharSet, int]]] = []
        self._epsilon: list[list[int]] = []

    def state(self) -> int:
        self._edges.append([])
        self._epsilon.append([])
        return len(self._edges) - 1

    def step(self, source: int, chars: _CharSet) -> int:
        """Consume one character of chars; return the new state."""
        target = self.state()
        self._edges[source].append((chars, target))
        return target

    def loop(self, source: int, chars: _CharSet) -> int:
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
            tuple(dict.fromkeys(edge for member in closure for edge in self._edges[member])) for closure in closures
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
    segments = _segments(text, ignorecase)
    for index, segment in enumerate(segments):
        last = index == len(segments) - 1
        if segment is None:
            state = _globstar(builder, state, last)
            continue
        for atom in segment:
            state = builder.loop(state, atom.chars) if atom.repeat else builder.step(state, atom.chars)
        if not last:
            state = builder.step(state, _SLASH)
    accept = builder.state()
    builder.skip(state, accept)
    tail = builder.loop(builder.step(state, _SLASH), _ALL)
    builder.skip(tail, accept)
    return builder.finish(start, accept)


def _globstar(builder: _NfaBuilder, state: int, last: bool) -> int:
    # Trailing `**` is "anything" (`.*`); elsewhere it is "zero or more whole segments"
    # (`(?:.*/)?`). Empty or '//' segments it could produce are cut by the valid-path automaton.
    if last:
        return builder.loop(state, _ALL)
    after = builder.step(builder.loop(state, _ALL), _SLASH)
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
    parents: dict[_Node, tuple[_Node, _CharSet] | None] = {start: None}
    queue = deque([start])
    while queue:
        node = queue.popleft()
        state_a, state_b, inside = node
        if inside and state_a in a.accepting and state_b in b.accepting:
            return _spell(node, parents, ignorecase)
        for chars_a, next_a in a.edges[state_a]:
            for chars_b, next_b in b.edges[state_b]:
                for valid, chars in _valid_moves(_intersect(chars_a, chars_b), inside):
                    successor = (next_a, next_b, valid)
                    if successor not in parents:
                        parents[successor] = (node, chars)
                        queue.append(successor)
        if len(parents) > _SEARCH_LIMIT:
            raise _SearchTooLarge
    return None


def _valid_moves(chars: _CharSet, inside: int) -> Iterator[tuple[int, _CharSet]]:
    if not chars:
        return
    in_segment = _intersect(chars, _NOT_SLASH)
    if in_segment:
        yield 1, in_segment
    if inside and _contains(chars, ord("/")):
        yield 0, _SLASH


def _spell(node: _Node, parents: dict[_Node, tuple[_Node, _CharSet] | None], ignorecase: bool) -> str:
    """Rebuild the path that reached node, choosing a real character for each step."""
    reversed_chars: list[str] = []
    step = parents[node]
    while step is not None:
        node, chars = step
        reversed_chars.append(_pick(chars, ignorecase))
        step = parents[node]
    return "".join(reversed(reversed_chars))


def _pick(chars: _CharSet, ignorecase: bool) -> str:
    for ch in _PREFERRED_WITNESS_CHARS:
        if _contains(chars, ord(ch)):
            return ch
    for lo, hi in chars:
        for code_point in range(lo, min(hi, lo + 256) + 1):
            ch = chr(code_point)
            # Under ignorecase the witness must read the same once folded.
            if ch.isprintable() and (not ignorecase or _fold_char(ch) == ch):
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
    return _fold_text(key) if ignorecase else key


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
    return _fold_text(query) if ignorecase else query


@lru_cache(maxsize=4096)
def _regex(text: str, ignorecase: bool) -> re.Pattern[str]:
    """S(R) as an anchored regex, for one valid path at a time (so no validity checks needed)."""
    segments = _segments(text, ignorecase)
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


def _atom_regex(atom: _Atom) -> str:
    chars = atom.chars
    single = len(chars) == 1 and chars[0][0] == chars[0][1]
    body = re.escape(chr(chars[0][0])) if single else _class_regex(chars)
    return body + "*" if atom.repeat else body


def _class_regex(chars: _CharSet) -> str:
    # A negated class is stored as its complement over all of Unicode; write whichever form is
    # shorter, e.g. "[^/a]" rather than four ranges.
    outside = _complement(chars)
    if len(outside) < len(chars):
        return "[^" + _ranges_regex(outside) + "]"
    return "[" + _ranges_regex(chars) + "]"


def _ranges_regex(chars: _CharSet) -> str:
    return "".join(re.escape(chr(lo)) if lo == hi else f"{re.escape(chr(lo))}-{re.escape(chr(hi))}" for lo, hi in chars)


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
    segments = _pattern_segments(text)
    base = 0
    while base < len(segments) - 1 and not _GLOB_CHARS.intersection(segments[base]):
        base += 1
    runs = _NON_LITERAL.split("/".join(segments[base:]))
    keys = ("/".join(segments[:base]), max(runs, key=len))
    return (_fold_text(keys[0]), _fold_text(keys[1])) if ignorecase else keys


def _prefixes(path: str) -> Iterator[str]:
    """The root (the empty string), each ancestor directory of path, then path itself."""
    yield ""
    cut = path.find("/")
    while cut != -1:
        yield path[:cut]
        cut = path.find("/", cut + 1)
    yield path
