"""The reference provider's other wire APIs on a real socket: the OpenAI Responses API (``/v1/responses``) and the
Anthropic Messages API (``/v1/messages``), read from the raw bytes, then driven by the official SDKs, which must
read them without complaint. Both give the chat-completion replies: the same text, tool calls and token counts."""

from __future__ import annotations

import json
import math
import re
import ssl
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from conformance.reference.chat import ARGUMENT_PIECE, REASONING_TEXT, REPLY_TEXT
from conformance.reference.server import REFERENCE_KEY, ReferenceConfig, ReferenceServer

BEARER = {"Authorization": f"Bearer {REFERENCE_KEY}"}
ANTHROPIC = {"x-api-key": REFERENCE_KEY, "anthropic-version": "2023-06-01"}
HELLO = [{"role": "user", "content": "Say hello."}]
SCHEMA = {"type": "object", "properties": {"path": {"type": "string"}, "line": {"type": "integer"}}}
TOOL_ARGUMENTS = {"path": "example", "line": 1}
PIECES = math.ceil(len(json.dumps(TOOL_ARGUMENTS)) / ARGUMENT_PIECE)
"""How many pieces the tool arguments stream in."""
WORDS = len(REPLY_TEXT.split())
RS_TOOLS = [{"type": "function", "name": "read_file", "description": "Read a file", "parameters": SCHEMA}]
AN_TOOLS = [{"name": "read_file", "description": "Read a file", "input_schema": SCHEMA}]
RS_FOLLOW_UP = [
    {"role": "user", "content": "Read README.md."},
    {"type": "function_call", "call_id": "call_1", "name": "read_file", "arguments": '{"path": "README.md"}'},
    {"type": "function_call_output", "call_id": "call_1", "output": "# provider-conformance"},
]
AN_FOLLOW_UP = [
    {"role": "user", "content": "Read README.md with the tool."},
    {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_1", "name": "read_file", "input": {}}]},
    {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": "# conformance"}]},
]
IMAGE_DATA = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="
SSE_EVENT = re.compile(r"(?:event: ([^\n]+)\n)?data: ([^\n]*)\n\n")
TLS = ssl.create_default_context()
"""Made once: httpx builds a TLS context for every client otherwise, though nothing here is https."""

Events = list[tuple[str | None, Any]]


def events(response: httpx.Response) -> Events:
    """Each SSE event of a stream: its ``event:`` name (``None`` without one) and its data (parsed when JSON)."""
    found = SSE_EVENT.findall(response.text)
    return [(name or None, json.loads(data) if data.startswith("{") else data) for name, data in found]


def types(stream: Events) -> list[str]:
    return [data["type"] if isinstance(data, dict) else data for _, data in stream]


def respond(c: httpx.Client, *, headers: dict[str, str] = BEARER, **body: Any) -> httpx.Response:
    return c.post("/v1/responses", json={"model": "reference/coder", "input": "Say hello.", **body}, headers=headers)


def respond_stream(c: httpx.Client, **body: Any) -> tuple[httpx.Response, Events]:
    response = respond(c, stream=True, **body)
    return response, events(response)


def message(c: httpx.Client, *, headers: dict[str, str] = ANTHROPIC, **body: Any) -> httpx.Response:
    body = {"model": "reference/coder", "max_tokens": 1024, "messages": HELLO, **body}
    return c.post("/v1/messages", json=body, headers=headers)


def message_stream(c: httpx.Client, **body: Any) -> tuple[httpx.Response, Events]:
    response = message(c, stream=True, **body)
    return response, events(response)


def joined(stream: Events, kind: str, field: str) -> str:
    """The ``field`` of every event (or content-block delta) of type ``kind``, joined."""
    found = [d["delta"] if isinstance(d, dict) and d.get("type") == "content_block_delta" else d for _, d in stream]
    return "".join(d[field] for d in found if isinstance(d, dict) and d.get("type") == kind)


@pytest.fixture(scope="module")
def server() -> Iterator[ReferenceServer]:
    with ReferenceServer() as server:
        yield server


@pytest.fixture
def c(server: ReferenceServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.origin, timeout=5, verify=TLS) as c:
        yield c


def assert_only_named_events(response: httpx.Response) -> None:
    """A stream of ``event: <type>`` / ``data: <one-line JSON with that type>`` events and nothing else."""
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    assert SSE_EVENT.sub("", response.text) == ""
    assert all(isinstance(data, dict) and name == data["type"] for name, data in events(response))


# the Responses API


def test_responses_non_streamed(c: httpx.Client) -> None:
    body = respond(c, instructions="Be terse.").json()
    assert body.pop("completed_at") >= body.pop("created_at") > 0
    assert body == {
        "previous_response_id": None,
        "truncation": "disabled",
        "text": {"format": {"type": "text"}},
        "temperature": 1.0,
        "top_p": 1.0,
        "presence_penalty": 0.0,
        "frequency_penalty": 0.0,
        "top_logprobs": 0,
        "reasoning": {"effort": None, "summary": None},
        "max_tool_calls": None,
        "store": False,
        "background": False,
        "service_tier": "default",
        "metadata": {},
        "safety_identifier": None,
        "prompt_cache_key": None,
        "id": body["id"],
        "object": "response",
        "status": "completed",
        "error": None,
        "incomplete_details": None,
        "model": "reference/coder",
        "output": [
            {
                "type": "message",
                "id": body["output"][0]["id"],
                "status": "completed",
                "role": "assistant",
                "content": [{"type": "output_text", "text": REPLY_TEXT, "annotations": []}],
            }
        ],
        "tools": [],
        "instructions": "Be terse.",
        "max_output_tokens": None,
        "parallel_tool_calls": True,
        "tool_choice": "auto",
        "usage": {
            "input_tokens": 6,
            "input_tokens_details": {"cached_tokens": 0},
            "output_tokens": WORDS,  # no reasoning: the Responses API is not asked for it here
            "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": 6 + WORDS,
        },
    }
    assert body["id"].startswith("resp_") and body["output"][0]["id"].startswith("msg_")


def test_responses_are_deterministic_but_for_created_at(c: httpx.Client) -> None:
    def without_created(response: httpx.Response) -> str:
        return re.sub(r'"(created|completed)_at":\s*\d+', "", response.text)

    assert without_created(respond(c)) == without_created(respond(c))
    assert without_created(respond(c, stream=True)) == without_created(respond(c, stream=True))
    assert respond(c).json()["id"] != respond(c, input="Say hi.").json()["id"]


def test_responses_input_items(c: httpx.Client) -> None:
    items = [
        {"role": "system", "content": "Be terse."},
        {"role": "developer", "content": [{"type": "input_text", "text": "No markdown."}]},
        {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "Hi."}]},
        {"role": "user", "content": [{"type": "input_text", "text": "Say hello."}], "id": "ignored"},
    ]
    body = respond(c, input=items, store=False, metadata={"a": "b"}).json()
    assert body["output"][0]["content"][0]["text"] == REPLY_TEXT
    assert body["usage"]["input_tokens"] == 4 + 7


