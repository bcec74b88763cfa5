"""The reference provider's OpenAI Responses API (``POST /v1/responses``) as data, with no HTTP.

A request is translated into the chat-completions request it means and planned by ``chat.build_reply``, so this
API and the Messages API (``messages``) give the same reply text, tool calls, token counts and ids as chat
completions; only the shapes differ. What the two newer APIs share lives here: the plan re-cut to their token
limit (with reasoning only where the request asks for it), and SSE events that carry an ``event:`` line.
Chat-completion faults do not reach these APIs; each has its own, applied here.
"""

from __future__ import annotations

import base64
import hashlib
import json
import time
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from conformance.reference import chat
from conformance.reference.catalog import MODELS, Models

ROLES = ("user", "system", "developer", "assistant")
TEXT_PARTS = ("input_text", "output_text")
ECHOED = {
    "instructions": None,
    "max_output_tokens": None,
    "parallel_tool_calls": True,
    "tool_choice": "auto",
    "tools": [],
}
"""Request fields a response repeats, with the value it shows when the request left one out."""
SETTINGS = {
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
}
"""The other parameters a response object shows (Open Responses specification, ResponseResource: every one is
required there), with the value it shows when the request left one out. ``store`` is false unless asked: the
reference keeps no response to retrieve."""
COMPACTED = "The conversation so far, compacted."
"""What a ``compaction`` input item stands for: the reference reads no summary back, it only accepts the item."""
DELTAS = ("response.output_text.delta", "response.function_call_arguments.delta")


class Frame(NamedTuple):
    """One SSE event as sent; ``token`` frames wait for the token clock."""

    data: bytes
    token: bool = False


def sse(data: dict[str, Any] | str, name: str | None) -> bytes:
    """One event: an ``event: <name>`` line (none when ``name`` is ``None``) and one ``data:`` line."""
    text = data if isinstance(data, str) else json.dumps(data, separators=(",", ":"), ensure_ascii=False)
    return (f"event: {name}\n" if name else "").encode() + f"data: {text}\n\n".encode()


@dataclass(frozen=True)
class Plan:
    """A chat reply planned for another wire API: the tokens it sends, cut to that API's limit."""

    reply: chat.Reply
    tokens: tuple[chat.Token, ...]
    cut: bool
    """The limit stopped the reply early."""
    stream: bool
    echo: dict[str, Any] = field(default_factory=dict)
    """Request fields the reply repeats (the Responses API shows its parameters)."""

    @property
    def digest(self) -> str:
        """The request's digest, from which every id of the reply is made."""
        return self.reply.id.removeprefix("chatcmpl-ref-")

    @property
    def call(self) -> chat.ToolCall | None:
        """The tool call, if the limit left its name in the reply."""
        return self.reply.tool_call if any(t.kind == "tool_name" for t in self.tokens) else None

    def text(self, kind: chat.Kind) -> str:
        return "".join(t.text for t in self.tokens if t.kind == kind)


def plan(
    chat_body: dict[str, Any],
    *,
    reasoning: bool,
    limit: int | None,
    stream: bool,
    echo: dict[str, Any] | None = None,
    models: Models = MODELS,
) -> Plan:
    """Plan the reply to a translated request with no chat fault; reasoning tokens are dropped unless asked for
    (both APIs make it opt-in), before ``limit`` cuts, so the limit counts what is sent."""
    reply = chat.build_reply(chat_body, frozenset(), models)
    tokens = tuple(t for t in reply.tokens if reasoning or t.kind != "reasoning")
    return Plan(reply, tokens[:limit], limit is not None and limit < len(tokens), stream, echo or {})


def stream_flag(body: dict[str, Any]) -> bool:
    stream = body.get("stream") or False
    if not isinstance(stream, bool):
        raise chat.APIError(400, "'stream' must be a boolean", param="stream")
    return stream


def token_limit(body: dict[str, Any], name: str, *, required: bool) -> int | None:
    value = body.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise chat.APIError(400, f"'{name}' must be a positive integer", param=name, code="invalid_value")
    return value


def _content(content: Any, where: str) -> str | list[dict[str, Any]]:
    """Message content as chat content. An image becomes a bare image part: the reference reads no image, only
    whether there is one (a model without image input refuses it)."""
    if isinstance(content, str):
        return content
    parts: list[dict[str, Any]] = []
    for part in content if isinstance(content, list) else [None]:
        kind = part.get("type") if isinstance(part, dict) else None
        if kind in TEXT_PARTS and isinstance(part.get("text"), str):
            parts.append({"type": "text", "text": part["text"]})
        elif kind == "input_image":
            parts.append({"type": "image_url"})
        else:
            message = f"{where}: content must be a string or parts of type input_text, output_text or input_image"
            raise chat.APIError(400, message, param="input")
    return parts


