"""CV-*: the conversation checks against small outside servers (not the reference provider) that refuse history
or mishandle parallel calls the way real providers do, each with the provider's own error text; a clean outside
server passes them all."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from conformance import conversation as cv
from conformance.loopback import Loopback, bind
from conformance.reference import chat
from tests.conftest import embedded, run, write_json

KEY = "sk-outside-conversation"
MODEL = "outside/thinker"
CV_IDS = [f"CV-00{n}" for n in range(1, 8)]
DEEPSEEK = "The reasoning_content in the thinking mode must be passed back to the API."
OPENAI_UNANSWERED = (
    "An assistant message with 'tool_calls' must be followed by tool messages responding to each 'tool_call_id'. "
    "The following tool_call_ids did not have response messages: {ids}"
)


def _refusal(message: str, **error: Any) -> JSONResponse:
    body = {"message": message, "type": "invalid_request_error", "param": None, "code": None, **error}
    return JSONResponse({"error": body}, status_code=400)


def _refused(quirk: str, messages: list[dict[str, Any]]) -> JSONResponse | None:
    """The outside server's refusals of history, each in its provider's words."""
    for index, message in enumerate(messages):
        if message.get("role") != "assistant":
            continue
        if quirk == "refuse-reasoning" and "reasoning_content" in message:
            where = f"messages.{index}.assistant.reasoning_content"  # Cerebras, Kilo-Org/kilocode #10375
            return _refusal(f"{where}: property '{where}' is unsupported", code="wrong_api_format")
        if quirk == "demand-reasoning" and message.get("tool_calls") and "reasoning_content" not in message:
            return _refusal(DEEPSEEK)
        if quirk == "mangle-ids" and message.get("tool_calls"):
            rewritten = [re.sub(r"[^A-Za-z0-9_-]", "_", c["id"]) for c in message["tool_calls"]]
            answered = {m.get("tool_call_id") for m in messages[index + 1 :] if m.get("role") == "tool"}
            if missing := [i for i in rewritten if i not in answered]:
                return _refusal(OPENAI_UNANSWERED.format(ids=", ".join(missing)))
    return None


def _calls(quirk: str, body: dict[str, Any]) -> list[str]:
    """The tools this server's model calls: those the user names, one per round; both at once when asked, unless
    parallel_tool_calls is false (which ``ignore-parallel-false`` ignores)."""
    messages = body["messages"]
    user = next(m["content"] for m in reversed(messages) if m["role"] == "user")
    names = [t["function"]["name"] for t in body.get("tools") or []]
    named = [n for _, n in sorted((user.find(n), n) for n in names if re.search(rf"\b{n}\b", user))]
    done = sum(1 for m in messages if m["role"] == "tool")
    if "at once" in user:
        if done:
            return []
        together = body.get("parallel_tool_calls") is not False or quirk == "ignore-parallel-false"
        return named if together else named[:1]
    return named[done : done + 1]


def _completion(quirk: str, body: dict[str, Any]) -> dict[str, Any]:
    names = _calls(quirk, body)
    message: dict[str, Any] = {"role": "assistant", "content": None if names else "Done.", "reasoning_content": "Hm."}
    if names:
        message["tool_calls"] = [
            {
                "id": f"call_out_{len(body['messages'])}_{i}",
                "type": "function",
                "function": {"name": n, "arguments": "{}"},
            }
            for i, n in enumerate(names)
        ]
    return {
        "id": "chatcmpl-outside",
        "object": "chat.completion",
        "created": 1,
        "model": body["model"],
        "choices": [{"index": 0, "message": message, "finish_reason": "tool_calls" if names else "stop"}],
        "usage": {"prompt_tokens": 10, "completion_tokens": 2, "total_tokens": 12},
    }


def _stream(completion: dict[str, Any]) -> Response:
    message = completion["choices"][0]["message"]
    deltas: list[dict[str, Any]] = [{"role": "assistant", "content": ""}, {"reasoning_content": "Hm."}]
    for i, call in enumerate(message.get("tool_calls") or []):
        deltas.append({"tool_calls": [{"index": i, **call, "function": {**call["function"], "arguments": ""}}]})
        deltas.append({"tool_calls": [{"index": i, "function": {"arguments": call["function"]["arguments"]}}]})
    if message.get("content"):
        deltas.append({"content": message["content"]})
    head = {"id": completion["id"], "object": "chat.completion.chunk", "created": 1, "model": completion["model"]}
    chunks = [{**head, "choices": [{"index": 0, "delta": d, "finish_reason": None}]} for d in deltas]
    chunks.append(
        {**head, "choices": [{"index": 0, "delta": {}, "finish_reason": completion["choices"][0]["finish_reason"]}]}
    )
    text = "".join(f"data: {json.dumps(c)}\n\n" for c in chunks) + "data: [DONE]\n\n"
    return Response(text, media_type="text/event-stream")


def _app(quirk: str) -> Starlette:
    async def completions(request: Request) -> Response:
        if request.headers.get("authorization") != f"Bearer {KEY}":
            return JSONResponse({"error": {"message": "bad key", "type": "auth", "param": None, "code": None}}, 401)
        body = await request.json()
        refused = _refused(quirk, body.get("messages") or [])
        if refused:
            return refused
        completion = _completion(quirk, body)
        return _stream(completion) if body.get("stream") else JSONResponse(completion)

    async def models(request: Request) -> Response:
        return JSONResponse({"object": "list", "data": [{"id": MODEL, "object": "model", "owned_by": "outside"}]})

    return Starlette(routes=[Route("/v1/chat/completions", completions, methods=["POST"]), Route("/v1/models", models)])


@pytest.fixture
def outside(request: pytest.FixtureRequest) -> Iterator[str]:
    """An outside server with one quirk (``clean`` for none), at its /v1 base URL."""
    server = Loopback(_app(request.param), [bind("127.0.0.1", 0)], f"outside-{request.param}").start()
    try:
        yield f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/v1"
    finally:
        server.stop()


def _cv(pytester: pytest.Pytester, base_url: str, monkeypatch: pytest.MonkeyPatch) -> dict[str, dict[str, Any]]:
    """The CV results of a battery run against ``base_url``, a reasoning model with tools in the catalog."""
    monkeypatch.setenv("PROVIDER_API_KEY", KEY)
    manifest, models = embedded()
    entry = {**next(iter(models["models"].values())), "id": MODEL, "reasoning": True, "tool_call": True}
    source = write_json(pytester.path / "p.json", [{**manifest, "baseUrl": base_url}, {"models": {MODEL: entry}}])
    _, data = run(pytester, f"--provider-json={source}", "-k", " or ".join(CV_IDS))
    return {r["id"]: r for r in data["results"] if r["id"].startswith("CV-")}


@pytest.mark.parametrize("outside", ["clean"], indirect=True)
def test_a_clean_outside_server_passes_every_conversation_check(
    pytester: pytest.Pytester, outside: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    results = _cv(pytester, outside, monkeypatch)
    assert set(results) == set(CV_IDS)
    assert {i: r["outcome"] for i, r in results.items()} == dict.fromkeys(CV_IDS, "passed")


@pytest.mark.parametrize(
    ("outside", "check_id", "outcome", "said"),
    [
        ("demand-reasoning", "CV-004", "failed", 'has no reasoning_content: got 400 saying "The reasoning_content'),
        ("refuse-reasoning", "CV-003", "failed", "messages[2].reasoning_content"),
        ("mangle-ids", "CV-002", "failed", "it quotes functions.list_files:0"),
        ("ignore-parallel-false", "CV-007", "warned", "the reply has 2 tool calls"),
    ],
    indirect=["outside"],
)
def test_an_outside_server_with_a_real_providers_quirk_is_flagged(
    pytester: pytest.Pytester,
    outside: str,
    check_id: str,
    outcome: str,
    said: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    results = _cv(pytester, outside, monkeypatch)
    assert results[check_id]["outcome"] == outcome, results[check_id]
    assert said in results[check_id]["findings"][0]["message"]
    assert {i for i, r in results.items() if r["outcome"] in ("failed", "warned")} == {check_id}


def test_the_reference_makes_each_named_tool_in_turn_and_a_pair_at_once() -> None:
    loop = cv.request("reference/coder", cv.opening(cv.LOOP_PROMPT))
    first = chat.build_reply(loop, frozenset())
    assert [c.name for c in first.calls] == ["list_files"] and first.reasoning
    pair = chat.build_reply(cv.request("reference/coder", cv.opening(cv.PARALLEL_PROMPT)), frozenset())
    assert [c.name for c in pair.calls] == ["list_files", "read_file"]
    assert len({c.id for c in pair.calls}) == 2
    one = cv.request("reference/coder", cv.opening(cv.PARALLEL_PROMPT), parallel_tool_calls=False)
    assert [c.name for c in chat.build_reply(one, frozenset()).calls] == ["list_files"]


def test_each_clients_history_is_what_its_source_sends() -> None:
    call = cv.Call("functions.read_file:0", "read_file", "{}")
    kilo = cv.assistant_turn([call], cv.HISTORY["kilo-code"], "why")
    roo = cv.assistant_turn([call], cv.HISTORY["roo-code"], "why")
    assert kilo["reasoning_content"] == "why" and kilo["content"] is None
    assert "reasoning_content" not in roo and roo["content"] == ""
    assert cv.drops_reasoning() == ("roo-code", "cline", "kimi-cli")
