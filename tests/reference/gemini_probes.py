"""Raw-HTTP probes of the ``gemini-*`` faults (``tests/reference/test_server.py`` runs each on a clean and a faulty
server): what a fault changes, read from the bytes, with no SDK in between."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx

from conformance.reference.chat import REPLY_TEXT
from conformance.reference.server import REFERENCE_KEY

KEY = {"x-goog-api-key": REFERENCE_KEY}
HELLO = {"contents": [{"role": "user", "parts": [{"text": "Say hello."}]}]}
DECLARED = {"functionDeclarations": [{"name": "get_weather", "parameters": {"type": "object"}}]}
TOOLS = {**HELLO, "tools": [DECLARED], "toolConfig": {"functionCallingConfig": {"mode": "ANY"}}}
CALLED = {"role": "model", "parts": [{"functionCall": {"name": "get_weather", "args": {}}}]}
ANSWERED = {"role": "user", "parts": [{"functionResponse": {"name": "get_weather", "response": {"output": "Sunny"}}}]}
THINK = {**HELLO, "generationConfig": {"thinkingConfig": {"includeThoughts": True}}}
WORDS = len(REPLY_TEXT.split())


def generate(c: httpx.Client, body: dict[str, Any] = HELLO, *, model: str = "reference/coder", **kw: Any) -> Any:
    return c.post(f"/v1beta/models/{model}:generateContent", json=body, headers=kw.get("headers", KEY))


def stream(c: httpx.Client) -> httpx.Response:
    return c.post("/v1beta/models/reference/coder:streamGenerateContent?alt=sse", json=HELLO, headers=KEY)


def stream_data(c: httpx.Client) -> list[str]:
    """The ``data:`` payloads of a stream, as sent."""
    return [line[len("data: ") :] for line in stream(c).text.splitlines() if line.startswith("data: ")]


def usage_at(c: httpx.Client) -> list[int]:
    """The positions of the stream's chunks that carry usageMetadata."""
    return [i for i, d in enumerate(stream_data(c)) if "usageMetadata" in json.loads(d)]


def part_keys(body: Any) -> list[list[str]]:
    return [sorted(p) for p in body["candidates"][0]["content"]["parts"]]


Probe = Callable[[httpx.Client], Any]
GEMINI_PROBES: dict[str, tuple[Probe, Any, Any]] = {
    "gemini-models-openai-list": (
        lambda c: sorted(c.get("/v1beta/models", headers=KEY).json()),
        ["models"],
        ["data", "object"],
    ),
    "gemini-finish-lowercase": (lambda c: generate(c).json()["candidates"][0]["finishReason"], "STOP", "stop"),
    "gemini-no-usage": (lambda c: "usageMetadata" in generate(c).json(), True, False),
    "gemini-no-alt-sse": (
        lambda c: stream(c).headers["content-type"].split(";")[0],
        "text/event-stream",
        "application/json",
    ),
    "gemini-stream-usage-first": (usage_at, [WORDS - 1], [0]),
    "gemini-stream-done-marker": (lambda c: stream_data(c)[-1].startswith("{"), True, False),
    "gemini-args-string": (
        lambda c: type(generate(c, TOOLS).json()["candidates"][0]["content"]["parts"][0]["functionCall"]["args"]),
        dict,
        str,
    ),
    "gemini-reject-function-response": (
        lambda c: generate(c, {**TOOLS, "contents": [*HELLO["contents"], CALLED, ANSWERED]}).status_code,
        200,
        400,
    ),
    "gemini-thoughts-as-text": (
        lambda c: part_keys(generate(c, THINK).json()),
        [["text", "thought"], ["text"]],
        [
            ["text"],
            ["text"],
        ],
    ),
    "gemini-openai-errors": (
        lambda c: sorted(generate(c, headers={"x-goog-api-key": "wrong"}).json()["error"]),
        ["code", "details", "message", "status"],
        ["code", "message", "param", "type"],
    ),
    "gemini-v1beta-only": (
        lambda c: c.post("/v1/models/reference/coder:generateContent", json=HELLO, headers=KEY).status_code,
        200,
        404,
    ),
    "gemini-no-vertex-path": (
        lambda c: (
            c.post(
                "/v1/projects/p/locations/global/publishers/google/models/reference/coder:generateContent",
                json=HELLO,
                headers=KEY,
            ).status_code
        ),
        200,
        404,
    ),
}