def _messages(body: dict[str, Any], faults: frozenset[str]) -> list[dict[str, Any]]:
    """``instructions`` and ``input`` as chat messages: a function call becomes an assistant tool call, its output
    a tool message."""
    given, instructions = body.get("input"), body.get("instructions")
    items = [{"role": "user", "content": given}] if isinstance(given, str) else given
    if not isinstance(items, list) or not items:
        message = "'input' must be a string or a non-empty array of items"
        raise chat.APIError(400, message, param="input", code="missing_required_parameter")
    if instructions is not None and not isinstance(instructions, str):
        raise chat.APIError(400, "'instructions' must be a string", param="instructions")
    messages = [{"role": "system", "content": instructions}] if instructions else []
    for index, item in enumerate(items):
        kind = item.get("type", "message") if isinstance(item, dict) else None
        if kind == "message" and item.get("role") in ROLES:
            messages.append({"role": item["role"], "content": _content(item.get("content"), f"input[{index}]")})
        elif kind == "function_call" and all(isinstance(item.get(k), str) for k in ("call_id", "name", "arguments")):
            function = {"name": item["name"], "arguments": item["arguments"]}
            messages.append(
                {"role": "assistant", "content": None, "tool_calls": [{"id": item["call_id"], "function": function}]}
            )
        elif kind == "compaction" and isinstance(item.get("encrypted_content"), str):
            messages.append({"role": "system", "content": COMPACTED})
        elif kind == "function_call_output" and isinstance(item.get("call_id"), str):
            if "responses-reject-function-output" in faults:
                raise chat.APIError(400, "input items of type 'function_call_output' are not supported", param="input")
            output = _content(item.get("output"), f"input[{index}].output")
            messages.append({"role": "tool", "tool_call_id": item["call_id"], "content": output})
        else:
            message = (
                f"input[{index}] must be a message (role {', '.join(ROLES)}), function_call or function_call_output"
            )
            raise chat.APIError(400, message, param="input")
    return messages


def _tools(body: dict[str, Any]) -> dict[str, Any]:
    """``tools`` and ``tool_choice`` in their chat shapes (absent when not given)."""
    tools, choice = body.get("tools"), body.get("tool_choice")
    translated: dict[str, Any] = {}
    if tools is not None:
        if not isinstance(tools, list) or not all(
            isinstance(t, dict) and t.get("type") == "function" and isinstance(t.get("name"), str) for t in tools
        ):
            raise chat.APIError(400, "'tools' must be an array of {type: 'function', name, parameters}", param="tools")
        translated["tools"] = [
            {"type": "function", "function": {k: v for k, v in t.items() if k != "type"}} for t in tools
        ]
    if isinstance(choice, dict) and choice.get("type") == "function" and isinstance(choice.get("name"), str):
        translated["tool_choice"] = {"type": "function", "function": {"name": choice["name"]}}
    elif choice in ("auto", "required", "none"):
        translated["tool_choice"] = choice
    elif choice is not None:
        message = "'tool_choice' must be none, auto, required or {type: 'function', name}"
        raise chat.APIError(400, message, param="tool_choice")
    return translated


def refuse_phase(body: dict[str, Any], faults: frozenset[str]) -> None:
    """``responses-reject-phase``: an input message with ``phase`` (what Codex sends back for models that label
    their messages) is refused."""
    items = body.get("input")
    labelled = isinstance(items, list) and any(isinstance(item, dict) and "phase" in item for item in items)
    if "responses-reject-phase" in faults and labelled:
        raise chat.APIError(400, "Unknown parameter: 'input[].phase'.", param="input", code="unknown_parameter")


def echoed_tool(tool: dict[str, Any]) -> dict[str, Any]:
    """A function tool as a response shows it: every field the specification lists, ``None`` where not given."""
    return {"type": "function", "description": None, "parameters": None, "strict": None, **tool}


def settings(body: dict[str, Any], faults: frozenset[str]) -> dict[str, Any]:
    """The parameters a response shows besides ``ECHOED``, and the declared tools in their full shape
    (``responses-sparse-object``: none of them, the shape the reference once had)."""
    if "responses-sparse-object" in faults:
        return {}
    if body.get("previous_response_id") is not None:
        message = "Previous response not found: this provider stores no responses (send the whole input instead)."
        raise chat.APIError(400, message, param="previous_response_id", code="previous_response_not_found")
    shown = {name: _setting(body.get(name), default) for name, default in SETTINGS.items()}
    return shown | {"tools": [echoed_tool(t) for t in body.get("tools") or []]}