def test_responses_stream(c: httpx.Client) -> None:
    response, stream = respond_stream(c)
    assert_only_named_events(response)
    delta = "response.output_text.delta"
    assert types(stream) == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
        *[delta] * WORDS,
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ]
    assert [data["sequence_number"] for _, data in stream] == list(range(len(stream)))
    assert joined(stream, delta, "delta") == REPLY_TEXT
    assert stream[0][1]["response"]["status"] == "in_progress"
    assert stream[2][1]["item"]["content"] == []
    finished = stream[-1][1]["response"]
    clocks = ("created_at", "completed_at")
    assert {k: v for k, v in finished.items() if k not in clocks} == {
        k: v for k, v in respond(c).json().items() if k not in clocks
    }
    assert "[DONE]" not in response.text


@pytest.mark.parametrize(
    "how",
    [
        {"tool_choice": "required"},
        {"tool_choice": {"type": "function", "name": "read_file"}},
        {"input": "Use the tool to read a file."},
    ],
)
def test_responses_function_call(c: httpx.Client, how: dict[str, Any]) -> None:
    body = respond(c, tools=RS_TOOLS, **how).json()
    [call] = body["output"]
    assert call == {
        "type": "function_call",
        "id": call["id"],
        "call_id": call["call_id"],
        "name": "read_file",
        "arguments": json.dumps(TOOL_ARGUMENTS),
        "status": "completed",
    }
    assert call["id"].startswith("fc_") and call["call_id"].startswith("call_")
    assert body["usage"]["output_tokens"] == 1 + PIECES
    assert body["tools"] == [{**tool, "strict": None} for tool in RS_TOOLS]


