"""CE-008, CS-011, CC-016, CX-003 against servers that are not the reference provider: a small OpenAI-compatible
server on loopback answers an overflow, splits characters, reports cached tokens and names its reasoning field
the way a real provider did (each quirk from its public report), and a clean one passes."""

from __future__ import annotations

import codecs
import json
from collections.abc import Iterator
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from conformance.checks.context import RECOGNISERS, Recogniser
from conformance.loopback import Loopback, bind
from tests.conftest import GOOD_MANIFEST, run, write_json

pytest_plugins = ["pytester"]
MODEL = "outside/coder"
CONTEXT = 3000
MINE = ("CE-008", "CS-011", "CC-016", "CX-003")
BYTES_PER_PIECE = 3
"""The outside server's 'tokens' are 3-byte pieces of the reply: a multi-byte character often straddles two."""


def _error(status: int, message: str, code: Any, kind: str = "invalid_request_error") -> Response:
    return JSONResponse({"error": {"message": message, "type": kind, "param": None, "code": code}}, status)


OVERFLOWS: dict[str, Any] = {
    # OpenAI's own answer
    "clean": lambda n: _error(
        400,
        f"This model's maximum context length is {CONTEXT} tokens. However, your messages resulted in {n} tokens. "
        "Please reduce the length of the messages.",
        "context_length_exceeded",
    ),
    # vLLM, as earendil-works/pi #5930 quotes it: code 400, no context_length_exceeded
    "vllm": lambda n: _error(
        400,
        f"This model's maximum context length is {CONTEXT} tokens. However, you requested 16 output tokens and "
        f"your prompt contains at least {n} input tokens, for a total of at least {n + 16} tokens. Please reduce "
        f"the length of the input prompt or the number of requested output tokens. (parameter=input_tokens, "
        f"value={n})",
        400,
        "BadRequestError",
    ),
    # llama.cpp server (can1357/oh-my-pi #3752): its own wording and type; code 400 and "tokens" in the message
    "llama-cpp": lambda n: _error(
        400,
        f"request ({n} tokens) exceeds the available context size ({CONTEXT} tokens), try increasing it",
        400,
        "exceed_context_size_error",
    ),
    # a proxy's body limit in front of the model (nginx client_max_body_size)
    "proxy-413": lambda n: HTMLResponse("<html><body><h1>413 Request Entity Too Large</h1></body></html>", 413),
    # a gateway that fails on the long prompt with its own opaque error
    "opaque-500": lambda n: _error(500, "Internal Server Error", None, "server_error"),
}


