"""Resources: grammar, normalisation, exact overlap, witnesses, covers and the hooks' index.

The property tests check gitcoord.resources and gitcoord.overlap against an oracle written independently
here: a segment-by-segment recursive matcher that hands each single segment to wcmatch's fnmatch.
"""

from __future__ import annotations

import itertools
import re
import unicodedata
from functools import cache

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from wcmatch import fnmatch

from gitcoord import overlap, resources
from gitcoord.errors import InvalidInput
from gitcoord.overlap import ResourceIndex, covers, overlaps, witness
from gitcoord.resources import Kind, Resource, parse_resource

P = parse_resource

# --------------------------------------------------------------------------------------------
# The oracle. Semantics from DESIGN §4 and the resources/overlap module docstrings: a segment made only of
# two or more '*' is `**` (git's wildmatch rule): zero or more whole segments, or, when it is the
# last segment, one or more. Any other segment is matched on its own by fnmatch, where `**` is
# just `*` and a leading dot is not special (DOTMATCH). A resource claims a path when the
# pattern matches the path or one of its ancestors.

_VALID_PATH = re.compile(r"[^/]+(?:/[^/]+)*", re.DOTALL)


def _is_double_star(segment: str) -> bool:
    return len(segment) >= 2 and set(segment) == {"*"}


def _segments_match(pattern: tuple[str, ...], names: tuple[str, ...], flags: int) -> bool:
    if not pattern:
        return not names
    head, rest = pattern[0], pattern[1:]
    if _is_double_star(head):
        if not rest:
            return len(names) >= 1
        return any(_segments_match(rest, names[skip:], flags) for skip in range(len(names) + 1))
    return (
        bool(names)
        and fnmatch.fnmatch(names[0], head, flags=flags)
        and _segments_match(rest, names[1:], flags)
    )


@cache
def oracle_claims(text: str, path: str, ignorecase: bool = False) -> bool:
    """Is path in S(resource text)? (named resources claim no path)"""
    if re.match(r"[a-z][a-z0-9+.\-]*:", text):
        return False
    flags = fnmatch.DOTMATCH | (fnmatch.IGNORECASE if ignorecase else fnmatch.CASE)
    pattern = tuple(segment for segment in text.split("/") if segment)
    names = tuple(path.split("/"))
    return any(_segments_match(pattern, names[:depth], flags) for depth in range(1, len(names) + 1))


# --------------------------------------------------------------------------------------------
# Normalisation and refusals.


