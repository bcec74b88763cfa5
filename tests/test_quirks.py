"""The request-quirk checks (CC-010..CC-015, CT-005..CT-007) against small chat servers of their own, not the
reference provider: each refuses (or ignores) one request the way a real provider was reported to, with that
provider's status and words, and one accepts them all. Every refusing server is flagged by its own check and by no
other quirk check; the accepting server passes all of them. The outside servers answer only what these checks send:
the other checks of the battery are not looked at here."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from conformance import engine
from conformance.checks.quirks import cline_reasoning_family, o_series, o_series_senders
from conformance.loopback import Loopback, bind
from conformance.settings import Settings, Target

QUIRKS = ("CC-010", "CC-011", "CC-012", "CC-013", "CC-014", "CC-015", "CT-005", "CT-006", "CT-007")
MODEL = "outside/chat-1"
KEY = "sk-outside-key"
Body = dict[str, Any]


def _messages(body: Body) -> list[Body]:
    return [m for m in body.get("messages") or () if isinstance(m, dict)]


def _parts(body: Body) -> list[Body]:
    return [
        p for m in _messages(body) if isinstance(m.get("content"), list) for p in m["content"] if isinstance(p, dict)
    ]


def _openai(message: str, **extra: Any) -> Body:
    return {"error": {"message": message, "type": "invalid_request_error", "param": None, "code": None, **extra}}


@dataclass(frozen=True)
class Quirk:
    """One outside server's behaviour: which request it refuses (or ignores) and how, and the check that must say so."""

    check: str
    deviation: str
    refuses: Callable[[Body], bool]
    status: int = 400
    body: Body | str = ""
    ignores: bool = False
    """It answers 200 but does not do what was asked (the reply is prose, or calls no or another tool)."""


def _developer(body: Body) -> bool:
    return any(m.get("role") == "developer" for m in _messages(body))


def _empty_beside_calls(body: Body) -> bool:
    return any(m.get("role") == "assistant" and m.get("content") == "" and m.get("tool_calls") for m in _messages(body))


def _json_schema(body: Body) -> bool:
    return isinstance(body.get("response_format"), dict) and body["response_format"].get("type") == "json_schema"


