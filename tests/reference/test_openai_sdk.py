"""The clean reference provider, driven by the official ``openai`` SDK: if the SDK that most clients build on
reads it without complaint, the reference is a fair stand-in for a well-behaved provider."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from conformance.reference.catalog import MODELS
from conformance.reference.chat import REASONING_TEXT, REPLY_TEXT
from conformance.reference.server import REFERENCE_KEY, ReferenceServer

HELLO = [{"role": "system", "content": "You are terse."}, {"role": "user", "content": "Say hello."}]
TOOLS: list[Any] = [
    {
        "type": "function",
        "function": {
            "name": "read_file",
            "parameters": {
                "type": "object",
                "properties": {"path": {"type": "string"}, "limit": {"type": "integer"}},
                "required": ["path", "limit"],
                "additionalProperties": False,
            },
            "strict": True,
        },
    }
]


@pytest.fixture(scope="module")
def server() -> Iterator[ReferenceServer]:
    with ReferenceServer() as server:
        yield server


@pytest.fixture(scope="module")
def openai() -> Any:
    """The SDK, imported by the tests that drive it: at collection it would cost every xdist worker 1.1 s of CPU."""
    return pytest.importorskip("openai", reason="the openai SDK is not installed (pip install openai)")


@pytest.fixture(scope="module")
def client(openai: Any, server: ReferenceServer) -> Iterator[Any]:
    with openai.OpenAI(base_url=server.base_url, api_key=REFERENCE_KEY, max_retries=0, timeout=10) as client:
        yield client


def test_models_list(client: Any) -> None:
    assert [m.id for m in client.models.list()] == list(MODELS)


def test_non_streaming(client: Any) -> None:
    reply = client.chat.completions.create(model="reference/coder", messages=HELLO, max_tokens=8192)
    [choice] = reply.choices
    assert choice.finish_reason == "stop"
    assert choice.message.role == "assistant"
    assert choice.message.content == REPLY_TEXT
    assert choice.message.model_extra["reasoning_content"] == REASONING_TEXT
    assert reply.usage.total_tokens == reply.usage.prompt_tokens + reply.usage.completion_tokens > 0


def test_streaming_with_usage(client: Any) -> None:
    stream = client.chat.completions.create(
        model="reference/mini", messages=HELLO, stream=True, stream_options={"include_usage": True}
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    usage = [c.usage for c in chunks if c.usage]
    assert text == REPLY_TEXT
    assert len(usage) == 1
    assert usage[0].completion_tokens == len(REPLY_TEXT.split())
    assert not chunks[-1].choices  # the usage chunk comes last


def test_streamed_tool_call_and_its_follow_up(client: Any) -> None:
    stream = client.chat.completions.create(
        model="reference/coder",
        messages=[{"role": "user", "content": "Read README.md."}],
        tools=TOOLS,
        tool_choice="required",
        stream=True,
    )
    calls: dict[int, dict[str, str]] = {}
    finish_reason = None
    for chunk in stream:
        for choice in chunk.choices:
            finish_reason = choice.finish_reason or finish_reason
            for fragment in choice.delta.tool_calls or ():
                call = calls.setdefault(fragment.index, {"id": "", "name": "", "arguments": ""})
                call["id"] += fragment.id or ""
                call["name"] += (fragment.function and fragment.function.name) or ""
                call["arguments"] += (fragment.function and fragment.function.arguments) or ""
    assert finish_reason == "tool_calls"
    assert list(calls) == [0]
    call = calls[0]
    assert call["name"] == "read_file"
    assert json.loads(call["arguments"]) == {"path": "example", "limit": 1}

    follow_up = client.chat.completions.create(
        model="reference/coder",
        messages=[
            {"role": "user", "content": "Read README.md."},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": call["id"],
                        "type": "function",
                        "function": {"name": "read_file", "arguments": call["arguments"]},
                    }
                ],
            },
            {"role": "tool", "tool_call_id": call["id"], "content": "# provider-conformance"},
        ],
        tools=TOOLS,
    )
    assert follow_up.choices[0].message.content == f"The tool returned # provider-conformance {REPLY_TEXT}"


def test_errors_are_the_sdk_exceptions(openai: Any, client: Any, server: ReferenceServer) -> None:
    with pytest.raises(openai.NotFoundError) as not_found:
        client.chat.completions.create(model="no/such-model", messages=HELLO)
    assert not_found.value.code == "model_not_found"
    with (
        openai.OpenAI(base_url=server.base_url, api_key="sk-wrong", max_retries=0) as wrong,
        pytest.raises(openai.AuthenticationError) as denied,
    ):
        wrong.chat.completions.create(model="reference/coder", messages=HELLO)
    assert denied.value.code == "invalid_api_key"
