"""``StreamView``: a Chat Completions event stream taken apart, on hand-built exchanges."""

from __future__ import annotations

import json
from typing import Any

import pytest

from conformance.client import Event, Exchange
from conformance.streaming import DONE, Chunk, StreamView

URL = "https://api.acme.example/v1/chat/completions"


def chunk(usage: Any = None, *, choices: list[Any] | None = None, **delta: Any) -> str:
    """A chunk's data: one choice with ``delta`` (unless ``choices`` is given), and ``usage`` when given."""
    data: dict[str, Any] = {
        "id": "c1",
        "object": "chat.completion.chunk",
        "choices": choices if choices is not None else [{"index": 0, "delta": delta}],
    }
    if usage is not None:
        data["usage"] = usage
    return json.dumps(data)


def exchange_of(*data: str, start_ms: float = 10.0, step_ms: float = 10.0) -> Exchange:
    """A streamed exchange whose events carry ``data``, ``step_ms`` apart."""
    events = [Event(start_ms + i * step_ms, d) for i, d in enumerate(data)]
    return Exchange("POST", URL, {}, status=200, response_headers={"content-type": "text/event-stream"}, events=events)


def view_of(*data: str) -> StreamView:
    return StreamView.of(exchange_of(*data))


def test_events_are_sorted_into_chunks_non_json_empty_and_errors() -> None:
    view = view_of(
        chunk(role="assistant"),  # 0
        "",  # 1
        "   ",  # 2
        ": keepalive",  # 3
        "not json",  # 4
        "[1, 2]",  # 5
        "null",  # 6
        chunk(content="Hi"),  # 7
        json.dumps({"error": {"message": "overloaded"}}),  # 8
        json.dumps({"error": "x", "choices": []}),  # 9: has choices, so a chunk
        DONE,  # 10
    )
    assert [c.index for c in view.chunks] == [0, 7, 9]
    assert [e.data for e in view.empty] == ["", "   "]
    assert [e.data for e in view.non_json] == [": keepalive", "not json", "[1, 2]", "null"]
    assert [c.index for c in view.errors] == [8]
    assert view.errors[0].data == {"error": {"message": "overloaded"}}
    assert view.done_at == 10
    assert view.after_done == []
    assert view.exchange.events is not None
    assert view.chunks[1].event is view.exchange.events[7]


def test_done_position_and_events_after_it() -> None:
    view = view_of(chunk(content="a"), f"  {DONE}\n", chunk(content="b"), "", DONE, "junk")
    assert view.done_at == 1
    assert [e.data for e in view.after_done] == [chunk(content="b"), "", DONE, "junk"]
    assert view.text() == "a"
    assert [c.index for c in view.chunks] == [0]
    assert view.empty == []
    assert view.non_json == []


def test_no_done() -> None:
    view = view_of(chunk(content="a"), chunk(content="b"))
    assert view.done_at is None
    assert view.after_done == []
    assert view.text() == "ab"


@pytest.mark.parametrize("events", [None, []])
def test_no_events(events: list[Event] | None) -> None:
    view = StreamView.of(Exchange("POST", URL, {}, status=200, events=events))
    assert view.chunks == view.errors == []
    assert view.non_json == view.empty == view.after_done == []
    assert view.done_at is None
    assert view.text() == ""
    assert view.usage_chunks == view.token_chunks == []
    assert view.tool_fragments() == []


def test_text_of_content_and_reasoning() -> None:
    view = view_of(
        chunk(role="assistant", content=""),
        chunk(reasoning_content="Let me "),
        chunk(reasoning_content="think."),
        chunk(content="Hel"),
        chunk(content=None),
        chunk(content=7),
        chunk(choices=[{"index": 0, "delta": {"content": "lo"}}, {"index": 1, "delta": {"content": "!"}}]),
        chunk(choices=[{"index": 0, "delta": "not a dict"}, "not a choice", {"index": 0}]),
        json.dumps({"choices": "not a list"}),
    )
    assert view.text() == "Hello!"
    assert view.text("content") == "Hello!"
    assert view.text("reasoning_content") == "Let me think."
    assert view.text("refusal") == ""


def test_usage_chunks() -> None:
    usage = {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}
    view = view_of(
        chunk(content="a"),
        chunk(content="b", usage=None),
        json.dumps({"choices": [{"delta": {}}], "usage": None}),
        chunk(usage, choices=[]),
        DONE,
        chunk({"completion_tokens": 99}, choices=[]),
    )
    assert [c.index for c in view.usage_chunks] == [3]
    assert view.usage_chunks[0].data["usage"] == usage


def test_token_chunks_skip_role_only_and_usage_only_chunks() -> None:
    view = view_of(
        chunk(role="assistant"),  # 0: role only
        chunk(role="assistant", content=""),  # 1: empty content
        chunk(content="a"),  # 2
        chunk(reasoning_content="r"),  # 3
        chunk(reasoning="r"),  # 4
        chunk(tool_calls=[{"index": 0, "id": "t1", "function": {"name": "f", "arguments": ""}}]),  # 5
        chunk(tool_calls=[]),  # 6: no calls
        chunk({"completion_tokens": 4}, choices=[]),  # 7: usage only
        chunk(choices=[{"index": 0, "delta": {}, "finish_reason": "stop"}]),  # 8: finish only
    )
    assert [c.index for c in view.token_chunks] == [2, 3, 4, 5]
    assert [c.carries_token for c in view.chunks] == [False, False, True, True, True, True, False, False, False]


def test_tool_fragments() -> None:
    first = {"index": 0, "id": "call_1", "type": "function", "function": {"name": "read", "arguments": ""}}
    second = {"index": 0, "function": {"arguments": '{"path": '}}
    third = {"index": 0, "function": {"arguments": '"a.py"}'}}
    other = {"index": 1, "id": "call_2", "function": {"name": "ls", "arguments": "{}"}}
    view = view_of(
        chunk(role="assistant", tool_calls=[first]),
        chunk(tool_calls=[second, "not a call"]),
        chunk(tool_calls=None),
        chunk(content="x"),
        chunk(choices=[{"delta": {"tool_calls": [third]}}, {"delta": {"tool_calls": [other]}}]),
        DONE,
        chunk(tool_calls=[{"index": 9}]),
    )
    assert view.tool_fragments() == [first, second, third, other]


def test_tool_fragments_of_a_malformed_tool_calls_value() -> None:
    view = view_of(chunk(tool_calls=5), chunk(tool_calls=True))
    assert view.tool_fragments() == []


def test_deeply_nested_event_is_not_json() -> None:
    view = view_of("[" * 100_000, chunk(content="a"))
    assert len(view.non_json) == 1
    assert view.text() == "a"


def test_chunk_accessors() -> None:
    event = Event(1.0, "")
    data = {"choices": [{"delta": {"content": "a", "reasoning_content": "b"}}, {"delta": {"content": "c"}}, 3]}
    c = Chunk(4, event, data)
    assert c.choices == data["choices"][:2]
    assert c.deltas == [{"content": "a", "reasoning_content": "b"}, {"content": "c"}]
    assert c.delta_text("content") == "ac"
    assert c.delta_text("reasoning_content") == "b"
    assert c.carries_token
    assert not Chunk(0, event, {}).carries_token
    assert Chunk(0, event, {"choices": None}).choices == []