class Outside:
    """An OpenAI-compatible chat server with one model of ``CONTEXT`` tokens (a word is a token), written apart
    from the reference provider; ``quirks`` make it answer as a real provider did."""

    def __init__(self, quirks: frozenset[str] = frozenset()) -> None:
        self.quirks = quirks
        self.seen: set[str] = set()
        routes = [Route("/v1/chat/completions", self.chat, methods=["POST"]), Route("/v1/models", self.models)]
        self._loopback = Loopback(Starlette(routes=routes), [sock := bind("127.0.0.1", 0)], "outside")
        self.base_url = f"http://127.0.0.1:{sock.getsockname()[1]}/v1"

    def __enter__(self) -> Outside:
        self._loopback.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._loopback.stop()

    async def models(self, request: Request) -> Response:
        return JSONResponse({"object": "list", "data": [{"id": MODEL, "object": "model", "owned_by": "outside"}]})

    def _overflow(self, words: int) -> Response | None:
        if words <= CONTEXT:
            return None
        if "truncates" in self.quirks:  # Ollama: a prompt over num_ctx is cut to fit and answered
            return None
        return OVERFLOWS[next((q for q in self.quirks if q in OVERFLOWS), "clean")](words)

    def _usage(self, body: dict[str, Any], words: int) -> dict[str, Any]:
        usage: dict[str, Any] = {"prompt_tokens": words, "completion_tokens": 4, "total_tokens": words + 4}
        key = json.dumps(body["messages"], sort_keys=True)
        cached = words if key in self.seen else 0
        self.seen.add(key)
        if "cache-hit-field" in self.quirks:  # the hit in a field of the provider's own, not OpenAI's
            usage |= {"prompt_cache_hit_tokens": cached, "prompt_cache_miss_tokens": words - cached}
        else:
            usage["prompt_tokens_details"] = {"cached_tokens": cached}
        return usage

    async def chat(self, request: Request) -> Response:
        body = json.loads(await request.body())
        messages = body["messages"]
        words = sum(len(str(m.get("content") or "").split()) for m in messages)
        refused = self._overflow(words)
        if refused is not None:
            return refused
        results = [str(m["content"]) for m in messages if m["role"] == "tool"]
        text = f"It said: {results[-1]}" if results else "Hello there."
        usage = self._usage(body, min(words, CONTEXT))
        field = "reasoning" if "reasoning-field" in self.quirks else "reasoning_content"
        if not body.get("stream"):
            message = {"role": "assistant", "content": text, field: "Thinking."}
            choice = {"index": 0, "message": message, "finish_reason": "stop"}
            reply = {"id": "o-1", "object": "chat.completion", "created": 1, "model": MODEL, "choices": [choice]}
            return JSONResponse(reply | {"usage": usage})
        return StreamingResponse(self._events(text, field, usage), media_type="text/event-stream")

    def _pieces(self, text: str) -> Iterator[str]:
        """The reply cut into 3-byte pieces, decoded as a careful server does (an incremental decoder keeps a
        character's bytes until it is whole) or, with ``splits-characters``, each piece on its own."""
        raw = text.encode()
        decoder = codecs.getincrementaldecoder("utf-8")()
        for start in range(0, len(raw), BYTES_PER_PIECE):
            piece = raw[start : start + BYTES_PER_PIECE]
            if "splits-characters" in self.quirks:
                yield piece.decode(errors="replace")
            elif decoded := decoder.decode(piece):
                yield decoded

    async def _events(self, text: str, field: str, usage: dict[str, Any]) -> Any:
        def chunk(delta: dict[str, Any], finish: str | None = None) -> str:
            choice = {"index": 0, "delta": delta, "finish_reason": finish}
            data = {"id": "o-1", "object": "chat.completion.chunk", "created": 1, "model": MODEL, "choices": [choice]}
            return f"data: {json.dumps(data, ensure_ascii=False)}\n\n"

        yield chunk({"role": "assistant", "content": "", field: "Thinking."})
        for piece in self._pieces(text):
            yield chunk({"content": piece})
        yield chunk({}, "stop")
        yield f"data: {json.dumps({'id': 'o-1', 'object': 'chat.completion.chunk', 'choices': [], 'usage': usage})}\n\n"
        yield "data: [DONE]\n\n"


def catalog(base_url: str, **model: Any) -> list[Any]:
    """The embedded document of the outside provider: its one model prices cache reads and names its reasoning
    field."""
    entry = {
        "id": MODEL,
        "name": "Outside Coder",
        "attachment": False,
        "reasoning": True,
        "temperature": True,
        "tool_call": True,
        "release_date": "2026-01-15",
        "last_updated": "2026-02-01",
        "modalities": {"input": ["text"], "output": ["text"]},
        "open_weights": True,
        "cost": {"input": 0.5, "output": 1.5, "cache_read": 0.05},
        "limit": {"context": CONTEXT, "output": 1000},
        "interleaved": {"field": "reasoning_content"},
        **model,
    }
    return [{**GOOD_MANIFEST, "baseUrl": base_url}, {"models": {MODEL: entry}}]


@pytest.fixture
def keyed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PROVIDER_API_KEY", "sk-outside")


def battery(pytester: pytest.Pytester, quirks: frozenset[str], **model: Any) -> dict[str, dict[str, Any]]:
    """Run the four checks against an outside server; each one's result entry, by check ID."""
    with Outside(quirks) as server:
        source = write_json(pytester.path / "outside.json", catalog(server.base_url, **model))
        result, data = run(pytester, f"--provider-json={source}", "-k", " or ".join(MINE))
    assert "Traceback" not in result.stdout.str()
    return {r["id"]: r for r in data["results"] if r["id"] in MINE}


def test_a_clean_outside_server_passes_all_four(pytester: pytest.Pytester, keyed: None) -> None:
    results = battery(pytester, frozenset())
    assert {cid: r["outcome"] for cid, r in results.items()} == dict.fromkeys(MINE, "passed")


@pytest.mark.parametrize(
    ("quirk", "check_id", "outcome", "says"),
    [
        ("truncates", "CE-008", "failed", "was answered 200, not refused: clients take a 200 for a reply"),
        ("opaque-500", "CE-008", "failed", "kilo-code, roo-code, cline would not take it for an overflow"),
        ("splits-characters", "CS-011", "failed", "U+FFFD characters"),
        ("cache-hit-field", "CC-016", "warned", "has no usage.prompt_tokens_details.cached_tokens"),
        ("reasoning-field", "CX-003", "warned", "reasoning arrives in reasoning and never in reasoning_content"),
    ],
)
def test_each_outside_quirk_is_flagged_by_its_check_alone(
    pytester: pytest.Pytester, keyed: None, quirk: str, check_id: str, outcome: str, says: str
) -> None:
    results = battery(pytester, frozenset({quirk}))
    assert {cid for cid, r in results.items() if r["outcome"] != "passed"} == {check_id}
    assert results[check_id]["outcome"] == outcome
    [finding, *_] = results[check_id]["findings"]
    assert says in finding["message"]
    assert finding["fix"]