@pytest.mark.parametrize(
    ("text", "normalised", "kind"),
    [
        ("src/api.py", "src/api.py", "path"),
        ("./src/api.py", "src/api.py", "path"),
        ("././src/./api.py", "src/api.py", "path"),
        ("src//api.py", "src/api.py", "path"),
        ("src/api/", "src/api/", "dir"),
        ("src/api//", "src/api/", "dir"),
        ("./src/api/.", "src/api/", "dir"),
        ("src/*.py", "src/*.py", "glob"),
        ("src/**/", "src/**/", "glob"),
        ("./a//[bc]?", "a/[bc]?", "glob"),
        ("**", "**", "glob"),
        ("a b/ c.txt", "a b/ c.txt", "path"),
        (".github/workflows/", ".github/workflows/", "dir"),
        ("db:migrations", "db:migrations", "named"),
        ("port:8080", "port:8080", "named"),
        ("svc+v1.x-y:name/with/slashes", "svc+v1.x-y:name/with/slashes", "named"),
        ("DB:x", "DB:x", "path"),
        ("src/a:b", "src/a:b", "path"),
        ("x" * 1024, "x" * 1024, "path"),
    ],
)
def test_normalisation(text: str, normalised: str, kind: Kind) -> None:
    resource = P(text)
    assert resource == Resource(normalised, kind)
    assert P(resource.text) == resource
    assert str(resource) == normalised


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "empty"),
        ("./", "empty after normalisation"),
        ("././/", "empty after normalisation"),
        (".", "'.'"),
        ("/etc/passwd", "absolute"),
        ("//src", "absolute"),
        ("../x", "'..'"),
        ("src/../x", "'..'"),
        ("src/..", "'..'"),
        ("a\x00b", "control character"),
        ("a\nb", "control character"),
        ("a\x7fb", "control character"),
        ("a\x9bb", "control character"),
        ("src/\u202egnp.exe", "bidirectional control"),
        ("src/a\u200fb.py", "bidirectional control"),
        ("src\\api.py", "backslash"),
        ("é" * 513, "1024 bytes"),
        ("x" * 1025, "1024 bytes"),
        ("src/[ab", "unterminated"),
        ("src/[a/b]", "unterminated"),
        ("[]", "unterminated"),
        ("[!]", "unterminated"),
        ("a/[z-a]", "reversed"),
        ("[[:alpha:]]", "POSIX"),
        ("db:", "no name"),
        ("x\ud800", "surrogate"),
    ],
)
def test_refusals(text: str, reason: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        P(text)
    assert caught.value.exit_code == 2
    assert reason in caught.value.message


# --------------------------------------------------------------------------------------------
# Overlap table.


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        ("src/api.py", "src/api.py", True),
        ("src/api.py", "src/api.py/", True),
        ("src/api.py", "src/api.pyc", False),
        ("src/api.py", "src/", True),
        ("src/api.py", "src/api/", False),
        ("src/", "src/api/", True),
        ("src/api/", "src/api/v1/x.py", True),
        ("src/a/", "src/b/", False),
        ("src/ab/", "src/a/", False),
        ("src/*.py", "src/api.py", True),
        ("src/*.py", "src/sub/", False),
        ("src/*", "src/sub/", True),
        ("src/*.py", "src/x.py/", True),
        ("src/*.py", "lib/api.py", False),
        ("src/*.py", "src/a*", True),
        ("*.py", "*.md", False),
        ("src/**/test_*.py", "src/x/**", True),
        ("src/**/test_*.py", "lib/**", False),
        ("a/[0-9]*", "a/[a-z]*", False),
        ("a/[!x]", "a/[!y]", True),
        ("a/[!x]", "a/x", False),
        ("a/[^x]", "a/[xy]", True),
        ("a/?", "a/bc", False),
        ("a/??", "a/bc", True),
        ("a/**", "a", True),  # a file 'a' claims a/... (harmless) and a/** claims a/x
        ("a/**", "b", False),
        ("a/**/b", "a/b", True),
        ("a/**/b", "a/x/y/b", True),
        ("a/**/b", "a/x/c", True),  # a/x/c/b
        ("a/**/b", "c/b", False),
        ("**/b", "b", True),
        ("**/b", "x/y/b/z", True),
        ("**", "anything/at/all", True),
        ("*", "deep/path/file", True),
        ("a**b", "a/b", False),  # not a whole segment: behaves as '*'
        ("a**b", "axyb", True),
        ("x/***/y", "x/m/n/y", True),
        ("*a", "*b", False),
        ("*a*", "*b*", True),
        ("[ab]/c", "[!a]/c", True),
        ("[a]/c", "[!a]/c", False),
        ("db:migrations", "db:migrations", True),
        ("db:migrations", "db:schema", False),
        ("port:8080", "port:8081", False),
        ("db:migrations", "db", False),
        ("db:migrations", "**", False),
    ],
)
def test_overlap_table(a: str, b: str, expected: bool) -> None:
    ra, rb = P(a), P(b)
    assert overlaps(ra, rb) is expected
    assert overlaps(rb, ra) is expected
    found = witness(ra, rb)
    assert (found is not None) is expected
    if found is not None and ra.kind != "named":
        assert oracle_claims(ra.text, found) and oracle_claims(rb.text, found)


def test_witness_examples() -> None:
    assert witness(P("src/api.py"), P("src/")) == "src/api.py"
    assert witness(P("src/"), P("src/api/v1/")) == "src/api/v1"
    assert witness(P("src/*.py"), P("src/a*")) == "src/a.py"
    assert witness(P("db:x"), P("db:x")) == "db:x"
    assert witness(P("*.py"), P("*.md")) is None


@pytest.mark.parametrize(
    ("a", "b", "sensitive", "insensitive"),
    [
        ("SRC/API.py", "src/api.py", False, True),
        ("src/", "Src/Api.py", False, True),
        ("src/[A-C]*", "src/b.py", False, True),
        ("src/[a-c]*", "SRC/B.PY", False, True),
        ("[!a]", "A", True, False),  # A is a under ignorecase, which [!a] excludes
        ("*.PY", "*.py", False, True),
        ("\u212a", "k", False, True),  # KELVIN SIGN lowercases to k
        ("a?", "a\u0130", True, True),  # its lowercase is two characters: left alone, ? still fits
        ("[\u0100-\uffff]", "x", False, True),  # too large to fold: errs toward overlap
        ("db:Main", "db:main", False, False),  # named resources never fold
    ],
)
def test_ignorecase(a: str, b: str, sensitive: bool, insensitive: bool) -> None:
    ra, rb = P(a), P(b)
    assert overlaps(ra, rb) is sensitive
    assert overlaps(ra, rb, ignorecase=True) is insensitive
    assert overlaps(rb, ra, ignorecase=True) is insensitive
    found = witness(ra, rb, ignorecase=True)
    assert (found is not None) is insensitive
    if found is not None:
        assert covers(ra, found, ignorecase=True) and covers(rb, found, ignorecase=True)


