"""The reference provider's Gemini API (the ``generativelanguage`` REST API that the ``google-genai`` SDK speaks),
as data, with no HTTP.

Like ``responses`` and ``messages``, a ``generateContent`` request is translated into the chat-completions request
it means, so the reply text, tool calls and token counts are the chat ones; only the shapes differ. Paths are the
SDK's: ``models/{model}:generateContent`` under a version (``v1``, ``v1beta``), or the Vertex form
``[projects/{p}/locations/{l}/]publishers/{publisher}/models/{model}:…`` (``v1``, ``v1beta1``); a Vertex model is
found under its own name or under ``{publisher}/{name}`` (the SDK turns ``reference/coder`` into
``publishers/reference/models/coder``). Errors are Google's ``{"error": {code, message, status}}``; the
``gemini-*`` faults are applied here.

Shapes: Gemini API reference, ai.google.dev/api/generate-content and ai.google.dev/api/models; the google-genai
SDK 3.x (``google/genai/models.py``: ``{model}:generateContent``, ``{model}:streamGenerateContent?alt=sse``;
``_transformers.t_model``: the model path; ``errors.APIError``: the error fields it reads).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from conformance.reference import chat
from conformance.reference.catalog import MODELS, Models
from conformance.reference.responses import Frame, Plan, plan, sse

STATUS = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
}
"""The ``google.rpc.Code`` name Google's APIs give each HTTP status."""
METHODS = ("generateContent", "streamGenerateContent", "countTokens")
MODES = {"AUTO": "auto", "ANY": "required", "NONE": "none", "VALIDATED": "auto"}
"""``toolConfig.functionCallingConfig.mode`` and the chat ``tool_choice`` it means."""
_PATH = re.compile(
    r"^(?:projects/[^/]+/locations/[^/]+/)?(?:publishers/(?P<publisher>[^/]+)/)?models"
    r"(?:/(?P<model>[^:]+?))?(?::(?P<method>[A-Za-z]+))?$"
)
ROLES = ("user", "model")


def field(value: Any, name: str, default: Any = None) -> Any:
    """``value[name]`` under its JSON name (``maxOutputTokens``) or its proto name (``max_output_tokens``): Google's
    JSON parser takes both, and the SDK sends some fields (``parameters_json_schema``, ``include_thoughts``) in
    the second form."""
    if not isinstance(value, dict):
        return default
    if name in value:
        return value[name]
    return value.get(re.sub(r"[A-Z]", lambda m: "_" + m.group(0).lower(), name), default)


@dataclass(frozen=True)
class Route:
    """What a Gemini path asks for: a model (``None``: the list) and a method (``None``: the model itself)."""

    model: str | None
    method: str | None
    vertex: bool


def route(path: str, models: Models = MODELS) -> Route | None:
    """The model and method of a path below the version (``models/x:generateContent``), or ``None``."""
    match = _PATH.match(path)
    if not match:
        return None
    publisher, model, method = match.group("publisher", "model", "method")
    if model is None and method is not None:
        return None
    if publisher and model and model not in models and f"{publisher}/{model}" in models:
        model = f"{publisher}/{model}"
    return Route(model, method, vertex=publisher is not None)


def error_body(exc: chat.APIError, faults: frozenset[str]) -> dict[str, Any]:
    """Google's error object, or (``gemini-openai-errors``) the OpenAI one."""
    if "gemini-openai-errors" in faults:
        return exc.body()
    error: dict[str, Any] = {"code": exc.status, "message": exc.message, "status": STATUS.get(exc.status, "UNKNOWN")}
    if exc.code:
        error["details"] = [
            {"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": exc.code, "domain": "googleapis.com"}
        ]
    return {"error": error}


def wrong_key() -> chat.APIError:
    """What Google answers a key it did not issue: 400 INVALID_ARGUMENT, reason API_KEY_INVALID."""
    return chat.APIError(400, "API key not valid. Please pass a valid API key.", code="API_KEY_INVALID")


