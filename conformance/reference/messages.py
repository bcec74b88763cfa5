"""The reference provider's Anthropic Messages API (``POST /v1/messages``) as data, with no HTTP.

Like ``responses``, a request is translated into the chat-completions request it means, so the reply text, tool
calls and token counts are the chat ones. The reply is a list of content blocks (thinking, when a reasoning model
is asked to think; then text or one tool use), which renders as one message or as the block-by-block events of a
stream. Errors are Anthropic error objects; the ``messages-*`` faults are applied here.
"""

from __future__ import annotations

import itertools
import json
from typing import Any

from conformance.reference import chat
from conformance.reference.catalog import MODELS, Models
from conformance.reference.responses import Frame, Plan, plan, sse, stream_flag, token_limit

ROLES = ("user", "assistant")
ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
}
TOOL_CHOICES = {"auto": "auto", "any": "required", "none": "none"}
"""Anthropic's tool choices and the chat ones they mean (``tool`` names one)."""
BLOCKS = {"reasoning": "thinking", "content": "text", "tool_name": "tool_use", "tool_args": "tool_use"}
"""The content block each kind of token belongs to."""
DELTAS = {
    "reasoning": ("thinking_delta", "thinking"),
    "content": ("text_delta", "text"),
    "tool_args": ("input_json_delta", "partial_json"),
}
"""The delta each kind of token streams as, and its field (a tool's name token is its block's start)."""
OPENING = {"thinking": {"thinking": "", "signature": ""}, "text": {"text": ""}, "tool_use": {"input": {}}}
"""What a streamed block starts with, before its deltas fill it in."""


def error_body(exc: chat.APIError, faults: frozenset[str]) -> dict[str, Any]:
    """An Anthropic error object, or (``messages-openai-errors``) the OpenAI one."""
    if "messages-openai-errors" in faults:
        return exc.body()
    return {"type": "error", "error": {"type": ERROR_TYPES.get(exc.status, "api_error"), "message": exc.message}}


def _text(content: Any, where: str) -> str:
    """A system prompt or tool result: a string, or the text of its text blocks."""
    if isinstance(content, str):
        return content
    if isinstance(content, list) and all(isinstance(b, dict) for b in content):
        return "".join(b["text"] for b in content if b.get("type") == "text" and isinstance(b.get("text"), str))
    raise chat.APIError(400, f"{where}: must be a string or an array of content blocks")


def _turn(role: str, blocks: list[Any], where: str) -> list[dict[str, Any]]:
    """One turn's blocks as chat messages: tool results become tool messages (first, as Anthropic requires them
    first), text and images a message of parts, tool uses assistant tool calls; earlier thinking is dropped. An
    image becomes a bare image part: the reference reads no image, only whether there is one."""
    results, parts, calls = [], [], []
    for index, block in enumerate(blocks):
        kind = block.get("type") if isinstance(block, dict) else None
        if kind == "text" and isinstance(block.get("text"), str):
            parts.append({"type": "text", "text": block["text"]})
        elif kind == "image" and role == "user" and isinstance(block.get("source"), dict):
            parts.append({"type": "image_url"})
        elif kind == "tool_result" and role == "user" and isinstance(block.get("tool_use_id"), str):
            content = _text(block.get("content", ""), f"{where}.content.{index}.content")
            results.append({"role": "tool", "tool_call_id": block["tool_use_id"], "content": content})
        elif kind == "tool_use" and role == "assistant" and _is_tool_use(block):
            function = {"name": block["name"], "arguments": json.dumps(block["input"])}
            calls.append({"id": block["id"], "type": "function", "function": function})
        elif kind not in ("thinking", "redacted_thinking") or role != "assistant":
            raise chat.APIError(400, f"{where}.content.{index}: unexpected {kind!r} block in a {role} turn")
    if parts or calls:
        results.append({"role": role, "content": parts or None} | ({"tool_calls": calls} if calls else {}))
    return results


def _is_tool_use(block: dict[str, Any]) -> bool:
    return (
        isinstance(block.get("id"), str) and isinstance(block.get("name"), str) and isinstance(block.get("input"), dict)
    )


def _messages(body: dict[str, Any]) -> list[dict[str, Any]]:
    """``system`` and ``messages`` as chat messages."""
    system, given = body.get("system"), body.get("messages")
    if not isinstance(given, list) or not given:
        raise chat.APIError(400, "messages: must be a non-empty array")
    messages = [{"role": "system", "content": _text(system, "system")}] if system else []
    for index, message in enumerate(given):
        where = f"messages.{index}"
        if not isinstance(message, dict) or message.get("role") not in ROLES:
            raise chat.APIError(400, f"{where}: needs a role, one of {', '.join(ROLES)}")
        content = message.get("content")
        if isinstance(content, str):
            messages.append({"role": message["role"], "content": content})
        elif isinstance(content, list):
            messages += _turn(message["role"], content, where)
        else:
            raise chat.APIError(400, f"{where}.content: must be a string or an array of content blocks")
    return messages


def _tools(body: dict[str, Any], faults: frozenset[str]) -> dict[str, Any]:
    """``tools`` and ``tool_choice`` in their chat shapes; ``messages-no-tool-use`` drops them, so every request
    is answered with text."""
    tools, choice = body.get("tools"), body.get("tool_choice")
    translated: dict[str, Any] = {}
    if tools is not None:
        if not isinstance(tools, list) or not all(
            isinstance(t, dict) and isinstance(t.get("name"), str) and isinstance(t.get("input_schema"), dict)
            for t in tools
        ):
            raise chat.APIError(400, "tools: each tool needs a name and an input_schema object")
        translated["tools"] = [
            {"type": "function", "function": {"name": t["name"], "parameters": t["input_schema"]}} for t in tools
        ]
    kind = choice.get("type") if isinstance(choice, dict) else None
    if kind == "tool" and isinstance(choice.get("name"), str):
        translated["tool_choice"] = {"type": "function", "function": {"name": choice["name"]}}
    elif kind in TOOL_CHOICES:
        translated["tool_choice"] = TOOL_CHOICES[kind]
    elif choice is not None:
        raise chat.APIError(400, "tool_choice: must be {type: auto | any | none} or {type: tool, name}")
    return {} if "messages-no-tool-use" in faults else translated