def test_search_limit_errs_toward_overlap(monkeypatch: pytest.MonkeyPatch) -> None:
    a, b = P("*a" * 30 + "c"), P("*b" * 30 + "d")
    assert not overlaps(a, b)
    monkeypatch.setattr(overlap, "_SEARCH_LIMIT", 50)
    assert overlaps(a, b)
    assert witness(a, b) is None


# --------------------------------------------------------------------------------------------
# covers and the index.


@pytest.mark.parametrize(
    ("resource", "path", "expected"),
    [
        ("src/api.py", "src/api.py", True),
        ("src/api.py", "src/api.pyc", False),
        ("src/", "src/api/v1/users.py", True),
        ("src/", "src", True),
        ("src/", "srcx/a", False),
        ("src/*.py", "src/a.py", True),
        ("src/*.py", "src/x.py/inner", True),
        ("src/*.py", "src/sub/a.py", False),
        ("src/**/*.py", "src/a.py", True),
        ("src/**/*.py", "src/a/b/c.py", True),
        ("a/**", "a", False),
        ("a/**", "a/b", True),
        ("**", "x", True),
        ("db:migrations", "db:migrations", False),
        ("src/", "./src//a.py", True),  # the path is normalised like a resource
        ("src/", "/src/a.py", False),  # absolute paths are never in the repository
        ("src/", "src/../etc", False),
        ("a/?", "a/\n", True),  # real file names may hold anything but '/'
    ],
)
def test_covers(resource: str, path: str, expected: bool) -> None:
    assert covers(P(resource), path) is expected
    index = ResourceIndex([(P(resource), "C-1")])
    assert index.covering(path) == (["C-1"] if expected else [])


def test_covers_ignorecase() -> None:
    assert covers(P("Src/*.PY"), "src/a.py", ignorecase=True)
    assert not covers(P("Src/*.PY"), "src/a.py")
    assert ResourceIndex([(P("Docs/"), 1), (P("**/*.MD"), 2)], ignorecase=True).covering(
        "docs/README.md"
    ) == [1, 2]


def test_index_returns_payloads_in_given_order() -> None:
    items = [
        (P("**/*.py"), "C-1"),
        (P("db:migrations"), "C-2"),
        (P("src/"), "C-3"),
        (P("src/api.py"), "C-4"),
        (P("src/*.py"), "C-5"),
        (P("lib/"), "C-6"),
        (P("src/api.py"), "C-7"),
    ]
    index = ResourceIndex(items)
    assert index.covering("src/api.py") == ["C-1", "C-3", "C-4", "C-5", "C-7"]
    assert index.covering("lib/x.md") == ["C-6"]
    assert index.covering("db:migrations") == []
    assert ResourceIndex[str]([]).covering("a") == []


def test_index_agrees_with_covers_at_hook_scale() -> None:
    """1,000 claims x 200 paths, the hooks' load: the index answers exactly what `covers` does.

    How fast it answers is measured by tests/bench (hook_ms), not asserted here.
    """
    items: list[tuple[Resource, int]] = []
    for number in range(1000):
        area = f"pkg{number % 25}/mod{number % 7}"
        text = [
            f"{area}/file{number}.py",
            f"{area}/sub{number}/",
            f"{area}/**/*_{number}.py",
            f"**/gen{number}_*",
        ]
        items.append((P(text[number % 4]), number))
    paths = [f"pkg{k % 25}/mod{k % 7}/sub{k}/gen{k}_x_{k}.py" for k in range(200)]
    index = ResourceIndex(items)
    for path in paths:
        expected = [payload for res, payload in items if covers(res, path)]
        assert index.covering(path) == expected, path
    assert sum(len(index.covering(path)) for path in paths) >= 100


# --------------------------------------------------------------------------------------------
# Property tests against the oracle.

_TOKENS = ["a", "b", "*", "?", "[ab]", "[!a]", "[^b]", "[a-b]"]
_NAMES = ["a", "b", "c", "ab", "ba", "ac"]
_ALL_PATHS = ["/".join(names) for depth in (1, 2, 3) for names in itertools.product(_NAMES, repeat=depth)]

_segment = st.one_of(
    st.just("**"),
    st.lists(st.sampled_from(_TOKENS), min_size=1, max_size=3).map("".join),
)
_pattern = st.builds(
    lambda segments, slash: "/".join(segments) + slash,
    st.lists(_segment, min_size=1, max_size=3),
    st.sampled_from(["", "", "/"]),
)
_resource = st.one_of(
    _pattern,
    st.lists(st.sampled_from(_NAMES), min_size=1, max_size=3).map("/".join),
    st.sampled_from(["db:a", "db:b"]),
).map(P)
_path = st.lists(st.sampled_from([*_NAMES, "bb", "ca"]), min_size=1, max_size=5).map("/".join)