def model_entry(model_id: str, models: Models = MODELS) -> dict[str, Any]:
    """One ``Model`` resource of the list."""
    model = models[model_id]
    return {
        "name": f"models/{model_id}",
        "baseModelId": model_id,
        "version": "1",
        "displayName": model["name"],
        "inputTokenLimit": model["limit"]["context"],
        "outputTokenLimit": model["limit"]["output"],
        "supportedGenerationMethods": list(METHODS),
        "thinking": model["reasoning"],
    }


def model_list(faults: frozenset[str], models: Models = MODELS) -> dict[str, Any]:
    """``GET …/models``, or (``gemini-models-openai-list``) an OpenAI list in its place."""
    if "gemini-models-openai-list" in faults:
        return {"object": "list", "data": [{"id": m, "object": "model", "owned_by": "reference"} for m in models]}
    return {"models": [model_entry(m, models) for m in models]}


def known_model(model_id: str, models: Models = MODELS) -> str:
    """``model_id`` if the provider serves it; else Google's 404 for an unknown model."""
    if model_id not in models:
        message = f"models/{model_id} is not found for API version v1beta, or is not supported for generateContent."
        raise chat.APIError(404, message)
    return model_id


def _text(content: Any, where: str) -> str:
    """The text of a ``Content`` that may hold only text (the system instruction)."""
    if isinstance(content, str):
        return content
    parts = content.get("parts") if isinstance(content, dict) else None
    if not isinstance(parts, list):
        raise chat.APIError(400, f"Invalid value at '{where}': expected a Content with parts")
    return "".join(p["text"] for p in parts if isinstance(p, dict) and isinstance(p.get("text"), str))


def _turn(role: str, parts: Any, where: str, faults: frozenset[str]) -> list[dict[str, Any]]:
    """One ``Content`` as chat messages: function responses become tool messages, function calls assistant tool
    calls, text and inline data a message of parts; earlier thoughts are dropped. A function call and its response
    are paired by name (the Gemini API's calls carry no id), in order."""
    if not isinstance(parts, list) or not parts:
        raise chat.APIError(400, f"Invalid value at '{where}.parts': a Content needs at least one part")
    results, texts, calls = [], [], []
    for index, part in enumerate(parts):
        at = f"{where}.parts[{index}]"
        if not isinstance(part, dict):
            raise chat.APIError(400, f"Invalid value at '{at}': a Part is an object")
        if part.get("thought") is True:
            continue
        if isinstance(field(part, "text"), str):
            texts.append({"type": "text", "text": part["text"]})
        elif isinstance(field(part, "inlineData"), dict) and role == "user":
            texts.append({"type": "image_url"})
        elif isinstance(field(part, "functionCall"), dict) and role == "model":
            call = field(part, "functionCall")
            if not isinstance(call.get("name"), str) or not isinstance(call.get("args", {}), dict):
                raise chat.APIError(400, f"Invalid value at '{at}.functionCall': needs a name and args object")
            function = {"name": call["name"], "arguments": json.dumps(call.get("args", {}))}
            calls.append({"id": f"call_{len(calls)}_{call['name']}", "type": "function", "function": function})
        elif isinstance(field(part, "functionResponse"), dict) and role == "user":
            if "gemini-reject-function-response" in faults:
                raise chat.APIError(400, f"Invalid value at '{at}': functionResponse parts are not supported")
            answer = field(part, "functionResponse")
            if not isinstance(answer.get("name"), str) or not isinstance(answer.get("response", {}), dict):
                raise chat.APIError(400, f"Invalid value at '{at}.functionResponse': needs a name and response object")
            call_id = f"call_{len(results)}_{answer['name']}"
            results.append({"role": "tool", "tool_call_id": call_id, "content": json.dumps(answer.get("response"))})
        else:
            raise chat.APIError(400, f"Invalid value at '{at}': unexpected part {sorted(part)} in a {role} turn")
    if texts or calls:
        chat_role = "assistant" if role == "model" else "user"
        results.append({"role": chat_role, "content": texts or None} | ({"tool_calls": calls} if calls else {}))
    return results