def _setting(given: Any, default: Any) -> Any:
    """A parameter as a response shows it: the default where the request sent none (or null), and an object
    completed from the default where the request sent part of one (Codex sends ``text: {verbosity}`` alone)."""
    if given is None:
        return default
    if isinstance(default, dict) and default and isinstance(given, dict):
        return default | given
    return given


def build_reply(body: Any, faults: frozenset[str], models: Models = MODELS) -> Plan:
    """Validate a Responses request and plan its reply; a request the provider refuses raises ``APIError``."""
    if not isinstance(body, dict):
        raise chat.APIError(400, "the request body must be a JSON object")
    refuse_phase(body, faults)
    chat_body = {"model": body.get("model"), "messages": _messages(body, faults), **_tools(body)}
    limit = token_limit(body, "max_output_tokens", required=False)
    echo = {name: body.get(name, default) for name, default in ECHOED.items()} | settings(body, faults)
    return plan(chat_body, reasoning=False, limit=limit, stream=stream_flag(body), echo=echo, models=models)


def _arguments(plan: Plan, text: str, faults: frozenset[str]) -> str | dict[str, Any]:
    """A function call's arguments as sent: the JSON text, or (``responses-args-object``) the whole object."""
    assert plan.call is not None, "only a reply with a tool call has arguments"
    return json.loads(plan.call.arguments) if "responses-args-object" in faults else text


def _item(plan: Plan, faults: frozenset[str], *, done: bool) -> dict[str, Any]:
    """The one output item: as first announced (empty), or as finished."""
    status = ("incomplete" if plan.cut else "completed") if done else "in_progress"
    if plan.call:
        arguments = _arguments(plan, plan.text("tool_args") if done else "", faults)
        return {
            "type": "function_call",
            "id": f"fc_{plan.digest}",
            "call_id": plan.call.id,
            "name": plan.call.name,
            "arguments": arguments,
            "status": status,
        }
    content = [{"type": "output_text", "text": plan.text("content"), "annotations": []}] if done else []
    return {"type": "message", "id": f"msg_{plan.digest}", "status": status, "role": "assistant", "content": content}


def _response(plan: Plan, faults: frozenset[str], created: int, *, done: bool) -> dict[str, Any]:
    """The response object: in progress (no output yet, no usage) or finished."""
    status = ("incomplete" if plan.cut else "completed") if done else "in_progress"
    response = {
        "id": f"resp_{plan.digest}",
        "object": "response",
        "created_at": created,
        "status": status,
        "error": None,
        "incomplete_details": {"reason": "max_output_tokens"} if done and plan.cut else None,
        "model": plan.reply.model,
        "output": [_item(plan, faults, done=True)] if done else [],
        **plan.echo,
        "usage": None,
    }
    if "responses-sparse-object" not in faults:
        response["completed_at"] = int(time.time()) if done else None
    if done and "responses-no-usage" in faults:
        del response["usage"]
    elif done:
        sent, prompt = len(plan.tokens), plan.reply.prompt_tokens
        response["usage"] = {
            "input_tokens": prompt,
            "input_tokens_details": {"cached_tokens": 0},
            "output_tokens": sent,
            "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": prompt + sent,
        }
    return response


def response_body(plan: Plan, faults: frozenset[str], created: int) -> dict[str, Any]:
    """The non-streamed ``response`` object."""
    body = _response(plan, faults, created, done=True)
    if "responses-wrong-object" in faults:
        body["object"] = "chat.completion"
        del body["status"]
    return body