def build_reply(body: Any, faults: frozenset[str], *, version: str | None, models: Models = MODELS) -> Plan:
    """Validate a Messages request and plan its reply; a request the provider refuses raises ``APIError``.
    ``version`` is the ``anthropic-version`` header: any version is answered alike, but one must be named."""
    if not version:
        raise chat.APIError(400, "anthropic-version: header is required (for example 2023-06-01)")
    if not isinstance(body, dict):
        raise chat.APIError(400, "the request body must be a JSON object")
    chat_body = {"model": body.get("model"), "messages": _messages(body), **_tools(body, faults)}
    limit = token_limit(body, "max_tokens", required=True)
    thinking = body.get("thinking")
    asked = isinstance(thinking, dict) and thinking.get("type") == "enabled"
    return plan(chat_body, reasoning=asked, limit=limit, stream=stream_flag(body), models=models)


def _stop_reason(plan: Plan) -> str:
    return "max_tokens" if plan.cut else "tool_use" if plan.call else "end_turn"


def _signature(plan: Plan) -> str:
    """A thinking block's signature: opaque to clients, who send it back; here a digest of the request."""
    return f"sig_{plan.digest}"


def _block(plan: Plan, kind: str) -> dict[str, Any]:
    """A finished content block."""
    if kind == "thinking":
        return {"type": "thinking", "thinking": plan.text("reasoning"), "signature": _signature(plan)}
    if kind == "text":
        return {"type": "text", "text": plan.text("content")}
    call = plan.call
    assert call is not None, "a tool_use block belongs to a reply with a tool call"
    # when max_tokens cut the arguments short, they are not an object yet
    return {"type": "tool_use", "id": _tool_use_id(call), "name": call.name, "input": {} if plan.cut else _input(call)}


def _tool_use_id(call: chat.ToolCall) -> str:
    return f"toolu_{call.id.removeprefix('call_')}"


def _input(call: chat.ToolCall) -> dict[str, Any]:
    value = json.loads(call.arguments)
    assert isinstance(value, dict), "chat plans tool arguments as an object"
    return value


def _kinds(plan: Plan) -> list[str]:
    """The reply's content blocks, in order, by type."""
    return [kind for kind, _ in itertools.groupby(BLOCKS[t.kind] for t in plan.tokens)]


def message_body(plan: Plan, faults: frozenset[str]) -> dict[str, Any]:
    """The non-streamed ``message`` object."""
    body = {
        "id": f"msg_{plan.digest}",
        "type": "message",
        "role": "assistant",
        "content": [_block(plan, kind) for kind in _kinds(plan)],
        "model": plan.reply.model,
        "stop_reason": _stop_reason(plan),
        "stop_sequence": None,
        "usage": {"input_tokens": plan.reply.prompt_tokens, "output_tokens": len(plan.tokens)},
    }
    if "messages-wrong-type" in faults:
        body["type"] = "chat.completion"
        del body["stop_reason"]
    if "messages-no-usage" in faults:
        del body["usage"]
    return body


def _block_events(plan: Plan, index: int, kind: str, faults: frozenset[str]) -> list[tuple[dict[str, Any], bool]]:
    """One content block's events: its start (for a tool use, its name token), a delta per token, its stop."""
    at = {"index": index}
    whole = kind == "tool_use" and "messages-tool-input-whole" in faults
    block = _block(plan, kind)
    start = {"type": "content_block_start", **at, "content_block": block if whole else {**block, **OPENING[kind]}}
    events = [(start, kind == "tool_use")]
    for token in plan.tokens:
        if BLOCKS[token.kind] == kind and token.kind in DELTAS and not whole:
            delta, field = DELTAS[token.kind]
            events.append(({"type": "content_block_delta", **at, "delta": {"type": delta, field: token.text}}, True))
    if kind == "thinking":
        signature = {"type": "signature_delta", "signature": _signature(plan)}
        events.append(({"type": "content_block_delta", **at, "delta": signature}, False))
    return [*events, ({"type": "content_block_stop", **at}, False)]


def stream_frames(plan: Plan, faults: frozenset[str]) -> list[Frame]:
    """The events of a streamed message: message_start (no content yet), a ping, each block's events,
    message_delta with the stop reason and output tokens, message_stop."""
    started = {**message_body(plan, frozenset()), "content": [], "stop_reason": None}
    started["usage"] = {**started["usage"], "output_tokens": 0}
    events = [({"type": "message_start", "message": started}, False), ({"type": "ping"}, False)]
    for index, kind in enumerate(_kinds(plan)):
        events += _block_events(plan, index, kind, faults)
    delta = {"stop_reason": _stop_reason(plan), "stop_sequence": None}
    ending = [
        ({"type": "message_delta", "delta": delta, "usage": {"output_tokens": len(plan.tokens)}}, False),
        ({"type": "message_stop"}, False),
    ]
    events += ending[::-1] if "messages-bad-order" in faults else ending
    mismatch = "messages-event-mismatch" in faults
    frames = [
        Frame(sse(event, "delta" if mismatch and event["type"] == "content_block_delta" else event["type"]), token)
        for event, token in events
    ]
    return [*frames, Frame(sse("[DONE]", None))] if "messages-done-marker" in faults else frames