def test_responses_function_call_stream(c: httpx.Client) -> None:
    response, stream = respond_stream(c, tools=RS_TOOLS, tool_choice="required")
    assert_only_named_events(response)
    delta = "response.function_call_arguments.delta"
    assert types(stream) == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        *[delta] * PIECES,
        "response.function_call_arguments.done",
        "response.output_item.done",
        "response.completed",
    ]
    added, done = stream[2][1]["item"], stream[-2][1]["item"]
    assert added == {**done, "arguments": "", "status": "in_progress"}
    assert json.loads(joined(stream, delta, "delta")) == TOOL_ARGUMENTS
    assert stream[-3][1]["arguments"] == done["arguments"] == json.dumps(TOOL_ARGUMENTS)


@pytest.mark.parametrize(
    "how",
    [{"input": RS_FOLLOW_UP}, {"tool_choice": "none", "input": "Use the tool."}, {}],
    ids=["after-function-output", "tool-choice-none", "not-asked"],
)
def test_responses_text_when_no_call_is_due(c: httpx.Client, how: dict[str, Any]) -> None:
    [item] = respond(c, tools=RS_TOOLS, **how).json()["output"]
    assert item["type"] == "message"
    assert item["content"][0]["text"].endswith(REPLY_TEXT)


def test_responses_max_output_tokens(c: httpx.Client) -> None:
    body = respond(c, max_output_tokens=3).json()
    assert (body["status"], body["incomplete_details"], body["max_output_tokens"]) == (
        "incomplete",
        {"reason": "max_output_tokens"},
        3,
    )
    assert body["usage"]["output_tokens"] == 3
    assert body["output"][0]["status"] == "incomplete"
    _, stream = respond_stream(c, max_output_tokens=3)
    assert types(stream)[-1] == "response.incomplete"
    assert joined(stream, "response.output_text.delta", "delta") == "Hello from the "


def test_responses_images_need_an_image_model(c: httpx.Client) -> None:
    image = {"type": "input_image", "image_url": f"data:image/png;base64,{IMAGE_DATA}"}
    picture = [{"role": "user", "content": [{"type": "input_text", "text": "What is this?"}, image]}]
    assert respond(c, input=picture).status_code == 200
    assert respond(c, input=picture, model="reference/mini").status_code == 400


@pytest.mark.parametrize(
    ("send", "status", "code"),
    [
        (lambda c: respond(c, headers={"Authorization": "Bearer sk-wrong"}), 401, "invalid_api_key"),
        (lambda c: respond(c, headers={}), 401, "invalid_api_key"),
        (lambda c: respond(c, model="no/such-model"), 404, "model_not_found"),
        (
            lambda c: c.post("/v1/responses", content=b'{"model": "reference/coder", "input": ', headers=BEARER),
            400,
            None,
        ),
        (lambda c: c.post("/v1/responses", json=[1], headers=BEARER), 400, None),
        (lambda c: respond(c, input=[]), 400, "missing_required_parameter"),
        (lambda c: respond(c, input=[{"type": "web_search_call"}]), 400, None),
        (lambda c: respond(c, input=[{"role": "tool", "content": "x"}]), 400, None),
        (lambda c: respond(c, input=[{"role": "user", "content": [{"type": "input_audio"}]}]), 400, None),
        (lambda c: respond(c, instructions=["no"]), 400, None),
        (lambda c: respond(c, tools=[{"type": "web_search"}]), 400, None),
        (lambda c: respond(c, tools=RS_TOOLS, tool_choice="sometimes"), 400, None),
        (lambda c: respond(c, tools=RS_TOOLS, tool_choice={"type": "function", "name": "nope"}), 400, None),
        (lambda c: respond(c, max_output_tokens=0), 400, "invalid_value"),
        (lambda c: respond(c, stream="yes"), 400, None),
    ],
)
def test_responses_errors_are_openai_errors(
    c: httpx.Client, send: Callable[[httpx.Client], httpx.Response], status: int, code: str | None
) -> None:
    response = send(c)
    assert response.status_code == status
    assert response.headers["content-type"] == "application/json"
    error = response.json()["error"]
    assert error.keys() == {"message", "type", "param", "code"}
    assert error["message"] and error["code"] == code