QUIRK_SERVERS: dict[str, Quirk] = {
    # cline/cline #2364 (an OpenAI-compatible gateway, o3-mini)
    "developer-openai-style": Quirk(
        "CC-010",
        "refused-not-sent",
        _developer,
        body=_openai(
            "Invalid value: 'developer'. Supported values are: 'system', 'assistant', 'tool' and 'user'.",
            code="invalid_param",
        ),
    ),
    # openclaw/openclaw #27037 (DashScope/Qwen behind a proxy)
    "developer-dashscope": Quirk(
        "CC-010",
        "refused-not-sent",
        _developer,
        body=_openai(
            "developer is not one of ['system', 'assistant', 'user', 'tool', 'function'] - 'messages.['0].role'"
        ),
    ),
    # OpenAI's own answer; diegosouzapw/OmniRoute #13699 (OpenCode Go)
    "unstreamed-stream-options": Quirk(
        "CC-011",
        "refused-not-sent",
        lambda body: "stream_options" in body and body.get("stream") is not True,
        body=_openai(
            "The 'stream_options' parameter is only allowed when 'stream' is enabled.",
            param="stream_options",
            code="invalid_value",
        ),
    ),
    # ItzCrazyKns/Vane #969, llm-exe/llm-exe #662 (DeepSeek)
    "json-schema-deepseek": Quirk(
        "CC-012", "refused", _json_schema, body=_openai("This response_format type is unavailable now")
    ),
    # dzhng/deep-research #22 (DeepSeek, the 422 of its deserializer)
    "json-schema-deepseek-422": Quirk(
        "CC-012",
        "refused",
        _json_schema,
        status=422,
        body="Failed to deserialize the JSON body into the target type: response_format: response_format.type "
        "`json_schema` is unavailable now at line 1 column 210",
    ),
    "json-schema-ignored": Quirk("CC-012", "ignored", _json_schema, ignores=True),
    # formulahendry/wechat-acp #16 (an Azure-backed endpoint)
    "reasoning-effort-unrecognized": Quirk(
        "CC-013",
        "refused-not-sent",
        lambda body: "reasoning_effort" in body,
        body=_openai("Unrecognized request argument supplied: reasoning_effort"),
    ),
    # abundantbeing/hermes-browser-extension #79 (a provider with its own effort vocabulary)
    "reasoning-effort-vocabulary": Quirk(
        "CC-013",
        "refused-not-sent",
        lambda body: body.get("reasoning_effort") not in (None, "no_think", "low", "high"),
        body=_openai("reasoning_effort must be one of: no_think, low, high"),
    ),
    # nextcloud/integration_openai #236 (IONOS: a plain-text 400)
    "system-array-ionos": Quirk(
        "CC-014",
        "system-array",
        lambda body: any(m.get("role") == "system" and isinstance(m.get("content"), list) for m in _messages(body)),
        body="JSON format issue: expected string at field messages.content got instead array",
    ),
    # Mirascope/mirascope #618 (a strict validator of content parts)
    "cache-control-extra-inputs": Quirk(
        "CC-014",
        "cache-control",
        lambda body: any("cache_control" in p for p in _parts(body)),
        body={
            "type": "error",
            "error": {
                "type": "invalid_request_error",
                "message": "messages.0.content.0.text.cache_control: Extra inputs are not permitted",
            },
        },
    ),
    # vllm-project/vllm #39780, MoonshotAI/kimi-cli #2233
    "empty-tools-vllm": Quirk(
        "CC-015",
        "refused",
        lambda body: body.get("tools") == [],
        body={
            "error": {
                "message": "Value error, 'tools' must not be an empty array. Either provide at least one tool or omit "
                "the field entirely.",
                "type": "BadRequestError",
                "param": None,
                "code": 400,
            }
        },
    ),
    # earendil-works/pi #3649 (DashScope)
    "empty-tools-dashscope": Quirk(
        "CC-015", "refused", lambda body: body.get("tools") == [], body=_openai("[] is too short - 'tools'")
    ),
    # earendil-works/pi #3365 (GLM-5 via Z.ai)
    "empty-content-glm": Quirk(
        "CT-005",
        "refused",
        _empty_beside_calls,
        body={"error": {"code": "1213", "message": "未正常接收到prompt参数。"}},
    ),
    # earendil-works/pi #3365 (MiniMax)
    "empty-content-minimax": Quirk(
        "CT-005",
        "refused",
        _empty_beside_calls,
        body={"error": {"code": "2013", "message": "chat content is empty (2013)"}},
    ),
    # songquanpeng/one-api #1153 (GLM-4 behind one-api)
    "empty-content-one-api": Quirk(
        "CT-005",
        "refused",
        _empty_beside_calls,
        body=_openai("messages[2]:content和tool_calls 字段不能同时为空"),
    ),
    # vellum-ai/vellum-assistant #40689 (DeepSeek in thinking mode)
    "required-deepseek-thinking": Quirk(
        "CT-006",
        "refused",
        lambda body: body.get("tool_choice") == "required",
        body=_openai("Thinking mode does not support this tool_choice"),
    ),
    "required-ignored": Quirk("CT-006", "ignored", lambda body: body.get("tool_choice") == "required", ignores=True),
    # earendil-works/pi #4266, can1357/llm-git #13 (LM Studio)
    "named-lm-studio": Quirk(
        "CT-007",
        "refused",
        lambda body: isinstance(body.get("tool_choice"), dict),
        body=_openai("Invalid tool_choice type: 'object'. Supported string values: none, auto, required"),
    ),
    "named-ignored": Quirk("CT-007", "ignored", lambda body: isinstance(body.get("tool_choice"), dict), ignores=True),
}


def _completion(message: Body) -> Body:
    finish = "tool_calls" if message.get("tool_calls") else "stop"
    return {
        "id": "chatcmpl-outside",
        "object": "chat.completion",
        "created": 1767225600,
        "model": "outside",
        "choices": [{"index": 0, "message": {"role": "assistant", **message}, "finish_reason": finish}],
        "usage": {"prompt_tokens": 9, "completion_tokens": 3, "total_tokens": 12},
    }


def _call(name: str) -> Body:
    arguments = json.dumps({"city": "Paris"} if name == "get_weather" else {"path": "."})
    return {
        "content": None,
        "tool_calls": [{"id": "call_1", "type": "function", "function": {"name": name, "arguments": arguments}}],
    }


def _answer(body: Body, quirk: Quirk | None) -> Body:
    """What a plain, willing model answers: the JSON the schema asks for, the tool the choice forces, else text
    (``quirk.ignores``: text, or the first tool where a named one was asked for)."""
    ignores = quirk is not None and quirk.ignores and quirk.refuses(body)
    names = [t["function"]["name"] for t in body.get("tools") or () if isinstance(t, dict) and "function" in t]
    choice = body.get("tool_choice")
    if names and isinstance(choice, dict):
        return _call(names[0] if ignores else choice["function"]["name"])
    if names and choice == "required" and not ignores:
        return _call(names[0])
    if _json_schema(body) and not ignores:
        schema = body["response_format"]["json_schema"]["schema"]
        return {"content": json.dumps({key: "Hello." for key in schema.get("properties", {})})}
    return {"content": "Hello."}


