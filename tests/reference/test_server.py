"""The reference provider on a real socket: clean it is a well-behaved OpenAI-compatible server, and every fault
in the table changes what it does in the way the table says (and nothing more than the probe looks at)."""

from __future__ import annotations

import asyncio
import json
import math
import re
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from conformance import jsondoc
from conformance.errors import LoaderError, UsageError
from conformance.findings import Outcome
from conformance.reference import server as reference
from conformance.reference.catalog import MODELS
from conformance.reference.chat import ARGUMENT_PIECE, REASONING_TEXT, REPLY_TEXT, TEMPLATE_LEAK
from conformance.reference.faults import FAULTS, parse_faults
from conformance.reference.server import REFERENCE_KEY, ReferenceConfig, ReferenceServer, create_app
from conformance.runner import evaluate
from conformance.target import CatalogContext, Part
from tests.reference.conversation_probes import CONVERSATION_PROBES
from tests.reference.gemini_probes import GEMINI_PROBES, generate
from tests.reference.test_wire_apis import (
    AN_TOOLS,
    ANTHROPIC,
    PIECES,
    RS_FOLLOW_UP,
    RS_TOOLS,
    WORDS,
    message,
    message_stream,
    respond,
    respond_stream,
    types,
)

AUTH = {"Authorization": f"Bearer {REFERENCE_KEY}"}
WRONG_KEY = {"Authorization": "Bearer sk-wrong"}
HELLO = [{"role": "user", "content": "Say hello."}]
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "read_file",
            "description": "Read a file",
            "parameters": {
                "type": "object",
                "properties": {
                    "path": {"type": "string"},
                    "line": {"type": "integer"},
                    "whole": {"type": "boolean"},
                    "mode": {"type": "string", "enum": ["text", "binary"]},
                },
                "required": ["path"],
            },
        },
    }
]
STRICT_TOOLS = [{"type": "function", "function": {**TOOLS[0]["function"], "strict": True}}]
TOOL_ARGUMENTS = {"path": "example", "line": 1, "whole": True, "mode": "text"}
IMAGE = {
    "type": "image_url",
    "image_url": {
        "url": "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAA"
        "AABJRU5ErkJggg=="
    },
}
TOOL_FOLLOWUP = [
    {"role": "user", "content": "Use the tool."},
    {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {"id": "call_1", "type": "function", "function": {"name": "read_file", "arguments": '{"path": "a"}'}}
        ],
    },
    {"role": "tool", "tool_call_id": "call_1", "content": "file contents"},
]
EXTRA_FIELDS = {"user": "user-1", "store": False, "parallel_tool_calls": True, "metadata": {"a": "b"}}
"""Fields clients send that a server may ignore; ``reject-unknown-fields`` refuses the first three."""
CODER_TOKENS = len(REASONING_TEXT.split()) + len(REPLY_TEXT.split())
EVENT = re.compile(rb"data: [^\n]+\n\n")


TLS = ssl.create_default_context()
"""Made once: httpx builds a TLS context for every client otherwise (~30 ms each), though nothing here is https."""


def client(server: ReferenceServer, headers: dict[str, str] | None = None) -> httpx.Client:
    """A client with a timeout no loaded machine reaches (building the gzip bomb alone takes seconds there)."""
    return httpx.Client(base_url=server.origin, headers=AUTH if headers is None else headers, timeout=60, verify=TLS)


def post(c: httpx.Client, *, headers: dict[str, str] | None = None, **body: Any) -> httpx.Response:
    body = {"model": "reference/coder", "messages": HELLO, **body}
    return c.post("/v1/chat/completions", json=body, headers=headers)


def payloads(response: httpx.Response) -> list[str]:
    """The data of each SSE event, lines joined as an SSE reader joins them."""
    blocks = response.text.split("\n\n")
    return ["\n".join(line.removeprefix("data: ") for line in b.split("\n")) for b in blocks if b]


def stream(c: httpx.Client, **body: Any) -> tuple[httpx.Response, list[str]]:
    response = post(c, stream=True, **body)
    return response, payloads(response)


def chunks(data: list[str]) -> list[dict[str, Any]]:
    return [json.loads(p) for p in data if p.startswith("{")]


def deltas(data: list[str], key: str) -> str:
    return "".join(ch["delta"].get(key) or "" for c in chunks(data) for ch in c.get("choices") or ())


def fragments(data: list[str]) -> list[dict[str, Any]]:
    return [f for c in chunks(data) for ch in c.get("choices") or () for f in ch["delta"].get("tool_calls", ())]


def media(response: httpx.Response) -> str:
    return response.headers["content-type"].split(";")[0]


def statuses_and_media(response: httpx.Response) -> tuple[int, str]:
    return response.status_code, media(response)


def malformed(c: httpx.Client) -> httpx.Response:
    return c.post("/v1/chat/completions", content=b'{"model": "reference/coder", "messages": [')


def extended(c: httpx.Client) -> Any:
    return c.get("/v1/models?extended=true").json()


@pytest.fixture(scope="module")
def start() -> Iterator[Callable[..., ReferenceServer]]:
    """Starts servers on demand; stops them all at once at the end (uvicorn takes ~0.15 s to stop each)."""
    servers: list[ReferenceServer] = []

    def start_(**config: Any) -> ReferenceServer:
        servers.append(ReferenceServer(ReferenceConfig(**config)).start())
        return servers[-1]

    yield start_
    with ThreadPoolExecutor(max_workers=max(len(servers), 1)) as pool:
        list(pool.map(ReferenceServer.stop, servers))


@pytest.fixture(scope="module")
def clean(start: Callable[..., ReferenceServer]) -> ReferenceServer:
    return start()


@pytest.fixture
def c(clean: ReferenceServer) -> Iterator[httpx.Client]:
    with client(clean) as c:
        yield c


def test_start_and_stop_leave_no_thread_and_no_socket() -> None:
    before = set(threading.enumerate())
    server = ReferenceServer()
    with server:
        assert server.port != 0
        assert server.origin == f"http://127.0.0.1:{server.port}"
        assert server.base_url == f"{server.origin}/v1"
        assert server.manifest_url == f"{server.origin}/v1/models?provider=true"
        assert httpx.get(server.manifest_url).status_code == 200
        with pytest.raises(RuntimeError, match="already running"):
            server.start()
    assert set(threading.enumerate()) == before
    with pytest.raises(httpx.ConnectError):
        httpx.get(server.manifest_url)
    server.stop()  # stopping a stopped server is a no-op