# the Messages API


def test_messages_non_streamed(c: httpx.Client) -> None:
    body = message(c, system="Be terse.").json()
    assert body == {
        "id": body["id"],
        "type": "message",
        "role": "assistant",
        "content": [{"type": "text", "text": REPLY_TEXT}],
        "model": "reference/coder",
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": {"input_tokens": 6, "output_tokens": WORDS},
    }
    assert body["id"].startswith("msg_")
    assert message(c).text == message(c).text


@pytest.mark.parametrize(
    "headers",
    [ANTHROPIC, BEARER | {"anthropic-version": "2026-10-21"}],
    ids=["x-api-key", "bearer-and-a-newer-version"],
)
def test_messages_take_the_key_as_either_sdk_sends_it(c: httpx.Client, headers: dict[str, str]) -> None:
    """Older Anthropic SDKs send ``x-api-key``; newer ones ``Authorization: Bearer`` and a newer version."""
    assert message(c, headers=headers).status_code == 200


def test_messages_think_only_when_asked_and_able(c: httpx.Client) -> None:
    thinking = {"type": "enabled", "budget_tokens": 1024}
    body = message(c, thinking=thinking).json()
    assert body["content"] == [
        {"type": "thinking", "thinking": REASONING_TEXT, "signature": body["content"][0]["signature"]},
        {"type": "text", "text": REPLY_TEXT},
    ]
    assert body["content"][0]["signature"]
    assert body["usage"]["output_tokens"] == len(REASONING_TEXT.split()) + WORDS
    assert [b["type"] for b in message(c, model="reference/mini", thinking=thinking).json()["content"]] == ["text"]
    assert [b["type"] for b in message(c, thinking={"type": "disabled"}).json()["content"]] == ["text"]


def test_messages_stream(c: httpx.Client) -> None:
    response, stream = message_stream(c)
    assert_only_named_events(response)
    assert types(stream) == [
        "message_start",
        "ping",
        "content_block_start",
        *["content_block_delta"] * WORDS,
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]
    start = stream[0][1]["message"]
    assert start == {**message(c).json(), "content": [], "stop_reason": None, "usage": start["usage"]}
    assert start["usage"] == {"input_tokens": 3, "output_tokens": 0}
    assert stream[2][1] == {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}
    assert joined(stream, "text_delta", "text") == REPLY_TEXT
    assert {data.get("index") for _, data in stream[2:-2]} == {0}
    assert stream[-2][1] == {
        "type": "message_delta",
        "delta": {"stop_reason": "end_turn", "stop_sequence": None},
        "usage": {"output_tokens": WORDS},
    }
    assert "[DONE]" not in response.text


def test_messages_stream_with_thinking(c: httpx.Client) -> None:
    _, stream = message_stream(c, thinking={"type": "enabled", "budget_tokens": 1024})
    blocks = [data["content_block"]["type"] for _, data in stream if data["type"] == "content_block_start"]
    assert blocks == ["thinking", "text"]
    assert joined(stream, "thinking_delta", "thinking") == REASONING_TEXT
    assert joined(stream, "signature_delta", "signature").startswith("sig_")
    assert [data["index"] for _, data in stream if data["type"] == "content_block_stop"] == [0, 1]


@pytest.mark.parametrize(
    "how",
    [
        {"tool_choice": {"type": "any"}},
        {"tool_choice": {"type": "tool", "name": "read_file"}},
        {"messages": [{"role": "user", "content": "Use the tool to read a file."}]},
    ],
)
def test_messages_tool_use(c: httpx.Client, how: dict[str, Any]) -> None:
    body = message(c, tools=AN_TOOLS, **how).json()
    [block] = body["content"]
    assert block == {"type": "tool_use", "id": block["id"], "name": "read_file", "input": TOOL_ARGUMENTS}
    assert block["id"].startswith("toolu_")
    assert body["stop_reason"] == "tool_use"
    assert body["usage"]["output_tokens"] == 1 + PIECES