@pytest.mark.parametrize(
    ("quirk", "missed"),
    [("proxy-413", ["roo-code", "cline"])],
)
def test_an_overflow_only_some_clients_recognise_names_the_others(
    pytester: pytest.Pytester, keyed: None, quirk: str, missed: list[str]
) -> None:
    results = battery(pytester, frozenset({quirk}))
    [finding] = results["CE-008"]["findings"]
    assert finding["clients"] == missed
    assert "compacts: kilo-code; does not: roo-code, cline" in finding["message"]


@pytest.mark.parametrize("quirk", ["vllm", "llama-cpp"])
def test_vllm_and_llama_cpp_overflows_are_recognised_by_every_client(
    pytester: pytest.Pytester, keyed: None, quirk: str
) -> None:
    results = battery(pytester, frozenset({quirk}))
    assert results["CE-008"]["outcome"] == "passed"
    assert "compacts: kilo-code, roo-code, cline; does not: none" in results["CE-008"]["message"]


def test_the_overflow_is_reproduced_without_its_megabytes(pytester: pytest.Pytester, keyed: None) -> None:
    results = battery(pytester, frozenset({"opaque-500"}))
    [finding] = results["CE-008"]["findings"]
    line = finding["reproduce"]
    assert line.startswith("python3 -c ") and " | curl " in line and "--data-binary @-" in line
    assert len(line) < 2000
    assert "$PROVIDER_API_KEY" in line and "sk-outside" not in line


def test_a_context_too_large_to_exceed_within_the_cap_is_skipped_with_the_reason(
    pytester: pytest.Pytester, keyed: None
) -> None:
    results = battery(pytester, frozenset(), limit={"context": 2_000_000, "output": 1000})
    assert results["CE-008"]["outcome"] == "skipped"
    assert "over the 6 MiB this check sends" in results["CE-008"]["message"]


@pytest.mark.parametrize("context", [1e300, -5, 0])
def test_a_context_no_prompt_can_exceed_is_skipped_without_building_one(
    pytester: pytest.Pytester, keyed: None, context: float
) -> None:
    results = battery(pytester, frozenset(), limit={"context": context, "output": 1000})
    assert results["CE-008"]["outcome"] == "skipped"


def test_cached_tokens_and_the_reasoning_field_are_asked_only_where_the_catalog_says(
    pytester: pytest.Pytester, keyed: None
) -> None:
    results = battery(pytester, frozenset({"cache-hit-field", "reasoning-field"}), cost={"input": 1, "output": 2})
    assert results["CC-016"]["outcome"] == "skipped"
    assert "does not price cache reads" in results["CC-016"]["message"]


# The client facts behind CE-008, one real provider's answer at a time (read from each client's source).

ANSWERS = [
    # (status, error.code, message, the clients that take it for an overflow)
    (400, "context_length_exceeded", "This model's maximum context length is 8192 tokens.", {"kilo", "roo", "cline"}),
    (400, "context_length_exceeded", "Input exceeds the context window of this model", {"kilo", "roo", "cline"}),
    (400, "400", "maximum context length is 262144 tokens. However, you requested 0 output", {"kilo", "roo", "cline"}),
    (400, None, "prompt is too long: 210000 tokens > 200000 maximum", {"kilo", "cline"}),
    (400, None, "prompt too long; exceeded max context length by 100918 tokens", {"kilo", "roo", "cline"}),
    (
        400,
        "400",
        "request (124071 tokens) exceeds the available context size (123904 tokens)",
        {"kilo", "roo", "cline"},
    ),
    (400, None, "the request exceeds the available context size, try increasing it", {"kilo"}),
    (413, None, "Request Entity Too Large", {"kilo"}),
    (400, "context_length_exceeded", "Invalid request", {"kilo"}),
    (500, None, "Internal Server Error", set()),
    (400, None, "Invalid request", set()),
]


@pytest.mark.parametrize(("status", "code", "message", "clients"), ANSWERS)
def test_which_clients_take_an_answer_for_an_overflow(status: int, code: Any, message: str, clients: set[str]) -> None:
    by_name: dict[str, Recogniser] = {r.client.split("-")[0]: r for r in RECOGNISERS}
    assert {name for name, r in by_name.items() if r.recognises(status, code, message)} == clients