def _messages(body: dict[str, Any], faults: frozenset[str]) -> list[dict[str, Any]]:
    """``systemInstruction`` and ``contents`` as chat messages."""
    contents = body.get("contents")
    if not isinstance(contents, list) or not contents:
        raise chat.APIError(400, "* GenerateContentRequest.contents: contents is not specified")
    system = field(body, "systemInstruction")
    messages = [{"role": "system", "content": _text(system, "system_instruction")}] if system else []
    for index, content in enumerate(contents):
        where = f"contents[{index}]"
        role = content.get("role", "user") if isinstance(content, dict) else None
        if role not in ROLES:
            raise chat.APIError(400, f"Invalid value at '{where}.role': must be user or model")
        messages += _turn(role, content.get("parts"), where, faults)
    return messages


def _declarations(body: dict[str, Any]) -> list[dict[str, Any]]:
    """Every ``functionDeclarations`` entry of ``tools``, as chat tools (``parameters`` or, as kosong sends it,
    ``parametersJsonSchema``)."""
    tools = body.get("tools") or []
    if not isinstance(tools, list) or not all(isinstance(t, dict) for t in tools):
        raise chat.APIError(400, "Invalid value at 'tools': must be an array of Tool objects")
    declared = []
    for tool in tools:
        for function in field(tool, "functionDeclarations") or []:
            if not isinstance(function, dict) or not isinstance(function.get("name"), str):
                raise chat.APIError(400, "Invalid value at 'tools.function_declarations': each needs a name")
            schema = field(function, "parameters", field(function, "parametersJsonSchema"))
            declared.append({"type": "function", "function": {"name": function["name"], "parameters": schema}})
    return declared


def _tool_choice(body: dict[str, Any], tools: list[dict[str, Any]]) -> dict[str, Any]:
    config = field(field(body, "toolConfig"), "functionCallingConfig") or {}
    if not tools or not isinstance(config, dict) or "mode" not in config:
        return {}
    mode = config["mode"]
    if mode not in MODES:
        raise chat.APIError(400, f"Invalid value at 'tool_config.function_calling_config.mode' ({mode!r})")
    allowed = field(config, "allowedFunctionNames")
    if mode == "ANY" and isinstance(allowed, list) and len(allowed) == 1:
        return {"tool_choice": {"type": "function", "function": {"name": allowed[0]}}}
    return {"tool_choice": MODES[mode]}


def _limit(generation: dict[str, Any]) -> int | None:
    value = field(generation, "maxOutputTokens")
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise chat.APIError(400, "Invalid value at 'generation_config.max_output_tokens': a positive integer")
    return value


def build_reply(model_id: str, body: Any, faults: frozenset[str], *, stream: bool, models: Models = MODELS) -> Plan:
    """Validate a ``generateContent`` request and plan its reply; a request the provider refuses raises
    ``APIError``. Thoughts are sent only where the request asks for them (``thinkingConfig.includeThoughts``)."""
    if not isinstance(body, dict):
        raise chat.APIError(400, "Invalid JSON payload received: the request body must be a JSON object")
    generation = field(body, "generationConfig") or {}
    if not isinstance(generation, dict):
        raise chat.APIError(400, "Invalid value at 'generation_config': must be an object")
    tools = _declarations(body)
    chat_body = {"model": model_id, "messages": _messages(body, faults)}
    if tools:
        chat_body |= {"tools": tools, **_tool_choice(body, tools)}
    thinking = field(generation, "thinkingConfig") or {}
    thoughts = field(thinking, "includeThoughts") is True
    return plan(chat_body, reasoning=thoughts, limit=_limit(generation), stream=stream, models=models)