def test_messages_tool_use_stream(c: httpx.Client) -> None:
    response, stream = message_stream(c, tools=AN_TOOLS, tool_choice={"type": "any"})
    assert_only_named_events(response)
    assert types(stream) == [
        "message_start",
        "ping",
        "content_block_start",
        *["content_block_delta"] * PIECES,
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]
    block = stream[2][1]["content_block"]
    assert block == {"type": "tool_use", "id": block["id"], "name": "read_file", "input": {}}
    assert json.loads(joined(stream, "input_json_delta", "partial_json")) == TOOL_ARGUMENTS
    assert stream[-2][1]["delta"]["stop_reason"] == "tool_use"


@pytest.mark.parametrize(
    "how",
    [
        {"messages": AN_FOLLOW_UP},
        {"messages": [{"role": "user", "content": "Use the tool."}], "tool_choice": {"type": "none"}},
        {},
    ],
    ids=["after-tool-result", "tool-choice-none", "not-asked"],
)
def test_messages_text_when_no_tool_use_is_due(c: httpx.Client, how: dict[str, Any]) -> None:
    body = message(c, tools=AN_TOOLS, **how).json()
    [block] = body["content"]
    assert (block["type"], body["stop_reason"]) == ("text", "end_turn")
    assert block["text"].endswith(REPLY_TEXT)


def test_messages_max_tokens(c: httpx.Client) -> None:
    body = message(c, max_tokens=3).json()
    assert (body["stop_reason"], body["usage"]["output_tokens"]) == ("max_tokens", 3)
    assert body["content"] == [{"type": "text", "text": "Hello from the "}]
    cut_call = message(c, max_tokens=2, tools=AN_TOOLS, tool_choice={"type": "any"}).json()
    assert (cut_call["stop_reason"], cut_call["content"][0]["input"]) == ("max_tokens", {})
    _, stream = message_stream(c, max_tokens=3)
    assert stream[-2][1]["delta"]["stop_reason"] == "max_tokens"


