"""``tool_choice: auto`` as a model would use it: a call when the user asks about what a declared tool does, its
arguments filled from the question, and the tool's result read back into the answer."""

from __future__ import annotations

import json
from typing import Any

import pytest

from conformance.reference import chat


def function(name: str, argument: str = "city") -> dict[str, Any]:
    parameters = {"type": "object", "properties": {argument: {"type": "string"}}, "required": [argument]}
    return {"type": "function", "function": {"name": name, "parameters": parameters}}


WEATHER, TIME, STOCK = function("get_current_weather"), function("get_current_time"), function("get_stock_price")


def reply(messages: list[dict[str, Any]], tools: list[dict[str, Any]], **extra: Any) -> chat.Reply:
    return chat.build_reply({"model": "reference/mini", "messages": messages, "tools": tools, **extra}, frozenset())


def ask(text: str, tools: list[dict[str, Any]]) -> chat.Reply:
    return reply([{"role": "user", "content": text}], tools)


@pytest.mark.parametrize(
    ("question", "called", "place"),
    [
        ("What is the current weather in Paris?", "get_current_weather", "Paris"),
        ("What is the current time in Paris?", "get_current_time", "Paris"),
        ("What's the weather like in San Francisco?", "get_current_weather", "San Francisco"),
        ("Use the tool.", "get_current_weather", "example"),
    ],
)
def test_auto_calls_the_tool_the_question_is_about(question: str, called: str, place: str) -> None:
    answer = ask(question, [WEATHER, TIME, STOCK])
    assert answer.tool_call is not None and answer.finish_reason == "tool_calls"
    assert answer.tool_call.name == called
    assert json.loads(answer.tool_call.arguments) == {"city": place}


@pytest.mark.parametrize("question", ["Reply with exactly the word hello, and nothing else.", "Say hello."])
def test_auto_answers_in_words_when_no_tool_is_about_the_question(question: str) -> None:
    answer = ask(question, [WEATHER, TIME, STOCK])
    assert answer.tool_call is None
    assert answer.text("content") == chat.REPLY_TEXT


def test_the_tool_result_is_read_back_and_not_asked_for_again() -> None:
    call = {"id": "call_1", "type": "function", "function": {"name": "get_current_weather", "arguments": "{}"}}
    history = [
        {"role": "user", "content": "What is the current weather in Paris?"},
        {"role": "assistant", "content": None, "tool_calls": [call]},
        {"role": "tool", "tool_call_id": "call_1", "content": '{"city": "Paris", "celsius": 31}'},
        {"role": "user", "content": "Answer my question about the weather using that result."},
    ]
    answer = reply(history, [WEATHER])
    assert answer.tool_call is None
    assert answer.text("content") == f'The tool returned {{"city": "Paris", "celsius": 31}} {chat.REPLY_TEXT}'