def app(quirk: Quirk | None, model: str) -> Starlette:
    async def models(request: Request) -> Response:
        return JSONResponse({"object": "list", "data": [{"id": model, "object": "model", "owned_by": "outside"}]})

    async def chat(request: Request) -> Response:
        if request.headers.get("authorization") != f"Bearer {KEY}":
            return JSONResponse(_openai("Incorrect API key provided"), 401)
        try:
            body = await request.json()
        except ValueError:
            return JSONResponse(_openai("We could not parse the JSON body of your request."), 400)
        if not isinstance(body, dict):
            return JSONResponse(_openai("The request body must be a JSON object."), 400)
        if quirk is not None and not quirk.ignores and quirk.refuses(body):
            if isinstance(quirk.body, str):
                return PlainTextResponse(quirk.body, quirk.status)
            return JSONResponse(quirk.body, quirk.status)
        return JSONResponse(_completion(_answer(body, quirk)))

    return Starlette(routes=[Route("/v1/models", models), Route("/v1/chat/completions", chat, methods=["POST"])])


@contextmanager
def outside(quirk: Quirk | None, model: str = MODEL) -> Iterator[str]:
    """An outside server on loopback serving one model; yields its base URL."""
    sock = bind("127.0.0.1", 0)
    server = Loopback(app(quirk, model), [sock], "outside").start()
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}/v1"
    finally:
        server.stop()


def quirk_results(base_url: str) -> dict[str, dict[str, Any]]:
    """The quirk checks' report entries for the outside server's one model."""
    settings = Settings(
        Target("base-url", base_url), api_key=KEY, latency_samples=1, latency_warmup=0, request_timeout_s=30
    )
    entries = engine.run(settings)["results"]
    return {e["id"]: e for e in entries if e["id"] in QUIRKS and e["subject"] == MODEL}


def test_a_server_that_accepts_every_quirk_passes_every_quirk_check() -> None:
    with outside(None) as url:
        results = quirk_results(url)
    assert set(results) == set(QUIRKS)
    assert {i: e["outcome"] for i, e in results.items()} == dict.fromkeys(QUIRKS, "passed")


@pytest.mark.parametrize("name", list(QUIRK_SERVERS))
def test_each_refusing_server_is_flagged_by_its_check_alone(name: str) -> None:
    quirk = QUIRK_SERVERS[name]
    with outside(quirk) as url:
        results = quirk_results(url)
    flagged = {i for i, e in results.items() if e["outcome"] in ("failed", "warned")}
    assert flagged == {quirk.check}, {i: e["findings"] for i, e in results.items() if i in flagged}
    (finding,) = results[quirk.check]["findings"]
    assert finding["key"] == f"{quirk.check}:{quirk.deviation}"
    if not quirk.ignores:
        assert f"got {quirk.status}" in finding["message"]
        where, said = (
            ("exchange", quirk.body) if isinstance(quirk.body, str) else ("message", quirk.body["error"]["message"])
        )
        assert said[:30] in finding[where]
    assert KEY not in json.dumps(results)


def test_a_refusal_speaks_of_the_clients_that_send_the_field_to_that_model() -> None:
    assert o_series_senders("o3-mini") == ("roo-code", "cline")
    assert o_series_senders("gpt-5-codex") == ("cline",)
    assert o_series_senders("gpt-5-chat-latest") == ()
    assert o_series_senders("qwen3-coder") == ()
    assert o_series("acme/o4-mini") and not cline_reasoning_family("deepseek-v4")


def test_a_developer_refusal_on_an_o_series_id_breaks_roo_and_cline_only() -> None:
    with outside(QUIRK_SERVERS["developer-openai-style"], model="o3-mini") as url:
        settings = Settings(Target("base-url", url), api_key=KEY, latency_samples=1, latency_warmup=0)
        report = engine.run(settings)
    (entry,) = [e for e in report["results"] if e["id"] == "CC-010"]
    (finding,) = entry["findings"]
    assert finding["key"] == "CC-010:refused"
    assert finding["clients"] == ["roo-code", "cline"]
    profiles = report["profiles"]
    assert "CC-010:refused" in profiles["roo-code"]["breaks"] and "CC-010:refused" in profiles["cline"]["breaks"]
    assert not any("CC-010" in key for key in profiles["kilo-code"]["breaks"] + profiles["kimi-cli"]["breaks"])