def stream_frames(plan: Plan, faults: frozenset[str], created: int) -> list[Frame]:
    """The events of a streamed response, in order and numbered: created, in_progress, the output item with its
    deltas (one per token; a function call's name token is the item's announcement), then the terminal event."""
    item = _item(plan, faults, done=True)
    at = {"item_id": item["id"], "output_index": 0}
    started = _response(plan, faults, created, done=False)
    events: list[tuple[dict[str, Any], bool]] = [
        ({"type": "response.created", "response": started}, False),
        ({"type": "response.in_progress", "response": started}, False),
    ]
    added = {"type": "response.output_item.added", "output_index": 0, "item": _item(plan, faults, done=False)}
    if plan.call:
        events.append((added, True))
        if "responses-args-object" not in faults:
            delta = "response.function_call_arguments.delta"
            events += [({"type": delta, **at, "delta": t.text}, True) for t in plan.tokens if t.kind == "tool_args"]
        name, arguments = plan.call.name, item["arguments"]
        events.append(
            ({"type": "response.function_call_arguments.done", **at, "name": name, "arguments": arguments}, False)
        )
    else:
        at["content_index"] = 0
        [part] = item["content"]
        events += [
            (added, False),
            ({"type": "response.content_part.added", **at, "part": {**part, "text": ""}}, False),
            *(
                ({"type": "response.output_text.delta", **at, "delta": t.text, "logprobs": []}, True)
                for t in plan.tokens
            ),
            ({"type": "response.output_text.done", **at, "text": part["text"], "logprobs": []}, False),
            ({"type": "response.content_part.done", **at, "part": part}, False),
        ]
    events.append(({"type": "response.output_item.done", "output_index": 0, "item": item}, False))
    cut_and_said = plan.cut and "responses-completed-incomplete" not in faults
    terminal = "response.incomplete" if cut_and_said else "response.completed"
    events.append(({"type": terminal, "response": _response(plan, faults, created, done=True)}, False))
    return _frames(events, faults)


def strip_locations(event: dict[str, Any]) -> dict[str, Any]:
    """A text or arguments event without the fields that say where it belongs (item, output and content index)."""
    if not event["type"].startswith(("response.output_text.", "response.function_call_arguments.")):
        return event
    return {k: v for k, v in event.items() if k not in ("item_id", "output_index", "content_index")}


def error_stream() -> bytes:
    """``responses-error-stream``: the whole body of a stream that failed before it began, as LiteLLM's proxy
    sends it: a Chat Completions error object and ``[DONE]``, with no ``event:`` line and no Responses type."""
    error = {"message": "The model failed to start.", "type": "internal_server_error", "param": None, "code": "500"}
    return sse({"error": error}, None) + sse("[DONE]", None)


def _frames(events: list[tuple[dict[str, Any], bool]], faults: frozenset[str]) -> list[Frame]:
    """The events as SSE frames, after the faults that reorder, cut or strip them."""
    if "responses-silent-failure" in faults:
        events = events[: len(events) // 2]
    elif "responses-no-completed" in faults:
        events = events[:-1]
    types = [event["type"] for event, _ in events]
    first_delta = next((i for i, kind in enumerate(types) if kind in DELTAS), None)
    if "responses-bad-order" in faults and first_delta is not None:
        events.insert(types.index("response.output_item.added"), events.pop(first_delta))
    if "responses-event-fields-missing" in faults:
        events = [(strip_locations(event), token) for event, token in events]
    named = "responses-no-event-lines" not in faults
    numbered = "responses-no-sequence" not in faults

    def frame(number: int, event: dict[str, Any]) -> bytes:
        data = {"type": event["type"], "sequence_number": number, **event} if numbered else event
        return sse(data, event["type"] if named else None)

    return [Frame(frame(n, event), token) for n, (event, token) in enumerate(events)]


def compact(body: Any, faults: frozenset[str], created: int, models: Models = MODELS) -> dict[str, Any]:
    """``POST /responses/compact``: the conversation's user messages kept as they were, and one ``compaction``
    item standing for the rest (opaque to clients, who send it back as an input item); a request the provider
    refuses raises ``APIError``, a missing model among them."""
    if not isinstance(body, dict):
        raise chat.APIError(400, "the request body must be a JSON object")
    messages = _messages(body, faults)
    reply = chat.build_reply({"model": body.get("model"), "messages": messages}, frozenset(), models)
    digest = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()[:24]
    kept = [
        {
            "type": "message",
            "id": f"msg_{digest}_{index}",
            "status": "completed",
            "role": "user",
            "content": [{"type": "input_text", "text": text}],
        }
        for index, message in enumerate(messages)
        if message["role"] == "user"
        for text in [" ".join(chat.texts(message))]
    ]
    summary = json.dumps([" ".join(chat.texts(m)) for m in messages if m["role"] != "user"])
    compaction = {
        "type": "compaction",
        "id": f"cmp_{digest}",
        "encrypted_content": base64.b64encode(summary.encode()).decode(),
    }
    written = len(summary.split())
    usage = {
        "input_tokens": reply.prompt_tokens,
        "input_tokens_details": {"cached_tokens": 0},
        "output_tokens": written,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": reply.prompt_tokens + written,
    }
    return {
        "id": f"resp_{digest}",
        "object": "response.compaction",
        "created_at": created,
        "output": [*kept, compaction],
        "usage": usage,
    }