def test_serve_prints_where_to_point_a_client() -> None:
    code = "from conformance.reference.server import ReferenceConfig, serve; serve(ReferenceConfig(), port=0)"
    run = [sys.executable, "-c", code]
    with subprocess.Popen(run, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True) as proc:
        assert proc.stdout is not None
        try:
            origin = proc.stdout.readline().split()[-1]
            said = "".join(proc.stdout.readline() for _ in range(4))
            assert f"manifest URL: {origin}/v1/models?provider=true" in said
            assert REFERENCE_KEY in said
            assert httpx.get(f"{origin}/v1/models?provider=true").json()["baseUrl"] == f"{origin}/v1"
        finally:
            proc.terminate()
            proc.wait(timeout=5)


def hosted_context(server: ReferenceServer) -> CatalogContext:
    """The hosted documents as the suite reads them: strict JSON, or the error that stopped the reading."""

    def part(c: httpx.Client, url: str) -> Part:
        try:
            return Part(jsondoc.read(c.get(url).content).value)
        except LoaderError as exc:
            return Part(error=exc)

    with client(server) as c:
        manifest, models = part(c, server.manifest_url), part(c, f"{server.base_url}/models?extended=true")
    return CatalogContext.from_hosted(manifest, models, manifest_url=server.manifest_url)


def test_catalog_passes_every_catalog_check(clean: ReferenceServer) -> None:
    results = evaluate(hosted_context(clean), strict=True)
    assert results
    assert [(r.check_id, r.subject, r.note) for r in results if r.outcome is not Outcome.PASSED] == []
    assert {r.subject for r in results} >= set(MODELS)


CATALOG_FAULTS = [name for name, f in FAULTS.items() if f.breaks and all(b[:3] in ("MAN", "EXT") for b in f.breaks)]


@pytest.mark.parametrize("name", CATALOG_FAULTS)
def test_catalog_fault_breaks_exactly_its_checks(name: str, start: Callable[..., ReferenceServer]) -> None:
    results = evaluate(hosted_context(start(faults=frozenset({name}))))
    flagged = {r.check_id for r in results if r.outcome in (Outcome.FAILED, Outcome.WARNED)}
    assert flagged == set(FAULTS[name].breaks)


def test_openai_model_list(c: httpx.Client) -> None:
    response = c.get("/v1/models", headers={})
    assert response.status_code == 200
    body = response.json()
    assert body["object"] == "list"
    assert [m["id"] for m in body["data"]] == list(MODELS)
    assert all(m["object"] == "model" and isinstance(m["created"], int) and m["owned_by"] for m in body["data"])


@pytest.mark.parametrize("path", ["/v1/", "/v1//models", "/v1/models/", "/v1///models/"])
def test_slashes_are_tolerated(c: httpx.Client, path: str) -> None:
    response = c.get(path)
    assert response.status_code == 200
    assert media(response) == "application/json"


def test_doubled_slash_before_chat_completions_works(c: httpx.Client) -> None:
    response = c.post("/v1//chat/completions", json={"model": "reference/mini", "messages": HELLO})
    assert response.json()["choices"][0]["message"]["content"] == REPLY_TEXT


def test_unknown_path_and_method_are_json_errors(c: httpx.Client) -> None:
    for response, status in ((c.get("/v1/nope"), 404), (c.get("/v1/chat/completions"), 405)):
        assert response.status_code == status
        assert media(response) == "application/json"
        assert set(response.json()["error"]) == {"message", "type", "param", "code"}


def test_non_streaming_reply(c: httpx.Client) -> None:
    body = post(c).json()
    assert body["id"].startswith("chatcmpl-ref-")
    assert body["object"] == "chat.completion"
    assert isinstance(body["created"], int)
    assert body["model"] == "reference/coder"
    assert body["choices"] == [
        {
            "index": 0,
            "message": {"role": "assistant", "content": REPLY_TEXT, "reasoning_content": REASONING_TEXT},
            "finish_reason": "stop",
        }
    ]
    assert body["usage"] == {
        "prompt_tokens": 3,
        "completion_tokens": CODER_TOKENS,
        "total_tokens": 3 + CODER_TOKENS,
        "prompt_tokens_details": {
            "cached_tokens": 0
        },  # reference/coder prices cache reads; a short prompt is not cached
    }


def test_a_model_without_reasoning_sends_no_reasoning(c: httpx.Client) -> None:
    message = post(c, model="reference/mini").json()["choices"][0]["message"]
    assert message == {"role": "assistant", "content": REPLY_TEXT}


def test_the_same_request_gives_the_same_bytes_but_for_created(c: httpx.Client) -> None:
    def without_created(response: httpx.Response) -> str:
        return re.sub(r'"created":\d+', "", response.text)

    assert without_created(post(c)) == without_created(post(c))
    assert without_created(stream(c)[0]) == without_created(stream(c)[0])
    assert post(c).json()["id"] != post(c, model="reference/mini").json()["id"]