def test_messages_images_need_an_image_model(c: httpx.Client) -> None:
    image = {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": IMAGE_DATA}}
    picture = [{"role": "user", "content": [{"type": "text", "text": "What is this?"}, image]}]
    assert message(c, messages=picture).status_code == 200
    assert message(c, messages=picture, model="reference/mini").status_code == 400


@pytest.mark.parametrize(
    ("send", "status", "kind"),
    [
        (lambda c: message(c, headers={**ANTHROPIC, "x-api-key": "sk-wrong"}), 401, "authentication_error"),
        (lambda c: message(c, headers={"anthropic-version": "2023-06-01"}), 401, "authentication_error"),
        (
            lambda c: message(c, headers={"authorization": "Bearer sk-wrong", "anthropic-version": "1"}),
            401,
            "authentication_error",
        ),
        (lambda c: message(c, headers={"x-api-key": REFERENCE_KEY}), 400, "invalid_request_error"),
        (lambda c: message(c, model="no/such-model"), 404, "not_found_error"),
        (lambda c: c.post("/v1/messages", content=b'{"model": ', headers=ANTHROPIC), 400, "invalid_request_error"),
        (lambda c: message(c, max_tokens=None), 400, "invalid_request_error"),
        (lambda c: message(c, messages=[]), 400, "invalid_request_error"),
        (lambda c: message(c, messages=[{"role": "system", "content": "x"}]), 400, "invalid_request_error"),
        (lambda c: message(c, messages=[{"role": "user", "content": 1}]), 400, "invalid_request_error"),
        (
            lambda c: message(c, messages=[{"role": "user", "content": [{"type": "tool_use"}]}]),
            400,
            "invalid_request_error",
        ),
        (lambda c: message(c, system=1), 400, "invalid_request_error"),
        (lambda c: message(c, tools=[{"name": "read_file"}]), 400, "invalid_request_error"),
        (lambda c: message(c, tools=AN_TOOLS, tool_choice={"type": "some"}), 400, "invalid_request_error"),
        (lambda c: message(c, stream="yes"), 400, "invalid_request_error"),
    ],
)
def test_messages_errors_are_anthropic_errors(
    c: httpx.Client, send: Callable[[httpx.Client], httpx.Response], status: int, kind: str
) -> None:
    response = send(c)
    assert response.status_code == status
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert body == {"type": "error", "error": {"type": kind, "message": body["error"]["message"]}}
    assert body["error"]["message"]


def test_both_streams_keep_the_token_clock() -> None:
    """Only lower bounds, as for chat: no token before its time."""
    ttft, gap = 0.1, 0.01
    with (
        ReferenceServer(ReferenceConfig(ttft_ms=ttft * 1000, token_ms=gap * 1000)) as server,
        httpx.Client(base_url=server.origin, timeout=5, verify=TLS) as c,
    ):
        for path, body, headers, marker in [
            ("/v1/responses", {"input": "Say hello."}, BEARER, '"type":"response.output_text.delta"'),
            ("/v1/messages", {"messages": HELLO, "max_tokens": 64}, ANTHROPIC, '"type":"text_delta"'),
        ]:
            t0 = time.monotonic()
            sent = {"model": "reference/mini", "stream": True, **body}
            with c.stream("POST", path, json=sent, headers=headers) as response:
                times = [time.monotonic() - t0 for line in response.iter_lines() if marker in line]
            assert len(times) == WORDS
            assert times[0] >= ttft
            assert times[-1] >= ttft + (WORDS - 1) * gap
            t0 = time.monotonic()
            c.post(path, json={**sent, "stream": False}, headers=headers).raise_for_status()
            assert time.monotonic() - t0 >= ttft + (WORDS - 1) * gap


# the official SDKs


@pytest.fixture(scope="module")
def openai_sdk() -> Any:
    return pytest.importorskip("openai", reason="the openai SDK is not installed (pip install openai)")


@pytest.fixture(scope="module")
def anthropic_sdk() -> Any:
    return pytest.importorskip("anthropic", reason="the anthropic SDK is not installed (pip install anthropic)")


@pytest.fixture(scope="module")
def openai_client(openai_sdk: Any, server: ReferenceServer) -> Iterator[Any]:
    with openai_sdk.OpenAI(base_url=server.base_url, api_key=REFERENCE_KEY, max_retries=0, timeout=10) as client:
        yield client


@pytest.fixture(scope="module")
def anthropic_client(anthropic_sdk: Any, server: ReferenceServer) -> Iterator[Any]:
    with anthropic_sdk.Anthropic(base_url=server.origin, api_key=REFERENCE_KEY, max_retries=0, timeout=10) as client:
        yield client


def test_openai_sdk_responses(openai_client: Any) -> None:
    response = openai_client.responses.create(model="reference/coder", input="Say hello.", instructions="Be terse.")
    assert response.status == "completed"
    assert response.output_text == REPLY_TEXT
    assert response.usage.output_tokens == WORDS
    assert response.usage.total_tokens == response.usage.input_tokens + WORDS


def test_openai_sdk_responses_stream(openai_client: Any) -> None:
    stream = openai_client.responses.create(model="reference/mini", input=HELLO, stream=True)
    received = list(stream)
    text = "".join(e.delta for e in received if e.type == "response.output_text.delta")
    [final] = [e.response for e in received if e.type == "response.completed"]
    assert text == final.output_text == REPLY_TEXT
    assert final.usage.output_tokens == WORDS
    with openai_client.responses.stream(model="reference/mini", input=HELLO) as helper:  # checks the event order
        assert helper.get_final_response().output_text == REPLY_TEXT


def test_openai_sdk_function_call_and_its_output(openai_client: Any) -> None:
    asked = [{"role": "user", "content": "Read README.md."}]
    stream = openai_client.responses.create(
        model="reference/coder", input=asked, tools=RS_TOOLS, tool_choice="required", stream=True
    )
    received = list(stream)
    pieces = "".join(e.delta for e in received if e.type == "response.function_call_arguments.delta")
    [final] = [e.response for e in received if e.type == "response.completed"]
    [call] = final.output
    assert call.type == "function_call" and call.name == "read_file"
    assert json.loads(pieces) == json.loads(call.arguments) == TOOL_ARGUMENTS

    output = {"type": "function_call_output", "call_id": call.call_id, "output": "# provider-conformance"}
    returned = [call.model_dump(exclude_none=True)]  # with the item's id and status, as clients send it back
    follow_up = openai_client.responses.create(
        model="reference/coder", input=[*asked, *returned, output], tools=RS_TOOLS
    )
    assert follow_up.output_text == f"The tool returned # provider-conformance {REPLY_TEXT}"


def test_openai_sdk_responses_errors(openai_sdk: Any, openai_client: Any, server: ReferenceServer) -> None:
    with pytest.raises(openai_sdk.NotFoundError) as not_found:
        openai_client.responses.create(model="no/such-model", input="Say hello.")
    assert not_found.value.code == "model_not_found"
    with (
        openai_sdk.OpenAI(base_url=server.base_url, api_key="sk-wrong", max_retries=0) as wrong,
        pytest.raises(openai_sdk.AuthenticationError),
    ):
        wrong.responses.create(model="reference/coder", input="Say hello.")


def test_anthropic_sdk_messages(anthropic_client: Any) -> None:
    reply = anthropic_client.messages.create(model="reference/coder", max_tokens=1024, messages=HELLO, system="Terse.")
    assert [b.type for b in reply.content] == ["text"]
    assert reply.content[0].text == REPLY_TEXT
    assert reply.stop_reason == "end_turn"
    assert reply.usage.output_tokens == WORDS


def test_anthropic_sdk_stream(anthropic_client: Any) -> None:
    with anthropic_client.messages.stream(model="reference/mini", max_tokens=1024, messages=HELLO) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert text == final.content[0].text == REPLY_TEXT
    assert final.stop_reason == "end_turn"
    assert final.usage.output_tokens == WORDS


def test_anthropic_sdk_streamed_tool_use_and_its_result(anthropic_client: Any) -> None:
    asked = [{"role": "user", "content": "Read README.md."}]
    with anthropic_client.messages.stream(
        model="reference/coder",
        max_tokens=2048,
        messages=asked,
        tools=AN_TOOLS,
        tool_choice={"type": "any"},
        thinking={"type": "enabled", "budget_tokens": 1024},
    ) as stream:
        pieces = "".join(e.partial_json for e in stream if e.type == "input_json")
        final = stream.get_final_message()
    assert [b.type for b in final.content] == ["thinking", "tool_use"]
    thinking, tool_use = final.content
    assert (thinking.thinking, bool(thinking.signature)) == (REASONING_TEXT, True)
    assert json.loads(pieces) == tool_use.input == TOOL_ARGUMENTS
    assert final.stop_reason == "tool_use"

    result = {"type": "tool_result", "tool_use_id": tool_use.id, "content": [{"type": "text", "text": "# readme"}]}
    follow_up = anthropic_client.messages.create(
        model="reference/coder",
        max_tokens=2048,
        messages=[*asked, {"role": "assistant", "content": final.content}, {"role": "user", "content": [result]}],
        tools=AN_TOOLS,
        thinking={"type": "enabled", "budget_tokens": 1024},
    )
    assert [b.type for b in follow_up.content] == ["thinking", "text"]
    assert follow_up.content[1].text == f"The tool returned # readme {REPLY_TEXT}"


def test_anthropic_sdk_errors(anthropic_sdk: Any, anthropic_client: Any, server: ReferenceServer) -> None:
    with pytest.raises(anthropic_sdk.NotFoundError) as not_found:
        anthropic_client.messages.create(model="no/such-model", max_tokens=16, messages=HELLO)
    assert not_found.value.body["error"]["type"] == "not_found_error"
    with (
        anthropic_sdk.Anthropic(base_url=server.origin, api_key="sk-wrong", max_retries=0) as wrong,
        pytest.raises(anthropic_sdk.AuthenticationError),
    ):
        wrong.messages.create(model="reference/coder", max_tokens=16, messages=HELLO)
