"""A profiled client's own chat request, built from its data (``Request``) for one model: what the live battery
replays as that client (CC-008)."""

from __future__ import annotations

from typing import Any

from conformance.clients.model import Request
from conformance.live import SYSTEM_PROMPT, TOOL, TOOL_PROMPT, USER_PROMPT, ModelInfo

OUTPUT_TOKEN_MAX = 32000
"""Kilo v7's cap on max_tokens (Kilo-Org/kilocode packages/opencode/src/provider/transform.ts)."""


def _max_tokens(rule: str | None, model: ModelInfo) -> int | None:
    if rule is None or model.max_tokens is None:
        return None
    if rule == "output-capped-32000":
        return int(min(model.max_tokens, OUTPUT_TOKEN_MAX))
    return int(model.max_tokens)


def _tools(kind: str) -> list[dict[str, Any]]:
    if kind == "empty":
        return []
    if kind == "strict":
        function = {**TOOL["function"], "strict": True}
        function["parameters"] = {**TOOL["function"]["parameters"], "additionalProperties": False}
        return [{"type": "function", "function": function}]
    return [TOOL]


def body(request: Request, model: ModelInfo) -> dict[str, Any]:
    """The streamed request ``request`` describes, for ``model`` (a model the catalog says has no tool calling
    gets none: the clients send tools only where the model takes them)."""
    with_tools = request.tools == "empty" or (request.tools != "none" and model.tool_call is not False)
    prompt = TOOL_PROMPT if with_tools and request.tools != "empty" else USER_PROMPT
    out: dict[str, Any] = {
        "model": model.id,
        "messages": [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": prompt}],
        "stream": True,
    }
    if request.include_usage:
        out["stream_options"] = {"include_usage": True}
    if request.temperature is not None:
        out["temperature"] = request.temperature
    max_tokens = _max_tokens(request.max_tokens, model)
    if max_tokens is not None:
        out["max_tokens"] = max_tokens
    if with_tools:
        out["tools"] = _tools(request.tools)
        if request.tools != "empty":
            if request.tool_choice is not None:
                out["tool_choice"] = request.tool_choice
            if request.parallel_tool_calls is not None:
                out["parallel_tool_calls"] = request.parallel_tool_calls
    return out