def test_stream_has_the_documented_shape(c: httpx.Client) -> None:
    response, data = stream(c, stream_options={"include_usage": True})
    assert response.status_code == 200
    assert media(response) == "text/event-stream"
    assert EVENT.sub(b"", response.content) == b""  # nothing but "data: <one line>\n\n" events
    assert data[-1] == "[DONE]"
    parsed = chunks(data)
    assert len(parsed) == len(data) - 1
    assert {(c["id"], c["object"], c["created"], c["model"]) for c in parsed} == {
        (parsed[0]["id"], "chat.completion.chunk", parsed[0]["created"], "reference/coder")
    }
    with_choices, usage_chunks = parsed[:-1], parsed[-1:]
    assert with_choices[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    assert [c["choices"][0]["finish_reason"] for c in with_choices] == [None] * (len(with_choices) - 1) + ["stop"]
    assert with_choices[-1]["choices"][0]["delta"] == {}
    assert usage_chunks == [
        {
            **{k: parsed[0][k] for k in ("id", "object", "created", "model")},
            "choices": [],
            "usage": {
                "prompt_tokens": 3,
                "completion_tokens": CODER_TOKENS,
                "total_tokens": 3 + CODER_TOKENS,
                "prompt_tokens_details": {"cached_tokens": 0},
            },
        }
    ]
    assert deltas(data, "reasoning_content") == REASONING_TEXT
    assert deltas(data, "content") == REPLY_TEXT
    # reasoning first, one token per chunk
    keys = [next(iter(c["choices"][0]["delta"])) for c in with_choices[1:-1]]
    assert keys == ["reasoning_content"] * 3 + ["content"] * 9


def test_stream_without_include_usage_has_no_usage_chunk(c: httpx.Client) -> None:
    _, data = stream(c)
    assert all(c["choices"] for c in chunks(data))
    assert not any("usage" in c for c in chunks(data))


@pytest.mark.parametrize(
    ("limits", "expected"),
    [({"max_tokens": 5}, 5), ({"max_completion_tokens": 2}, 2), ({"max_tokens": 7, "max_completion_tokens": 4}, 4)],
)
def test_token_limits_cut_the_reply(c: httpx.Client, limits: dict[str, int], expected: int) -> None:
    body = post(c, **limits).json()
    assert body["usage"]["completion_tokens"] == expected
    assert body["choices"][0]["finish_reason"] == "length"
    message = body["choices"][0]["message"]
    assert (message["reasoning_content"] + " " + message["content"]).split() == (
        REASONING_TEXT + " " + REPLY_TEXT
    ).split()[:expected]
    _, data = stream(c, stream_options={"include_usage": True}, **limits)
    assert chunks(data)[-1]["usage"]["completion_tokens"] == expected
    assert chunks(data)[-2]["choices"][0]["finish_reason"] == "length"


def test_a_limit_above_the_reply_changes_nothing(c: httpx.Client) -> None:
    assert post(c, max_tokens=8192).json()["choices"][0]["finish_reason"] == "stop"


def test_extra_fields_are_accepted_and_ignored(c: httpx.Client) -> None:
    body = post(c, temperature=0.2, stream_options={"include_usage": True}, seed=1, **EXTRA_FIELDS).json()
    assert body["choices"][0]["message"]["content"] == REPLY_TEXT


def test_images_are_accepted_by_an_image_model_only(c: httpx.Client) -> None:
    messages = [{"role": "user", "content": [{"type": "text", "text": "What is this?"}, IMAGE]}]
    assert post(c, messages=messages).status_code == 200
    refused = post(c, model="reference/mini", messages=messages)
    assert refused.status_code == 400
    assert refused.json()["error"]["param"] == "messages"


@pytest.mark.parametrize(
    "how",
    [
        {"tool_choice": "required"},
        {"tool_choice": {"type": "function", "function": {"name": "read_file"}}},
        {"messages": [{"role": "user", "content": "Use the tool to read a file."}]},
    ],
)
def test_tool_call_non_streaming(c: httpx.Client, how: dict[str, Any]) -> None:
    body = post(c, model="reference/mini", tools=TOOLS, **how).json()
    choice = body["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    assert choice["message"]["content"] is None
    [call] = choice["message"]["tool_calls"]
    assert call["id"].startswith("call_")
    assert call["type"] == "function"
    assert call["function"]["name"] == "read_file"
    assert json.loads(call["function"]["arguments"]) == TOOL_ARGUMENTS


def test_no_tool_call_unless_asked(c: httpx.Client) -> None:
    assert "tool_calls" not in post(c, tools=TOOLS).json()["choices"][0]["message"]
    assert "tool_calls" not in post(c, tools=TOOLS, tool_choice="none").json()["choices"][0]["message"]


def test_tool_call_stream_fragments_join_to_json(c: httpx.Client) -> None:
    _, data = stream(c, tools=TOOLS, tool_choice="required", stream_options={"include_usage": True})
    first, *rest = fragments(data)
    assert first == {
        "index": 0,
        "id": first["id"],
        "type": "function",
        "function": {"name": "read_file", "arguments": ""},
    }
    assert rest and all(f.keys() == {"index", "function"} and f["function"].keys() == {"arguments"} for f in rest)
    assert json.loads("".join(f["function"]["arguments"] for f in rest)) == TOOL_ARGUMENTS
    assert deltas(data, "reasoning_content") == REASONING_TEXT  # the reasoning model thinks first
    assert chunks(data)[-2]["choices"][0]["finish_reason"] == "tool_calls"
    assert chunks(data)[-1]["usage"]["completion_tokens"] == 3 + len(fragments(data))


def test_tool_followup_is_answered_with_text(c: httpx.Client) -> None:
    body = post(c, messages=TOOL_FOLLOWUP, tools=STRICT_TOOLS).json()
    assert body["choices"][0]["message"]["content"] == f"The tool returned file contents {REPLY_TEXT}"
    assert body["choices"][0]["finish_reason"] == "stop"


def test_unknown_tool_choice_is_a_400(c: httpx.Client) -> None:
    response = post(c, tools=TOOLS, tool_choice={"type": "function", "function": {"name": "nope"}})
    assert response.status_code == 400
    assert response.json()["error"]["param"] == "tool_choice"


@pytest.mark.parametrize("headers", [{}, WRONG_KEY, {"Authorization": REFERENCE_KEY}])
def test_chat_needs_the_key(clean: ReferenceServer, headers: dict[str, str]) -> None:
    with client(clean, headers) as c:
        response = post(c)
        assert c.get("/v1/models").status_code == 200  # the lists are public
    assert response.status_code == 401
    assert media(response) == "application/json"
    error = response.json()["error"]
    assert error["code"] == "invalid_api_key"
    assert error["type"] == "invalid_request_error"
    assert error["param"] is None
    assert error["message"]


def test_a_configured_key_replaces_the_default(start: Callable[..., ReferenceServer]) -> None:
    server = start(api_key="sk-other")
    with client(server, {"Authorization": "Bearer sk-other"}) as c:
        assert post(c).status_code == 200
    with client(server) as c:
        assert post(c).status_code == 401


@pytest.mark.parametrize(
    ("send", "status", "code"),
    [
        (lambda c: post(c, model="no/such-model"), 404, "model_not_found"),
        (malformed, 400, None),
        (lambda c: c.post("/v1/chat/completions", json=[1, 2]), 400, None),
        (
            lambda c: c.post("/v1/chat/completions", json={"model": "reference/coder"}),
            400,
            "missing_required_parameter",
        ),
        (lambda c: post(c, messages=[]), 400, "missing_required_parameter"),
        (lambda c: post(c, messages=[{"content": "no role"}]), 400, None),
        (lambda c: post(c, max_tokens=0), 400, "invalid_value"),
        (lambda c: post(c, stream="yes"), 400, None),
        (lambda c: post(c, tools=[{"type": "function"}]), 400, None),
    ],
)
def test_bad_requests_get_openai_errors(
    c: httpx.Client, send: Callable[[httpx.Client], httpx.Response], status: int, code: str | None
) -> None:
    response = send(c)
    assert response.status_code == status
    assert media(response) == "application/json"
    error = response.json()["error"]
    assert error.keys() == {"message", "type", "param", "code"}
    assert error["code"] == code


def test_injected_latency_delays_the_tokens(start: Callable[..., ReferenceServer]) -> None:
    """Only lower bounds: the server must not answer before the delay it was told to inject."""
    ttft, gap = 0.1, 0.01
    with client(start(ttft_ms=ttft * 1000, token_ms=gap * 1000)) as c:
        t0 = time.monotonic()
        with c.stream(
            "POST", "/v1/chat/completions", json={"model": "reference/mini", "messages": HELLO, "stream": True}
        ) as response:
            times = [time.monotonic() - t0 for line in response.iter_lines() if '"content":"' in line[:200]]
        tokens = len(REPLY_TEXT.split())
        token_times = times[1:]  # the role chunk (content "") is sent at once
        assert len(token_times) == tokens
        assert token_times[0] >= ttft
        assert token_times[-1] >= ttft + (tokens - 1) * gap
        t0 = time.monotonic()
        post(c, model="reference/mini")
        assert time.monotonic() - t0 >= ttft + (tokens - 1) * gap


def test_fault_table() -> None:
    assert len(FAULTS) >= 30
    for name, fault in FAULTS.items():
        assert fault.name == name
        assert re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", name)
        assert all(re.fullmatch(r"[A-Z]{2,4}-\d{3}", b) for b in fault.breaks), fault
        assert fault.description and "\n" not in fault.description


def test_parse_faults() -> None:
    assert parse_faults(None) == parse_faults("") == parse_faults(" , ") == frozenset()
    assert parse_faults("missing-done,no-usage") == {"missing-done", "no-usage"}
    assert parse_faults(" missing-done , no-usage  html-404") == {"missing-done", "no-usage", "html-404"}
    with pytest.raises(UsageError, match=r"^unknown fault 'nope'; known faults: manifest-html, cross-origin"):
        parse_faults("missing-done,nope")


def test_an_unknown_fault_cannot_start_a_server() -> None:
    with pytest.raises(UsageError, match="unknown fault 'nope'"):
        create_app(ReferenceConfig(faults=frozenset({"nope"})))


def statuses(*responses: httpx.Response) -> tuple[int, ...]:
    return tuple(r.status_code for r in responses)


TEXT = {"type": "text", "text": "Say hello."}
NAMED = {"type": "function", "function": {"name": "read_file"}}
GREETING = {"type": "object", "properties": {"greeting": {"type": "string"}}, "required": ["greeting"]}


def answer(response: httpx.Response) -> Any:
    return response.json()["choices"][0]["message"]["content"]


def with_content(content: str | None) -> list[dict[str, Any]]:
    """The tool follow-up with the assistant's content set to ``content``."""
    return [{**m, "content": content} if m["role"] == "assistant" else m for m in TOOL_FOLLOWUP]


def with_and_without(field: str, value: Any, **body: Any) -> Callable[[httpx.Client], tuple[int, ...]]:
    """A probe for a refusal: the status with ``field`` and without it, so the fault is seen to be narrow."""
    return lambda c: statuses(post(c, **body, **{field: value}), post(c, **body))


def rate_limit_probe(c: httpx.Client) -> tuple[Any, ...]:
    """The first authorised request of the server's life (a wrong key does not count), then the next."""
    wrong, first, second = post(c, headers=WRONG_KEY), post(c), post(c)
    return wrong.status_code, first.status_code, first.headers.get("retry-after"), second.status_code


@pytest.mark.parametrize(
    ("ask", "error_type", "expected"),
    [
        (respond, lambda body: body["error"]["code"], "rate_limit_exceeded"),
        (message, lambda body: body["error"]["type"], "rate_limit_error"),
        (generate, lambda body: body["error"]["status"], "RESOURCE_EXHAUSTED"),
    ],
    ids=["responses", "messages", "gemini"],
)
def test_a_rate_limit_refuses_the_first_reply_on_every_wire_api(
    ask: Callable[[httpx.Client], httpx.Response], error_type: Callable[[Any], str], expected: str
) -> None:
    """So each client's reaction to a 429 can be measured on the wire API it speaks, not on chat completions
    alone: 429 in that API's own error shape, with Retry-After, then replies as usual."""
    with ReferenceServer(ReferenceConfig(faults=frozenset({"rate-limit"}))) as server, client(server) as c:
        first, second = ask(c), ask(c)
    assert (first.status_code, first.headers.get("retry-after"), second.status_code) == (429, "1", 200)
    assert error_type(first.json()) == expected


def errors(c: httpx.Client) -> list[httpx.Response]:
    """A wrong key, an unknown model, a malformed body (chat-completion errors), and an unknown path."""
    return [post(c, headers=WRONG_KEY), post(c, model="no/such"), malformed(c), c.get("/v1/nope")]


def wrong_key(c: httpx.Client) -> tuple[int, str, str | None]:
    response = post(c, headers=WRONG_KEY)
    return response.status_code, media(response), response.json()["error"]["code"]


def stream_summary(c: httpx.Client) -> tuple[bool, bool, int, str | None]:
    """Ends with [DONE]; has a finish_reason; how many token chunks; the Connection header."""
    response, data = stream(c)
    finished = any(ch["finish_reason"] for c in chunks(data) for ch in c["choices"])
    tokens = sum(1 for c in chunks(data) for ch in c["choices"] if ch["delta"] and "role" not in ch["delta"])
    return data[-1] == "[DONE]", finished, tokens, response.headers.get("connection")


def reasoning_fields(c: httpx.Client) -> tuple[list[str], list[str]]:
    message = post(c).json()["choices"][0]["message"]
    in_stream = {k for c in chunks(stream(c)[1]) for ch in c["choices"] for k in ch["delta"]}
    return sorted(set(message) - {"role", "content"}), sorted(in_stream - {"role", "content"})


def tool_argument_types(c: httpx.Client) -> tuple[str, str]:
    call = post(c, tools=TOOLS, tool_choice="required").json()["choices"][0]["message"]["tool_calls"][0]
    first = fragments(stream(c, tools=TOOLS, tool_choice="required")[1])[0]
    return type(call["function"]["arguments"]).__name__, type(first["function"]["arguments"]).__name__


def stream_tool_fragments(c: httpx.Client) -> list[dict[str, Any]]:
    return fragments(stream(c, tools=TOOLS, tool_choice="required")[1])


def base_url_probe(c: httpx.Client) -> tuple[str | None, int]:
    """The host the manifest sends clients to, and whether the model list answers there."""
    base_url = c.get("/v1/models?provider=true").json()["baseUrl"]
    return urlsplit(base_url).hostname, httpx.get(f"{base_url}/models", verify=TLS).status_code


def streamed_output(c: httpx.Client) -> tuple[str, str, int]:
    """The streamed text and reasoning, and how many tool-call fragments a tool stream has."""
    _, data = stream(c)
    return deltas(data, "content"), deltas(data, "reasoning_content"), len(stream_tool_fragments(c))


def finish_and_tokens(body: dict[str, Any]) -> tuple[str, int]:
    return body["choices"][0]["finish_reason"], body["usage"]["completion_tokens"]


FRAGMENTS = 1 + math.ceil(len(json.dumps(TOOL_ARGUMENTS)) / ARGUMENT_PIECE)
"""The name fragment, then the arguments in pieces."""


def body_size(c: httpx.Client, limit: int = 2 << 20) -> str:
    """Whether GET /v1/models goes past ``limit`` bytes (read raw, so nothing is inflated)."""
    with c.stream("GET", "/v1/models") as response:
        size = 0
        for chunk in response.iter_raw():
            size += len(chunk)
            if size > limit:
                return "huge"
    return "small"


def answered(send: Callable[[], httpx.Response]) -> str:
    try:
        send()
    except httpx.TimeoutException:
        return "no answer in time"
    return "answered"


def first_read(c: httpx.Client) -> str:
    """What the first read of a small non-streamed reply brings: all of it, or (dripped) one byte; no clock."""
    body = {"model": "reference/coder", "messages": HELLO}
    with c.stream("POST", "/v1/chat/completions", json=body) as response:
        first = next(response.iter_raw())
    return "one byte" if len(first) == 1 else "the whole reply"


def stream_end(c: httpx.Client, *, limit: int = 100) -> str:
    """How a streamed reply ends: at [DONE], never (``limit`` events pass first), or with the connection reset."""
    body = {"model": "reference/coder", "messages": HELLO, "stream": True}
    try:
        with c.stream("POST", "/v1/chat/completions", json=body) as response:
            for count, line in enumerate(response.iter_lines()):
                if line == "data: [DONE]":
                    return "done"
                if count > limit:
                    return "endless"
    except httpx.RemoteProtocolError:
        return "reset"
    return "closed without [DONE]"


def content_encoding(c: httpx.Client) -> str | None:
    """The model list's content encoding, its body left unread (a bomb would decode to 256 MiB)."""
    with c.stream("GET", "/v1/models") as response:
        return response.headers.get("content-encoding")


def utf8(content: bytes) -> str:
    try:
        content.decode("utf-8")
    except UnicodeDecodeError:
        return "not UTF-8"
    return "UTF-8"


def responses_argument_types(c: httpx.Client) -> tuple[str, str]:
    """The type of a function call's arguments, non-streamed and in the streamed output_item.done."""
    [call] = respond(c, tools=RS_TOOLS, tool_choice="required").json()["output"]
    _, stream = respond_stream(c, tools=RS_TOOLS, tool_choice="required")
    [done] = [data["item"] for _, data in stream if data["type"] == "response.output_item.done"]
    return type(call["arguments"]).__name__, type(done["arguments"]).__name__


def responses_stream_end(c: httpx.Client) -> tuple[str, int]:
    """A streamed response's last event, and how many text deltas came before it."""
    kinds = types(respond_stream(c)[1])
    return kinds[-1], kinds.count("response.output_text.delta")


def messages_tool_stream(c: httpx.Client) -> tuple[list[str], int]:
    """What a streamed tool_use block starts with (its input's keys), and how many input_json_delta follow."""
    _, stream = message_stream(c, tools=AN_TOOLS, tool_choice={"type": "any"})
    [start] = [data["content_block"] for _, data in stream if data["type"] == "content_block_start"]
    pieces = [data for _, data in stream if data["type"] == "content_block_delta"]
    return sorted(start["input"]), sum(d["delta"]["type"] == "input_json_delta" for d in pieces)


def messages_tool_reply(c: httpx.Client) -> tuple[str, list[str]]:
    body = message(c, tools=AN_TOOLS, tool_choice={"type": "any"}).json()
    return body["stop_reason"], [block["type"] for block in body["content"]]


def http_chunks(c: httpx.Client) -> int:
    """How many HTTP chunks a streamed chat reply is written in, read off the wire (one per event when the server
    streams, one for the whole reply when it holds the stream back): framing, not timing, so load cannot move it."""
    host, port = c.base_url.host, c.base_url.port
    body = json.dumps({"model": "reference/coder", "messages": HELLO, "stream": True})
    request = (
        f"POST /v1/chat/completions HTTP/1.1\r\nHost: {host}:{port}\r\nAuthorization: {AUTH['Authorization']}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n{body}"
    )
    with socket.create_connection((host, port), timeout=10) as sock:
        sock.sendall(request.encode())
        received = b"".join(iter(lambda: sock.recv(65536), b""))
    rest, count = received.partition(b"\r\n\r\n")[2], 0
    while (size := int(rest.split(b"\r\n", 1)[0], 16)) > 0:
        rest, count = rest.split(b"\r\n", 1)[1][size + 2 :], count + 1
    return count


def usage_adds_up(c: httpx.Client) -> bool:
    usage = post(c).json()["usage"]
    return usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]


def responses_located_deltas(c: httpx.Client) -> int:
    """How many streamed text deltas say which item, output and content part they belong to."""
    located = ("item_id", "output_index", "content_index")
    return sum(
        all(k in data for k in located) for _, data in respond_stream(c)[1] if data["type"].endswith("text.delta")
    )


def overflow(c: httpx.Client) -> tuple[int, Any]:
    """The status and error code of a prompt over reference/mini's 32000-token context."""
    response = post(c, model="reference/mini", messages=[{"role": "user", "content": "word " * 33000}])
    return response.status_code, response.json().get("error", {}).get("code")


READ_CALL = {"name": "read_file", "arguments": '{"path": "weather.txt"}'}
QUOTED = [
    {"role": "user", "content": "Weather in Tokyo?"},
    {"role": "assistant", "content": None, "tool_calls": [{"id": "c1", "type": "function", "function": READ_CALL}]},
    {"role": "tool", "tool_call_id": "c1", "content": "東京 21 °C 👋"},
]


def quoted_text(c: httpx.Client) -> str:
    """The streamed reply to a turn whose tool result has multi-byte characters (quoted back)."""
    return deltas(stream(c, messages=QUOTED)[1], "content")


def cached_tokens(c: httpx.Client) -> list[Any]:
    """prompt_tokens_details of a long prompt sent twice, then streamed."""
    long = [{"role": "user", "content": "word " * 1100}]
    first, second = (post(c, messages=long).json()["usage"] for _ in range(2))
    usage = chunks(stream(c, messages=long, stream_options={"include_usage": True})[1])[-1]["usage"]
    return [u.get("prompt_tokens_details") for u in (first, second, usage)]


PHASED = [
    {"type": "message", "role": "assistant", "phase": "commentary", "content": "Checking."},
    {"type": "message", "role": "user", "content": "Say hello."},
]


def responses_stream_status_and_end(c: httpx.Client) -> tuple[int, Any]:
    """The status of a streamed response and its last event's data: type (or the data itself, when untyped)."""
    response, stream = respond_stream(c)
    last = stream[-1][1]
    return response.status_code, last.get("type", last) if isinstance(last, dict) else last


def dropped_after_error(c: httpx.Client) -> str:
    """Whether the request after a 404, on the same kept-alive connection, is answered or dropped."""
    c.get("/v1/no-such-path")
    try:
        c.get("/v1/models")
    except httpx.RemoteProtocolError:
        return "dropped"
    return "answered"


Probe = Callable[[httpx.Client], Any]
PROBES: dict[str, tuple[Probe, Any, Any]] = {
    # fault: (probe, what the clean server shows, what the faulty one shows)
    "manifest-html": (lambda c: media(c.get("/v1/models?provider=true")), "application/json", "text/html"),
    "cross-origin-baseurl": (base_url_probe, ("127.0.0.1", 200), ("localhost", 200)),
    "models-dev-source": (
        lambda c: c.get("/v1/models?provider=true").json()["models_data_source"],
        "endpoint",
        "models_dev",
    ),
    "models-dev-missing-provider": (
        lambda c: sorted(c.get("/api.json").json()),
        ["elsewhere", "reference"],
        ["elsewhere"],
    ),
    "models-dev-no-models": (lambda c: list(c.get("/api.json").json()["reference"]["models"]), list(MODELS), []),
    "models-dev-api-mismatch": (lambda c: c.get("/api.json").json()["reference"]["api"].rsplit("/", 1)[1], "v1", "v2"),
    "models-as-list": (lambda c: sorted(extended(c)), ["models"], ["data", "object"]),
    "extended-models-500": (lambda c: c.get("/v1/models?extended=true").status_code, 200, 500),
    "empty-models": (lambda c: list(extended(c)["models"]), list(MODELS), []),
    "null-cost": (lambda c: extended(c)["models"]["reference/mini"]["cost"], {"input": 0.1, "output": 0.4}, None),
    "string-numbers": (lambda c: extended(c)["models"]["reference/coder"]["limit"]["context"], 128000, "128000"),
    "bare-array-models": (lambda c: type(c.get("/v1/models").json()).__name__, "dict", "list"),
    "model-list-no-object": (lambda c: c.get("/v1/models").json().get("object"), "list", None),
    "model-entry-without-id": (
        lambda c: ["id" in m for m in c.get("/v1/models").json()["data"]],
        [True] * len(MODELS),
        [True] * len(MODELS) + [False],
    ),
    "model-list-no-data": (lambda c: sorted(c.get("/v1/models").json()), ["data", "object"], ["models", "object"]),
    "model-list-html": (
        lambda c: statuses_and_media(c.get("/v1/models")),
        (200, "application/json"),
        (200, "text/html"),
    ),
    "model-entry-no-object": (
        lambda c: [(m["id"], m.get("object")) for m in c.get("/v1/models").json()["data"]],
        [(key, "model") for key in MODELS],
        [(key, None) for key in MODELS],
    ),
    "model-list-forbidden": (
        lambda c: statuses(c.get("/v1/models"), post(c)),
        (200, 200),
        (403, 200),
    ),
    "missing-model-in-list": (
        lambda c: [m["id"] for m in c.get("/v1/models").json()["data"]],
        list(MODELS),
        ["reference/coder"],
    ),
    "no-slash-tolerance": (
        lambda c: statuses(c.get("/v1/"), c.get("/v1//models"), c.get("/v1/models")),
        (200, 200, 200),
        (404, 404, 200),
    ),
    "html-404": (
        lambda c: (media(c.get("/v1/nope")), c.get("/v1/nope").status_code),
        ("application/json", 404),
        ("text/html", 404),
    ),
    "bad-finish-reason": (
        lambda c: (
            post(c).json()["choices"][0]["finish_reason"],
            chunks(stream(c)[1])[-1]["choices"][0]["finish_reason"],
            post(c, tools=TOOLS, tool_choice="required").json()["choices"][0]["finish_reason"],
        ),
        ("stop", "stop", "tool_calls"),
        ("eos", "stop", "tool_calls"),
    ),
    "no-usage": (
        lambda c: (
            "usage" in post(c).json(),
            sum("usage" in x for x in chunks(stream(c, stream_options={"include_usage": True})[1])),
        ),
        (True, 1),
        (False, 0),
    ),
    "ignore-max-tokens": (
        lambda c: finish_and_tokens(post(c, max_tokens=2).json()),
        ("length", 2),
        ("stop", CODER_TOKENS),
    ),
    "reject-max-tokens": (with_and_without("max_tokens", 100), (200, 200), (400, 200)),
    "reject-max-completion-tokens": (with_and_without("max_completion_tokens", 100), (200, 200), (400, 200)),
    "reject-stream-options": (
        with_and_without("stream_options", {"include_usage": True}, stream=True),
        (200, 200),
        (400, 200),
    ),
    "reject-unknown-fields": (
        lambda c: statuses(*(post(c, **{k: v}) for k, v in EXTRA_FIELDS.items())),
        (200, 200, 200, 200),
        (422, 422, 422, 200),
    ),
    "reject-temperature": (with_and_without("temperature", 0.5), (200, 200), (400, 200)),
    "wrong-content-type": (lambda c: media(stream(c)[0]), "text/event-stream", "application/json"),
    "multiline-data": (
        lambda c: (
            max(len(block.split("\n")) for block in stream(c)[0].text.split("\n\n") if block),
            deltas(stream(c)[1], "content"),
        ),
        (1, REPLY_TEXT),
        (2, REPLY_TEXT),
    ),
    "chunk-without-choices": (lambda c: sum("choices" not in x for x in chunks(stream(c)[1])), 0, 1),
    "chunk-id-changes": (lambda c: len({x["id"] for x in chunks(stream(c)[1])}), 1, 2),
    "empty-finish-reason": (
        lambda c: {x["choices"][0]["finish_reason"] for x in chunks(stream(c)[1])[:-1]},
        {None},
        {""},
    ),
    "missing-done": (lambda c: stream(c)[1][-1] == "[DONE]", True, False),
    "usage-every-chunk": (
        lambda c: [
            x["usage"]["completion_tokens"]
            for x in chunks(stream(c, stream_options={"include_usage": True})[1])
            if "usage" in x
        ],
        [CODER_TOKENS],
        [*range(CODER_TOKENS + 1), CODER_TOKENS, CODER_TOKENS],
    ),
    "keepalive-non-json": (
        lambda c: [p for p in stream(c)[1] if not p.startswith("{")],
        ["[DONE]"],
        ["keepalive", "[DONE]"],
    ),
    "empty-data-event": (lambda c: stream(c)[1].count(""), 0, 1),
    "cut-mid-stream": (stream_summary, (True, True, CODER_TOKENS, None), (False, False, CODER_TOKENS // 2, "close")),
    "role-only-stream": (streamed_output, (REPLY_TEXT, REASONING_TEXT, FRAGMENTS), ("", "", FRAGMENTS)),
    "tool-args-object": (tool_argument_types, ("str", "str"), ("dict", "dict")),
    "tool-no-index": (
        lambda c: [("index" in f) for f in stream_tool_fragments(c)],
        [True] * FRAGMENTS,
        [False] * FRAGMENTS,
    ),
    "tool-repeated-name": (
        lambda c: sum("name" in f["function"] for f in stream_tool_fragments(c)),
        1,
        FRAGMENTS,
    ),
    "reject-tool-followup": (
        lambda c: statuses(post(c, messages=TOOL_FOLLOWUP, tools=TOOLS), post(c, tools=TOOLS)),
        (200, 200),
        (400, 200),
    ),
    "reject-strict-tools": (
        lambda c: statuses(post(c, tools=STRICT_TOOLS), post(c, tools=TOOLS)),
        (200, 200),
        (400, 200),
    ),
    "reasoning-field-only": (
        reasoning_fields,
        (["reasoning_content"], ["reasoning_content"]),
        (["reasoning"], ["reasoning"]),
    ),
    "template-token-leak": (
        lambda c: (post(c).json()["choices"][0]["message"]["content"], deltas(stream(c)[1], "content")),
        (REPLY_TEXT, REPLY_TEXT),
        (TEMPLATE_LEAK + REPLY_TEXT, TEMPLATE_LEAK + REPLY_TEXT),
    ),
    "reject-images": (
        lambda c: statuses(post(c, messages=[{"role": "user", "content": [IMAGE]}]), post(c)),
        (200, 200),
        (400, 200),
    ),
    "reject-developer-role": (
        lambda c: statuses(post(c, messages=[{"role": "developer", "content": "Be brief."}, *HELLO]), post(c)),
        (200, 200),
        (400, 200),
    ),
    "reject-unstreamed-stream-options": (
        lambda c: statuses(post(c, stream_options={"include_usage": True}), stream(c, stream_options={})[0]),
        (200, 200),
        (400, 200),
    ),
    "ignore-json-schema": (
        lambda c: answer(
            post(c, response_format={"type": "json_schema", "json_schema": {"name": "g", "schema": GREETING}})
        ),
        json.dumps({"greeting": REPLY_TEXT}),
        REPLY_TEXT,
    ),
    "reject-reasoning-effort": (with_and_without("reasoning_effort", "low"), (200, 200), (400, 200)),
    "reject-system-array": (
        lambda c: statuses(
            post(c, messages=[{"role": "system", "content": [TEXT]}, *HELLO]),
            post(c, messages=[{"role": "user", "content": [TEXT]}]),
        ),
        (200, 200),
        (400, 200),
    ),
    "reject-cache-control": (
        lambda c: statuses(
            post(c, messages=[{"role": "user", "content": [{**TEXT, "cache_control": {"type": "ephemeral"}}]}]),
            post(c, messages=[{"role": "user", "content": [TEXT]}]),
        ),
        (200, 200),
        (422, 200),
    ),
    "reject-empty-tools": (
        lambda c: statuses(post(c, tools=[]), post(c, tools=TOOLS)),
        (200, 200),
        (400, 200),
    ),
    "reject-empty-assistant-content": (
        lambda c: statuses(
            post(c, messages=with_content(""), tools=TOOLS), post(c, messages=with_content(None), tools=TOOLS)
        ),
        (200, 200),
        (400, 200),
    ),
    "reject-tool-choice-required": (
        lambda c: statuses(post(c, tools=TOOLS, tool_choice="required"), post(c, tools=TOOLS, tool_choice="auto")),
        (200, 200),
        (400, 200),
    ),
    "reject-named-tool-choice": (
        lambda c: statuses(post(c, tools=TOOLS, tool_choice=NAMED), post(c, tools=TOOLS, tool_choice="required")),
        (200, 200),
        (400, 200),
    ),
    "no-auth-check": (
        lambda c: statuses(post(c, headers=WRONG_KEY), post(c, headers={"Authorization": ""})),
        (401, 401),
        (200, 200),
    ),
    "403-not-401": (
        wrong_key,
        (401, "application/json", "invalid_api_key"),
        (403, "application/json", "invalid_api_key"),
    ),
    "html-errors": (
        lambda c: tuple(media(r) for r in errors(c)),
        ("application/json",) * 4,
        ("text/html",) * 3 + ("application/json",),
    ),
    "error-200": (lambda c: statuses(*errors(c)), (401, 404, 400, 404), (200, 200, 200, 404)),
    "unknown-model-200": (
        lambda c: (post(c, model="no/such").status_code, post(c, model="no/such").json().get("model")),
        (404, None),
        (200, "no/such"),
    ),
    "unknown-model-400": (
        lambda c: (post(c, model="no/such").status_code, post(c, model="no/such").json()["error"]["code"]),
        (404, "model_not_found"),
        (400, None),
    ),
    "malformed-json-500": (lambda c: malformed(c).status_code, 400, 500),
    "rate-limit": (rate_limit_probe, (401, 200, None, 200), (401, 429, "1", 200)),
    "rate-limit-no-retry-after": (rate_limit_probe, (401, 200, None, 200), (401, 429, None, 200)),
    "responses-wrong-object": (
        lambda c: [respond(c).json().get(k) for k in ("object", "status")],
        ["response", "completed"],
        ["chat.completion", None],
    ),
    "responses-no-usage": (
        lambda c: ("usage" in respond(c).json(), "usage" in respond_stream(c)[1][-1][1]["response"]),
        (True, True),
        (False, False),
    ),
    "responses-no-event-lines": (lambda c: {name is not None for name, _ in respond_stream(c)[1]}, {True}, {False}),
    "responses-no-sequence": (lambda c: {"sequence_number" in d for _, d in respond_stream(c)[1]}, {True}, {False}),
    "responses-bad-order": (
        lambda c: types(respond_stream(c)[1])[2:4],
        ["response.output_item.added", "response.content_part.added"],
        ["response.output_text.delta", "response.output_item.added"],
    ),
    "responses-no-completed": (
        responses_stream_end,
        ("response.completed", WORDS),
        ("response.output_item.done", WORDS),
    ),
    "responses-args-object": (responses_argument_types, ("str", "str"), ("dict", "dict")),
    "responses-reject-function-output": (
        lambda c: statuses(respond(c, input=RS_FOLLOW_UP, tools=RS_TOOLS), respond(c, tools=RS_TOOLS)),
        (200, 200),
        (400, 200),
    ),
    "responses-silent-failure": (
        responses_stream_end,
        ("response.completed", WORDS),
        ("response.output_text.delta", WORDS // 2),
    ),
    "messages-wrong-type": (
        lambda c: [message(c).json().get(k) for k in ("type", "stop_reason")],
        ["message", "end_turn"],
        ["chat.completion", None],
    ),
    "messages-no-usage": (lambda c: "usage" in message(c).json(), True, False),
    "messages-event-mismatch": (lambda c: sum(name != d["type"] for name, d in message_stream(c)[1]), 0, WORDS),
    "messages-bad-order": (
        lambda c: types(message_stream(c)[1])[-2:],
        ["message_delta", "message_stop"],
        ["message_stop", "message_delta"],
    ),
    "messages-done-marker": (lambda c: types(message_stream(c)[1])[-1], "message_stop", "[DONE]"),
    "messages-tool-input-whole": (messages_tool_stream, ([], PIECES), (["line", "path"], 0)),
    "messages-no-tool-use": (messages_tool_reply, ("tool_use", ["tool_use"]), ("end_turn", ["text"])),
    "messages-openai-errors": (
        lambda c: sorted(message(c, headers={"x-api-key": "sk-wrong", "anthropic-version": "2023-06-01"}).json()),
        ["error", "type"],
        ["error"],
    ),
    "finish-reason-missing": (
        lambda c: {"finish_reason" in x["choices"][0] for x in chunks(stream(c)[1])[:-1]},
        {True},
        {False},
    ),
    "responses-completed-incomplete": (
        lambda c: [
            (d["type"], d["response"]["status"])
            for d in (respond_stream(c, input="Write a long paragraph.", max_output_tokens=16)[1][-1][1],)
        ],
        [("response.incomplete", "incomplete")],
        [("response.completed", "incomplete")],
    ),
    "responses-error-stream": (
        responses_stream_status_and_end,
        (200, "response.completed"),
        (500, "[DONE]"),
    ),
    "messages-stream-as-json": (
        lambda c: media(message(c, stream=True)),
        "text/event-stream",
        "application/json",
    ),
    "reject-auto-tool-choice": (
        lambda c: statuses(post(c, tools=TOOLS), post(c, tools=TOOLS, tool_choice="required")),
        (200, 200),
        (400, 200),
    ),
    "messages-bearer-only": (
        lambda c: statuses(
            message(c, headers={**ANTHROPIC, "Authorization": ""}),  # the key in x-api-key alone
            message(c, headers={**AUTH, "anthropic-version": "2023-06-01"}),
        ),
        (200, 200),
        (401, 200),
    ),
    "drop-after-error": (dropped_after_error, "answered", "dropped"),
    "refuse-everything": (
        lambda c: statuses(
            c.get("/v1/models"), post(c), respond(c), message(c), c.get("/v1/models?provider=true"), c.get("/api.json")
        ),
        (200, 200, 200, 200, 200, 200),
        (500, 400, 400, 400, 200, 200),
    ),
    "huge-body": (body_size, "small", "huge"),
    "gzip-bomb": (content_encoding, None, "gzip"),
    # never answering can only be seen by waiting: long enough that a loaded machine's clean server answers first
    "never-answer": (lambda c: answered(lambda: c.get("/v1/models", timeout=5)), "answered", "no answer in time"),
    "slow-drip": (first_read, "the whole reply", "one byte"),
    "endless-stream": (stream_end, "done", "endless"),
    "reset-mid-stream": (stream_end, "done", "reset"),
    "invalid-utf8": (lambda c: utf8(c.get("/v1/models").content), "UTF-8", "not UTF-8"),
    "deep-json": (lambda c: c.get("/v1/models?extended=true").content[:4], b'{"mo', b"[[[["),
    "nan-in-models": (lambda c: b"NaN" in c.get("/v1/models?extended=true").content, False, True),
    "duplicate-keys": (lambda c: c.get("/v1/models?extended=true").content.count(b'"id": "shadowed"'), 0, 1),
    "redirect-other-origin": (lambda c: post(c).status_code, 200, 307),
    "echo-key": (
        lambda c: post(c, headers={"authorization": "Bearer sk-echo"}).headers.get("x-echo-authorization"),
        None,
        "Bearer sk-echo",
    ),
    **GEMINI_PROBES,
    **CONVERSATION_PROBES,
    "usage-total-wrong": (usage_adds_up, True, False),
    "overflow-500": (overflow, (400, "context_length_exceeded"), (500, None)),
    "overflow-truncated": (overflow, (400, "context_length_exceeded"), (200, None)),
    "utf8-split": (lambda c: ("°" in quoted_text(c), "\ufffd" in quoted_text(c)), (True, False), (False, True)),
    "no-cached-tokens": (
        cached_tokens,
        [{"cached_tokens": 0}, {"cached_tokens": 1101}, {"cached_tokens": 1101}],
        [None, None, None],
    ),
    "interleaved-field-mismatch": (
        lambda c: extended(c)["models"]["reference/coder"]["interleaved"],
        {"field": "reasoning_content"},
        {"field": "reasoning_details"},
    ),
    "accept-missing-messages": (
        lambda c: c.post("/v1/chat/completions", json={"model": "reference/coder"}).status_code,
        400,
        200,
    ),
    "buffered-stream": (lambda c: http_chunks(c) > 1, True, False),
    "responses-sparse-object": (lambda c: "truncation" in respond(c).json(), True, False),
    "responses-event-fields-missing": (responses_located_deltas, WORDS, 0),
    "responses-no-compact": (
        lambda c: c.post("/v1/responses/compact", json={"model": "reference/coder", "input": "Hi."}).status_code,
        200,
        404,
    ),
    "responses-reject-phase": (lambda c: respond(c, input=PHASED).status_code, 200, 400),
}


def test_every_fault_has_a_probe() -> None:
    assert PROBES.keys() == FAULTS.keys()


@pytest.mark.parametrize("name", FAULTS)
def test_fault_changes_behaviour(name: str, clean: ReferenceServer, start: Callable[..., ReferenceServer]) -> None:
    probe, when_clean, when_broken = PROBES[name]
    broken = start(faults=frozenset({name}))
    with client(clean) as c:
        assert probe(c) == when_clean
    with client(broken) as c:
        assert probe(c) == when_broken


def test_faults_compose(start: Callable[..., ReferenceServer]) -> None:
    faults = frozenset(
        {"missing-done", "chunk-id-changes", "keepalive-non-json", "multiline-data", "reject-temperature"}
    )
    with client(start(faults=faults)) as c:
        response, data = stream(c, stream_options={"include_usage": True})
        assert data[-1] != "[DONE]"
        assert "keepalive" in data
        assert len({x["id"] for x in chunks(data)}) == 2
        assert b"\ndata: " in response.content.replace(b"\n\ndata: ", b"")
        assert deltas(data, "content") == REPLY_TEXT
        assert post(c, temperature=1).status_code == 400


def test_a_delay_ends_on_time_where_the_kernel_runs_every_wait_late() -> None:
    """Linux lets a poll's timeout run over by up to 0.5 % of it (a niced process's timer slack) and epoll rounds
    it up to the millisecond: one 1 s sleep ends 6 ms late, the drift the TTFT benchmark saw against packet times.
    The reference provider's delays end within a millisecond of their deadline whatever their length (on a clock
    that runs every sleep that late, so no real time is raced)."""
    now = [1000.0]

    async def late(seconds: float) -> None:
        now[0] += math.ceil(seconds * 1000) / 1000 + seconds * 0.005

    for delay in (0.005, 0.05, 0.2, 1.0, 30.0):
        deadline = now[0] + delay
        asyncio.run(reference._sleep_until(deadline, lambda: now[0], late))
        assert 0 <= now[0] - deadline < 0.0011, (delay, now[0] - deadline)
