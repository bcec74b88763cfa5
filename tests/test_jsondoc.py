"""Strict JSON reading: what a JavaScript client rejects is refused with a code and a pointer, never a crash."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from conformance import jsondoc
from conformance.errors import DocumentError


@pytest.mark.parametrize(
    ("text", "code", "pointer"),
    [
        ('{"cost": {"input": NaN}}', "non-finite-number", "/cost/input"),
        ("[1, Infinity]", "non-finite-number", "/1"),
        ('{"a": -Infinity}', "non-finite-number", "/a"),
        ("", "empty", ""),
        ("  \n\t", "empty", ""),
        ('{"a": 1,}', "invalid-json", ""),
        ("{'a': 1}", "invalid-json", ""),
        ('{"a": 1} // comment', "invalid-json", ""),
    ],
)
def test_rejects_what_json_parse_rejects(text: str, code: str, pointer: str) -> None:
    with pytest.raises(DocumentError) as caught:
        jsondoc.read(text)
    assert caught.value.code == code
    assert caught.value.pointer == pointer


@pytest.mark.parametrize(
    ("text", "pointers"),
    [
        ('{"limit": {"context": 1e999}}', ("/limit/context",)),
        ("1" * 5000, ("",)),
        ("[" + "9" * 400 + ", -1e400]", ("/0", "/1")),
    ],
)
def test_numbers_beyond_a_double_read_as_infinity_as_json_parse_reads_them(text: str, pointers: tuple[str]) -> None:
    doc = jsondoc.read(text)
    assert doc.overflows == pointers
    assert all(abs(value) == float("inf") for pointer, value in jsondoc.walk(doc.value) if pointer in pointers)


@pytest.mark.parametrize("data", [b"\xef\xbb\xbf{}", "\ufeff{}"])
def test_a_utf8_byte_order_mark_is_read_past_and_noted(data: bytes | str) -> None:
    doc = jsondoc.read(data)
    assert (doc.value, doc.bom) == ({}, True)


def test_syntax_errors_say_where() -> None:
    with pytest.raises(DocumentError, match=r"Extra data at line 2 column 2"):
        jsondoc.read('{"a": 1\n}x')


@pytest.mark.parametrize(("data", "code"), [(b"\xff\xfe{\x00}\x00", "bom"), (b'{"a": "\xc3\x28"}', "not-utf8")])
def test_bytes_must_be_plain_utf8(data: bytes, code: str) -> None:
    with pytest.raises(DocumentError) as caught:
        jsondoc.read(data)
    assert caught.value.code == code


def test_nesting_beyond_the_bound_is_a_finding_not_a_recursion_error() -> None:
    with pytest.raises(DocumentError) as caught:
        jsondoc.read("[" * 1_000_000 + "]" * 1_000_000)
    assert caught.value.code == "too-deep"
    assert "1000000 levels" in caught.value.message


@pytest.mark.parametrize("depth", [jsondoc.MAX_DEPTH, jsondoc.MAX_DEPTH + 1, 500, jsondoc.READ_DEPTH])
def test_nesting_within_the_read_bound_reads_and_its_depth_is_noted(depth: int) -> None:
    doc = jsondoc.read("[" * depth + "]" * depth)
    assert (doc.value is not None, doc.depth) == (True, depth)


def test_brackets_inside_strings_do_not_count_as_nesting() -> None:
    text = '{"a": "' + "[" * 500 + '\\"{{{"}'
    assert jsondoc.read(text).value == {"a": "[" * 500 + '"{{{'}


def test_size_cap_is_enforced_before_parsing() -> None:
    with pytest.raises(DocumentError) as caught:
        jsondoc.read(b"[" + b"1," * 600 + b"1]", max_bytes=1000)
    assert caught.value.code == "too-large"
    assert "--max-body-mb" in caught.value.message


def test_duplicate_keys_are_returned_with_pointers_and_the_last_value_wins() -> None:
    doc = jsondoc.read('{"a": 1, "a": 2, "m": {"x~/y": [{"k": 1, "k": 2}], "z": 0, "z": 1}}')
    assert doc.value == {"a": 2, "m": {"x~/y": [{"k": 2}], "z": 1}}
    assert set(doc.duplicate_keys) == {"/a", "/m/x~0~1y/0/k", "/m/z"}


def test_a_dropped_duplicate_object_is_not_confused_with_a_later_one() -> None:
    doc = jsondoc.read('{"a": {"x": 1, "x": 2}, "a": 3, "b": {"y": 1}}')
    assert doc.duplicate_keys == ("/a",)


@given(st.binary(max_size=512))
def test_arbitrary_bytes_give_a_document_or_a_document_error(data: bytes) -> None:
    try:
        jsondoc.read(data)
    except DocumentError as exc:
        assert exc.code and exc.message


def test_walk_visits_every_value_with_its_pointer() -> None:
    pointers = [p for p, _ in jsondoc.walk({"a/b": [1, {"c": None}]})]
    assert pointers == ["", "/a~1b", "/a~1b/0", "/a~1b/1", "/a~1b/1/c"]