_upper_tokens = [*_TOKENS, "A", "B", "[A-B]", "[!A]"]
_mixed_case_pattern = st.lists(
    st.one_of(st.just("**"), st.lists(st.sampled_from(_upper_tokens), min_size=1, max_size=3).map("".join)),
    min_size=1,
    max_size=3,
).map(lambda segments: P("/".join(segments)))
_mixed_case_path = st.lists(
    st.sampled_from(["a", "A", "b", "B", "c", "aB", "Ab"]), min_size=1, max_size=4
).map("/".join)

_fast = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@_fast
@given(_resource, _resource, st.lists(_path, max_size=5))
def test_no_missed_overlap(a: Resource, b: Resource, extra_paths: list[str]) -> None:
    shared = [p for p in [*_ALL_PATHS, *extra_paths] if oracle_claims(a.text, p) and oracle_claims(b.text, p)]
    if shared:
        assert overlaps(a, b), f"both claim {shared[0]!r}"


@_fast
@given(_resource, _resource)
def test_witness_proves_overlap(a: Resource, b: Resource) -> None:
    found = witness(a, b)
    assert (found is not None) is overlaps(a, b)
    if found is None or a.kind == "named":
        return
    assert _VALID_PATH.fullmatch(found)
    assert oracle_claims(a.text, found) and oracle_claims(b.text, found)
    assert covers(a, found) and covers(b, found)


@_fast
@given(_resource, _resource)
def test_overlap_is_symmetric(a: Resource, b: Resource) -> None:
    assert overlaps(a, b) is overlaps(b, a)
    assert (witness(a, b) is None) is (witness(b, a) is None)


@_fast
@given(_resource, st.lists(_path, min_size=1, max_size=5))
def test_covers_agrees_with_oracle(resource: Resource, paths: list[str]) -> None:
    for path in paths:
        assert covers(resource, path) is oracle_claims(resource.text, path)


@_fast
@given(_resource, _path)
def test_covers_agrees_with_overlaps(resource: Resource, path: str) -> None:
    # S(path) is the path and everything strictly below it, which is S(path/**).
    as_resource = P(path)
    if covers(resource, path):
        assert overlaps(resource, as_resource)
    below = overlaps(resource, P(path + "/**"))
    assert overlaps(resource, as_resource) is (covers(resource, path) or below)


@_fast
@given(st.lists(_resource, max_size=12), st.lists(_path, min_size=1, max_size=8), st.booleans())
def test_index_agrees_with_covers(resources: list[Resource], paths: list[str], ignorecase: bool) -> None:
    index = ResourceIndex([(resource, n) for n, resource in enumerate(resources)], ignorecase=ignorecase)
    for path in paths:
        expected = [
            n for n, resource in enumerate(resources) if covers(resource, path, ignorecase=ignorecase)
        ]
        assert index.covering(path) == expected


@_fast
@given(_mixed_case_pattern, _mixed_case_pattern, st.lists(_mixed_case_path, max_size=8))
def test_ignorecase_against_oracle(a: Resource, b: Resource, paths: list[str]) -> None:
    for path in paths:
        assert covers(a, path, ignorecase=True) is oracle_claims(a.text, path, True)
    shared = [p for p in paths if oracle_claims(a.text, p, True) and oracle_claims(b.text, p, True)]
    found = witness(a, b, ignorecase=True)
    assert (found is not None) is overlaps(a, b, ignorecase=True)
    if shared:
        assert found is not None
    if found is not None:
        assert oracle_claims(a.text, found, True) and oracle_claims(b.text, found, True)


@_fast
@given(st.lists(st.sampled_from(["a", "b*", "[ab]", "**"]), min_size=1, max_size=4), st.data())
def test_noise_normalises_away(segments: list[str], data: st.DataObject) -> None:
    noisy = "".join(
        data.draw(st.sampled_from(["", "./", "././"]))
        + segment
        + data.draw(st.sampled_from(["/", "//", "/./"]))
        for segment in segments
    )
    assert P(noisy) == P("/".join(segments) + "/")


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.characters(max_codepoint=0x7F), min_size=1, max_size=40))
def test_ascii_resources_are_judged_as_character_by_character(text: str) -> None:
    """The ASCII shortcut of the character check refuses exactly what the per-character rule does:
    a control character (category Cc) or a backslash, whatever else the resource holds."""
    refused_by_rule = any(unicodedata.category(ch) == "Cc" for ch in text) or "\\" in text
    try:
        resources._check_characters(text)
    except InvalidInput:
        refused = True
    else:
        refused = False
    assert refused == refused_by_rule, text