def _parts(plan: Plan, tokens: tuple[chat.Token, ...], faults: frozenset[str]) -> list[dict[str, Any]]:
    """The parts a run of tokens makes: a thought part, a text part, a function call (whole: the Gemini API does
    not stream arguments)."""
    parts: list[dict[str, Any]] = []
    thought = "".join(t.text for t in tokens if t.kind == "reasoning")
    if thought:
        parts.append({"text": thought} if "gemini-thoughts-as-text" in faults else {"text": thought, "thought": True})
    text = "".join(t.text for t in tokens if t.kind == "content")
    if text:
        parts.append({"text": text})
    call = plan.call
    if call and any(t.kind == "tool_name" for t in tokens):
        args: Any = {} if plan.cut else json.loads(call.arguments)
        parts.append(
            {"functionCall": {"name": call.name, "args": json.dumps(args) if "gemini-args-string" in faults else args}}
        )
    return parts


def _finish_reason(plan: Plan, faults: frozenset[str]) -> str:
    reason = "MAX_TOKENS" if plan.cut else "STOP"
    return reason.lower() if "gemini-finish-lowercase" in faults else reason


def _usage(plan: Plan) -> dict[str, Any]:
    thoughts = sum(1 for t in plan.tokens if t.kind == "reasoning")
    usage = {
        "promptTokenCount": plan.reply.prompt_tokens,
        "candidatesTokenCount": len(plan.tokens) - thoughts,
        "totalTokenCount": plan.reply.prompt_tokens + len(plan.tokens),
    }
    return usage | ({"thoughtsTokenCount": thoughts} if thoughts else {})


def _response(plan: Plan, parts: list[dict[str, Any]], finish: str | None, usage: bool) -> dict[str, Any]:
    candidate: dict[str, Any] = {"content": {"role": "model", "parts": parts}, "index": 0}
    if finish:
        candidate["finishReason"] = finish
    body: dict[str, Any] = {"candidates": [candidate]}
    if usage:
        body["usageMetadata"] = _usage(plan)
    return body | {"modelVersion": plan.reply.model, "responseId": plan.digest[:22]}


def response_body(plan: Plan, faults: frozenset[str]) -> dict[str, Any]:
    """The non-streamed ``GenerateContentResponse``."""
    usage = "gemini-no-usage" not in faults
    return _response(plan, _parts(plan, plan.tokens, faults), _finish_reason(plan, faults), usage)


def chunks(plan: Plan, faults: frozenset[str]) -> list[tuple[dict[str, Any], bool]]:
    """The ``GenerateContentResponse`` chunks of a stream, each with whether it waits for the token clock: one per
    thought or text token, a function call whole in one chunk; the last carries ``finishReason`` and the usage
    (``gemini-stream-usage-first``: the first does instead)."""
    runs: list[tuple[chat.Token, ...]] = []
    for token in plan.tokens:
        if token.kind == "tool_args" and runs:
            runs[-1] += (token,)
        else:
            runs.append((token,))
    out = [(_response(plan, _parts(plan, run, faults), None, False), True) for run in runs]
    if not out:
        out.append((_response(plan, [], None, False), False))
    at = 0 if "gemini-stream-usage-first" in faults else -1
    last = out[-1][0]
    last["candidates"][0]["finishReason"] = _finish_reason(plan, faults)
    if "gemini-no-usage" not in faults:
        out[at][0]["usageMetadata"] = _usage(plan)
    return out


def stream_frames(plan: Plan, faults: frozenset[str]) -> list[Frame]:
    """The SSE frames of ``streamGenerateContent?alt=sse``: ``data: <chunk>`` each, no ``event:`` line and no end
    marker (``gemini-stream-done-marker`` adds OpenAI's ``data: [DONE]``)."""
    frames = [Frame(sse(data, None), token) for data, token in chunks(plan, faults)]
    return [*frames, Frame(sse("[DONE]", None))] if "gemini-stream-done-marker" in faults else frames
