"""The reference provider's chat completions as data, with no HTTP: a request becomes a ``Reply``, which renders
as one JSON body or as the events of a stream.

The reply is a fixed sequence of tokens (reasoning first for a reasoning model, then text or one tool call), so
the same request always gives the same bytes, and ``max_tokens`` is honoured by cutting that sequence. Faults
that change what is said are applied here; faults that change how it travels (status codes, headers, framing,
timing) belong to the server.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from typing import Any, Literal

from conformance.reference.catalog import MODELS, Models

REPLY_TEXT = "Hello from the reference provider. This reply is deterministic."
REASONING_TEXT = "Thinking it over."
TEMPLATE_LEAK = "<|im_start|>assistant\n"
ARGUMENT_PIECE = 8
"""Characters of tool-call arguments per streamed fragment."""
ROLES = ("system", "developer", "user", "assistant", "tool")
UNKNOWN_FIELDS = ("user", "store", "parallel_tool_calls")
"""The extra fields ``reject-unknown-fields`` refuses (clients send them; the spec lets servers ignore them)."""
_REFUSED_FIELDS = (
    ("reject-max-tokens", "max_tokens"),
    ("reject-max-completion-tokens", "max_completion_tokens"),
    ("reject-stream-options", "stream_options"),
    ("reject-temperature", "temperature"),
)
_TOOL_WORD = re.compile(r"\btools?\b", re.IGNORECASE)
_WORD = re.compile(r"\S+\s*")
_NAME_WORD = re.compile(r"[a-z][a-z0-9]*", re.IGNORECASE)
_GENERIC_NAME_WORDS = frozenset({"get", "set", "fetch", "list", "read", "run", "call", "current", "info", "data"})
"""Words of a tool name that say what it does, not what it is about (``get_current_weather`` is about weather)."""
_SENTENCE = re.compile(r"[^.!?]+")
_PLACE = re.compile(r"(?<!^)\b([A-Z][a-z]+(?:\s+[A-Z][a-z]+)*)")
READBACK_LIMIT = 200
"""Characters of a tool result the reply quotes back."""
_LONG = re.compile(r"\blong\b", re.IGNORECASE)
LONG_REPEATS = 4
"""A request for something long gets the reply text this many times over (36 words)."""
_AT_ONCE = re.compile(r"\b(?:at once|in parallel)\b", re.IGNORECASE)
"""Words of a user turn that ask for the tools it names in one turn."""
REASONING_DEMANDED = "The reasoning_content in the thinking mode must be passed back to the API."
"""DeepSeek's 400 for an assistant tool-call message without reasoning_content (anomalyco/opencode #25356)."""
ROLES_ALTERNATE = "Conversation roles must alternate user/assistant/user/assistant/..."
"""A chat template's error (Hugging Face templates raise it) for history it cannot render."""
UNANSWERED_CALLS = (
    "An assistant message with 'tool_calls' must be followed by tool messages responding to each 'tool_call_id'. "
    "The following tool_call_ids did not have response messages:"
)
"""OpenAI's 400 for a tool call no tool message answers."""
_UNSAFE_ID = re.compile(r"[^A-Za-z0-9_-]")
CACHE_MIN_TOKENS = 1024
"""The shortest prompt the reference caches (OpenAI caches prompts of 1024 tokens and more)."""

Kind = Literal["reasoning", "content", "tool_name", "tool_args"]


class APIError(Exception):
    """A request the provider refuses; the server renders it as an OpenAI error object."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type: str = "invalid_request_error",
        param: str | None = None,
        code: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type
        self.param = param
        self.code = code
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        return {"error": {"message": self.message, "type": self.type, "param": self.param, "code": self.code}}


@dataclass(frozen=True)
class Token:
    """One unit of output: a word of reasoning or text, a tool call's name, or a piece of its arguments."""

    kind: Kind
    text: str
    call: int = 0
    """For a tool token: which of the reply's calls it belongs to."""


@dataclass(frozen=True)
class ToolCall:
    id: str
    name: str
    arguments: str
    """The whole JSON text, even when ``max_tokens`` cut the tokens that carry it."""


@dataclass(frozen=True)
class Reply:
    """What the provider answers to one request, and how it was asked to send it."""

    id: str
    model: str
    reasoning: bool
    """The model reasons, so the reply has a reasoning field even when ``max_tokens`` left it empty."""
    tokens: tuple[Token, ...]
    tool_call: ToolCall | None
    finish_reason: str
    prompt_tokens: int
    stream: bool
    include_usage: bool
    more_calls: tuple[ToolCall, ...] = ()
    """Calls made in the same turn after ``tool_call`` (parallel tool calls)."""
    cached_tokens: int | None = None
    """Prompt tokens read from the prompt cache, for a model whose catalog prices cache reads (``None``
    otherwise: such usage has no ``prompt_tokens_details``)."""

    @property
    def calls(self) -> tuple[ToolCall, ...]:
        return (self.tool_call, *self.more_calls) if self.tool_call else ()

    def text(self, kind: Kind) -> str:
        return "".join(t.text for t in self.tokens if t.kind == kind)

    def usage(self, completion_tokens: int, faults: frozenset[str] = frozenset()) -> dict[str, Any]:
        """The usage object; ``usage-total-wrong`` counts the prompt twice in the total, ``no-cached-tokens``
        leaves the cached tokens out."""
        prompts = 2 if "usage-total-wrong" in faults else 1
        usage: dict[str, Any] = {
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompts * self.prompt_tokens + completion_tokens,
        }
        if self.cached_tokens is not None and "no-cached-tokens" not in faults:
            usage["prompt_tokens_details"] = {"cached_tokens": self.cached_tokens}
        return usage

    def cached(self, body: dict[str, Any], seen: set[str], models: Models = MODELS) -> Reply:
        """This reply with its cached tokens, for a model of ``models`` that prices cache reads: the whole prompt
        when the same model and messages came before (``seen`` holds their digests; a long prompt is added to it)."""
        if "cache_read" not in models.get(self.model, {}).get("cost", {}):
            return self
        key = hashlib.sha256(json.dumps([self.model, body.get("messages")], sort_keys=True).encode()).hexdigest()
        hit = key in seen
        if self.prompt_tokens >= CACHE_MIN_TOKENS:
            seen.add(key)
        return replace(self, cached_tokens=self.prompt_tokens if hit else 0)


@dataclass(frozen=True)
class Event:
    """One SSE event: a chunk, or a raw payload such as ``[DONE]``. ``token`` events wait for the token clock."""

    data: dict[str, Any] | str
    token: bool = False


def _words(text: str) -> list[str]:
    """``text`` as tokens: each word with its trailing space."""
    return _WORD.findall(text)


def texts(message: dict[str, Any]) -> Iterator[str]:
    """The text a message carries: string content, text parts, and tool-call arguments."""
    content = message.get("content")
    if isinstance(content, str):
        yield content
    elif isinstance(content, list):
        yield from (p["text"] for p in content if isinstance(p, dict) and isinstance(p.get("text"), str))
    calls = message.get("tool_calls")
    for call in calls if isinstance(calls, list) else ():
        function = call.get("function") if isinstance(call, dict) else None
        if isinstance(function, dict) and isinstance(function.get("arguments"), str):
            yield function["arguments"]


def _has_image(messages: list[dict[str, Any]]) -> bool:
    return any(
        isinstance(p, dict) and p.get("type") == "image_url"
        for m in messages
        if isinstance(m.get("content"), list)
        for p in m["content"]
    )


def example(schema: Any, text: str = "example") -> Any:
    """A value that fits a JSON Schema, built the simple way: every property, the first enum value, ``text`` for
    a string."""
    if not isinstance(schema, dict):
        return text
    if schema.get("enum"):
        return schema["enum"][0]
    if "const" in schema:
        return schema["const"]
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    properties = schema.get("properties")
    if kind == "object" or isinstance(properties, dict):
        return {k: example(v, text) for k, v in properties.items()} if isinstance(properties, dict) else {}
    if kind == "array":
        return [example(schema["items"], text)] if isinstance(schema.get("items"), dict) else []
    return {"integer": 1, "number": 1, "boolean": True, "null": None}.get(kind, text)


def _unrefused(body: dict[str, Any], faults: frozenset[str]) -> dict[str, Any]:
    """The body as read: ``accept-missing-messages`` makes up a greeting where ``messages`` is missing."""
    if "accept-missing-messages" in faults and "messages" not in body:
        return {**body, "messages": [{"role": "user", "content": "Say hello."}]}
    return body


def _messages(body: dict[str, Any]) -> list[dict[str, Any]]:
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise APIError(400, "'messages' must be a non-empty array", param="messages", code="missing_required_parameter")
    for index, message in enumerate(messages):
        if not isinstance(message, dict) or message.get("role") not in ROLES:
            raise APIError(400, f"messages[{index}] needs a role, one of {', '.join(ROLES)}", param="messages")
    return messages


def _functions(body: dict[str, Any]) -> list[dict[str, Any]]:
    tools = body.get("tools")
    if tools is None:
        return []
    if not isinstance(tools, list) or not all(
        isinstance(t, dict)
        and t.get("type") == "function"
        and isinstance(t.get("function"), dict)
        and isinstance(t["function"].get("name"), str)
        for t in tools
    ):
        raise APIError(400, "'tools' must be an array of {type: 'function', function: {name, …}}", param="tools")
    return [t["function"] for t in tools]


def _token_limit(body: dict[str, Any], faults: frozenset[str]) -> int | None:
    """The completion-token cap: the smaller of ``max_tokens`` and ``max_completion_tokens`` where given."""
    limits = []
    for field in ("max_tokens", "max_completion_tokens"):
        value = body.get(field)
        if value is None:
            continue
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise APIError(400, f"'{field}' must be a positive integer", param=field, code="invalid_value")
        if not (field == "max_tokens" and "ignore-max-tokens" in faults):
            limits.append(value)
    return min(limits, default=None)


def _subject(name: str) -> frozenset[str]:
    """What a tool is about: the words of its name, less the generic verbs (singular, lower case)."""
    words = (w.lower() for w in _NAME_WORD.findall(name.replace("_", " ").replace("-", " ")))
    return frozenset(w.removesuffix("s") for w in words if len(w) > 2 and w not in _GENERIC_NAME_WORDS)


def _answered(messages: list[dict[str, Any]]) -> frozenset[str]:
    """The functions whose result the conversation already holds (a tool message answers their call)."""
    results = {m.get("tool_call_id") for m in messages if m["role"] == "tool"}
    return frozenset(
        call["function"]["name"]
        for m in messages
        for call in (m.get("tool_calls") if isinstance(m.get("tool_calls"), list) else ())
        if isinstance(call, dict)
        and call.get("id") in results
        and isinstance(call.get("function"), dict)
        and isinstance(call["function"].get("name"), str)
    )


def named_functions(messages: list[dict[str, Any]], functions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The declared functions the last user turn names word for word (``read_file``), in the order it names them,
    less those whose result the conversation already holds: the rest of the plan the user laid out."""
    users = [m for m in messages if m["role"] == "user"]
    text = " ".join(texts(users[-1])) if users else ""
    answered = _answered(messages)
    found = [(m.start(), f) for f in functions if (m := re.search(rf"\b{re.escape(f['name'])}\b", text))]
    return [f for _, f in sorted(found, key=lambda pair: pair[0]) if f["name"] not in answered]


def auto_function(messages: list[dict[str, Any]], functions: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The function ``tool_choice: auto`` calls, deterministically, as a model would: the next tool the last user
    turn names word for word, after the user's turn or a tool result (so a loop of several rounds runs to its
    end); else, when the last turn is the user's and names a declared tool's subject ("weather" for
    ``get_weather``), that tool; when it says "tool", the first. Never one whose result the conversation already
    holds, so a client's tool loop ends."""
    last = messages[-1]
    named = named_functions(messages, functions)
    if named and last["role"] in ("user", "tool"):
        return named[0]
    if last["role"] != "user":
        return None
    text = " ".join(texts(last))
    words = {w.lower().removesuffix("s") for w in _NAME_WORD.findall(text)}
    fresh = [f for f in functions if f["name"] not in _answered(messages)]
    ranked = sorted(fresh, key=lambda f: len(_subject(f["name"]) & words), reverse=True)
    if ranked and _subject(ranked[0]["name"]) & words:
        return ranked[0]
    return fresh[0] if fresh and _TOOL_WORD.search(text) else None


def _chosen_function(body: dict[str, Any], functions: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The function to call, or ``None`` for a text reply (``auto``: see ``auto_function``)."""
    choice = body.get("tool_choice") or "auto"
    if not functions or choice == "none":
        return None
    if choice == "required":
        return functions[0]
    if choice == "auto":
        return auto_function(body["messages"], functions)
    named = choice.get("function") if isinstance(choice, dict) else None
    name = named.get("name") if isinstance(named, dict) else None
    if name is None:
        raise APIError(400, "'tool_choice' must be none, auto, required or a named function", param="tool_choice")
    for function in functions:
        if function["name"] == name:
            return function
    raise APIError(400, f"'tool_choice' names {name!r}, which is not among the tools", param="tool_choice")


def place(messages: list[dict[str, Any]]) -> str | None:
    """The proper name the last user turn asks about ("Paris", "San Francisco"): the last run of capitalised
    words that does not open a sentence, which is what a weather or time tool's argument wants."""
    user = [m for m in messages if m["role"] == "user"]
    names = [
        match.group(1)
        for text in (texts(user[-1]) if user else ())
        for sentence in _SENTENCE.findall(text)
        for match in _PLACE.finditer(sentence.strip())
    ]
    return names[-1] if names else None


def answer_text(messages: list[dict[str, Any]]) -> str:
    """The text reply: the fixed sentence, after the last tool result quoted back when the conversation has one
    (so a client can see the result reached the answer)."""
    results = [" ".join(" ".join(texts(m)).split()) for m in messages if m["role"] == "tool"]
    if not results:
        return _reply_text(messages)
    quoted = results[-1][:READBACK_LIMIT]
    return f"The tool returned {quoted} {REPLY_TEXT}"


def _refuse(
    body: dict[str, Any], messages: list[dict[str, Any]], functions: list[dict[str, Any]], faults: frozenset[str]
) -> None:
    """The refusals the faults add; each looks only at the field it is about."""
    for fault, field in _REFUSED_FIELDS:
        if fault in faults and field in body:
            raise APIError(400, f"Unsupported parameter: '{field}'", param=field, code="unsupported_parameter")
    if "reject-unknown-fields" in faults:
        for field in UNKNOWN_FIELDS:
            if field in body:
                raise APIError(422, f"Extra inputs are not permitted: '{field}'", param=field, code="extra_forbidden")
    if "reject-tool-followup" in faults and any(m["role"] == "tool" for m in messages):
        raise APIError(400, "messages with role 'tool' are not supported", param="messages")
    if "reject-strict-tools" in faults and any(f.get("strict") is True for f in functions):
        raise APIError(400, "'strict' tool definitions are not supported", param="tools")
    if "reject-auto-tool-choice" in faults and functions and (body.get("tool_choice") or "auto") == "auto":
        message = '"auto" tool choice requires --enable-auto-tool-choice and --tool-call-parser to be set'
        raise APIError(400, message)
    if "reject-images" in faults and _has_image(messages):
        raise APIError(400, "image_url content parts are not supported", param="messages")
    _refuse_quirks(body, messages, faults)


def _refuse_quirks(body: dict[str, Any], messages: list[dict[str, Any]], faults: frozenset[str]) -> None:
    """The refusals of fields clients send that real providers refuse, each with that provider's own words."""
    for fault, refused, status, message, where in _QUIRKS:
        if fault in faults and refused(body, messages):
            raise APIError(status, message, **where)


def _parts(messages: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    return (p for m in messages if isinstance(m.get("content"), list) for p in m["content"] if isinstance(p, dict))


_QUIRKS: tuple[tuple[str, Callable[[dict[str, Any], list[dict[str, Any]]], bool], int, str, dict[str, str]], ...] = (
    (
        "reject-developer-role",
        lambda body, messages: any(m["role"] == "developer" for m in messages),
        400,
        "Invalid value: 'developer'. Supported values are: 'system', 'assistant', 'tool' and 'user'.",
        {"code": "invalid_param"},
    ),
    (
        "reject-unstreamed-stream-options",
        lambda body, messages: "stream_options" in body and body.get("stream") is not True,
        400,
        "The 'stream_options' parameter is only allowed when 'stream' is enabled.",
        {"param": "stream_options", "code": "invalid_value"},
    ),
    (
        "reject-reasoning-effort",
        lambda body, messages: "reasoning_effort" in body,
        400,
        "Unrecognized request argument supplied: reasoning_effort",
        {},
    ),
    (
        "reject-system-array",
        lambda body, messages: any(m["role"] == "system" and isinstance(m.get("content"), list) for m in messages),
        400,
        "Invalid type for 'messages[0].content': expected a string, but got an array instead.",
        {"param": "messages[0].content", "code": "invalid_type"},
    ),
    (
        "reject-cache-control",
        lambda body, messages: any("cache_control" in p for p in _parts(messages)),
        422,
        "messages.content.0.cache_control: Extra inputs are not permitted",
        {"param": "messages"},
    ),
    (
        "reject-empty-tools",
        lambda body, messages: body.get("tools") == [],
        400,
        "Invalid 'tools': empty array. Expected an array with minimum length 1, but got an empty array instead.",
        {"param": "tools", "code": "empty_array"},
    ),
    (
        "reject-empty-assistant-content",
        lambda body, messages: any(
            m["role"] == "assistant" and m.get("content") == "" and m.get("tool_calls") for m in messages
        ),
        400,
        "未正常接收到prompt参数。",
        {"code": "1213"},
    ),
    (
        "reject-tool-choice-required",
        lambda body, messages: body.get("tool_choice") == "required",
        400,
        "Thinking mode does not support this tool_choice",
        {"param": "tool_choice"},
    ),
    (
        "reject-named-tool-choice",
        lambda body, messages: isinstance(body.get("tool_choice"), dict),
        400,
        "Invalid tool_choice type: 'object'. Supported string values: none, auto, required",
        {"param": "tool_choice"},
    ),
)
"""Fault, what it refuses, and the status and words of the provider that refuses it that way (see faults.py)."""


def _user_text(messages: list[dict[str, Any]]) -> str:
    users = [m for m in messages if m["role"] == "user"]
    return " ".join(texts(users[-1])) if users else ""


def parallel_functions(
    body: dict[str, Any], functions: list[dict[str, Any]], first: dict[str, Any] | None, faults: frozenset[str]
) -> list[dict[str, Any]]:
    """The functions called in the same turn beside ``first``: the others the user names, when the user asks for
    them at once and ``parallel_tool_calls`` is not false (``ignore-parallel-false`` calls them even then)."""
    if first is None or (body.get("tool_choice") or "auto") != "auto":
        return []
    if not _AT_ONCE.search(_user_text(body["messages"])):
        return []
    if body.get("parallel_tool_calls") is False and "ignore-parallel-false" not in faults:
        return []
    return [f for f in named_functions(body["messages"], functions) if f["name"] != first["name"]]


def _following_tool_ids(messages: list[dict[str, Any]], index: int) -> set[Any]:
    """The tool_call_id of each tool message right after ``messages[index]``."""
    ids = set()
    for message in messages[index + 1 :]:
        if message["role"] != "tool":
            break
        ids.add(message.get("tool_call_id"))
    return ids


def _refuse_history(model: dict[str, Any], messages: list[dict[str, Any]], faults: frozenset[str]) -> None:
    """The refusals of a conversation's history the faults add: reasoning sent back, reasoning not sent back,
    a second tool round, and ids a sloppy proxy rewrote."""
    for index, message in enumerate(messages):
        if message["role"] != "assistant":
            continue
        calls = message.get("tool_calls") if isinstance(message.get("tool_calls"), list) else []
        if "refuse-reasoning-history" in faults and "reasoning_content" in message:
            where = f"messages.{index}.assistant.reasoning_content"
            raise APIError(
                400, f"{where}: property '{where}' is unsupported", param="validation_error", code="wrong_api_format"
            )
        if "demand-reasoning-back" in faults and model["reasoning"] and calls and "reasoning_content" not in message:
            raise APIError(400, REASONING_DEMANDED)
        if "refuse-second-tool-round" in faults and index and messages[index - 1]["role"] == "tool":
            raise APIError(400, ROLES_ALTERNATE)
        if "mangle-tool-ids" in faults and calls:
            ids = [_UNSAFE_ID.sub("_", str(c.get("id"))) for c in calls if isinstance(c, dict)]
            missing = [i for i in ids if i not in _following_tool_ids(messages, index)]
            if missing:
                raise APIError(400, f"{UNANSWERED_CALLS} {', '.join(missing)}", param="messages")


def _reply_text(messages: list[dict[str, Any]]) -> str:
    """The reply: a longer one when the last user turn asks for something long, so that a token limit of the
    size real APIs accept (16 and up) still cuts it."""
    last = messages[-1]
    asks_long = last["role"] == "user" and any(_LONG.search(t) for t in texts(last))
    return " ".join([REPLY_TEXT] * LONG_REPEATS) if asks_long else REPLY_TEXT


def structured(body: dict[str, Any], faults: frozenset[str]) -> str | None:
    """The reply as JSON text fitting ``response_format``'s JSON Schema, when one is asked for (and
    ``ignore-json-schema`` is off)."""
    form = body.get("response_format")
    spec = form.get("json_schema") if isinstance(form, dict) and form.get("type") == "json_schema" else None
    if "ignore-json-schema" in faults or not isinstance(spec, dict) or not isinstance(spec.get("schema"), dict):
        return None
    return json.dumps(example(spec["schema"], REPLY_TEXT))


def _pieces(text: str) -> list[str]:
    return [text[i : i + ARGUMENT_PIECE] for i in range(0, len(text), ARGUMENT_PIECE)]


def _within_context(model: dict[str, Any], prompt_tokens: int, faults: frozenset[str]) -> int:
    """The prompt tokens the reply is built on; a prompt over ``limit.context`` is refused as OpenAI refuses it,
    or (faults) with an opaque 500, or cut silently to what fits and answered (``overflow-truncated``)."""
    context = model["limit"]["context"]
    if prompt_tokens <= context:
        return prompt_tokens
    if "overflow-truncated" in faults:
        return context
    if "overflow-500" in faults:
        raise APIError(500, "Internal server error", type="server_error")
    message = (
        f"This model's maximum context length is {context} tokens. However, your messages resulted in "
        f"{prompt_tokens} tokens. Please reduce the length of the messages."
    )
    raise APIError(400, message, param="messages", code="context_length_exceeded")


def build_reply(body: Any, faults: frozenset[str], models: Models = MODELS) -> Reply:
    """Validate a request body and plan its reply for one of ``models``; a request the provider refuses raises
    ``APIError``."""
    if not isinstance(body, dict):
        raise APIError(400, "the request body must be a JSON object")
    model_id = body.get("model")
    if not isinstance(model_id, str) or not model_id:
        raise APIError(400, "you must provide a model parameter", param="model", code="missing_required_parameter")
    model = models.get(model_id)
    if model is None:
        message = f"The model '{model_id}' does not exist or you do not have access to it."
        if "unknown-model-200" in faults:
            model = MODELS["reference/mini"]
        elif "unknown-model-400" in faults:
            raise APIError(400, message, param="model")
        else:
            raise APIError(404, message, param="model", code="model_not_found")
    messages = _messages(_unrefused(body, faults))
    stream, stream_options = body.get("stream") or False, body.get("stream_options") or {}
    if not isinstance(stream, bool):
        raise APIError(400, "'stream' must be a boolean", param="stream")
    if not isinstance(stream_options, dict):
        raise APIError(400, "'stream_options' must be an object", param="stream_options")
    functions = _functions(body)
    limit = _token_limit(body, faults)
    _refuse(body, messages, functions, faults)
    _refuse_history(model, messages, faults)
    if _has_image(messages) and "image" not in model["modalities"]["input"]:
        raise APIError(400, f"{model_id} does not accept image input", param="messages", code="invalid_value")
    function = _chosen_function(body, functions)

    prompt_tokens = _within_context(
        model, len(messages) + sum(len(t.split()) for m in messages for t in texts(m)), faults
    )
    digest = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()
    planned = [Token("reasoning", w) for w in _words(REASONING_TEXT)] if model["reasoning"] else []
    calls: list[ToolCall] = []
    if function:
        for n, chosen in enumerate([function, *parallel_functions(body, functions, function, faults)]):
            example_arguments = example(chosen.get("parameters"), place(messages) or "example")
            arguments = json.dumps(example_arguments if isinstance(example_arguments, dict) else {})
            call = ToolCall(f"call_{digest[24:48]}" + (f"_{n}" if n else ""), chosen["name"], arguments)
            calls.append(call)
            planned += [Token("tool_name", call.name, n), *(Token("tool_args", p, n) for p in _pieces(call.arguments))]
    else:
        planned += [Token("content", TEMPLATE_LEAK)] if "template-token-leak" in faults else []
        planned += [Token("content", w) for w in _words(structured(body, faults) or answer_text(messages))]
    cut = limit is not None and limit < len(planned)
    return Reply(
        id=f"chatcmpl-ref-{digest[:24]}",
        model=model_id,
        reasoning=model["reasoning"],
        tokens=tuple(planned[:limit] if cut else planned),
        tool_call=calls[0] if calls else None,
        finish_reason="length" if cut else "tool_calls" if calls else "stop",
        prompt_tokens=prompt_tokens,
        stream=stream,
        include_usage=stream_options.get("include_usage") is True,
        more_calls=tuple(calls[1:]),
    )


def _reasoning_field(faults: frozenset[str]) -> str:
    return "reasoning" if "reasoning-field-only" in faults else "reasoning_content"


def _arguments(call: ToolCall, text: str, faults: frozenset[str]) -> str | dict[str, Any]:
    """The arguments as sent: the JSON ``text`` the tokens carry, or (``tool-args-object``) the whole object."""
    return json.loads(call.arguments) if "tool-args-object" in faults else text


def completion_body(reply: Reply, faults: frozenset[str], created: int) -> dict[str, Any]:
    """The non-streaming ``chat.completion`` object."""
    message: dict[str, Any] = {"role": "assistant", "content": None if reply.tool_call else reply.text("content")}
    if reply.reasoning:
        message[_reasoning_field(faults)] = reply.text("reasoning")
    made = [
        {
            "id": call.id,
            "type": "function",
            "function": {"name": call.name, "arguments": _arguments(call, text, faults)},
        }
        for n, call in enumerate(reply.calls)
        if any(t.kind == "tool_name" and t.call == n for t in reply.tokens)
        for text in ["".join(t.text for t in reply.tokens if t.kind == "tool_args" and t.call == n)]
    ]
    if made:
        message["tool_calls"] = made
    finish_reason = reply.finish_reason
    if finish_reason == "stop" and "bad-finish-reason" in faults:
        finish_reason = "eos"
    body = {
        "id": reply.id,
        "object": "chat.completion",
        "created": created,
        "model": reply.model,
        "choices": [{"index": 0, "message": message, "finish_reason": finish_reason}],
    }
    if "no-usage" not in faults:
        body["usage"] = reply.usage(len(reply.tokens), faults)
    return body


def _delta(token: Token, reply: Reply, faults: frozenset[str]) -> dict[str, Any]:
    if token.kind == "content":
        return {"content": token.text}
    if token.kind == "reasoning":
        return {_reasoning_field(faults): token.text}
    call = reply.calls[token.call]
    fragment: dict[str, Any] = {"index": 0 if "parallel-same-index" in faults else token.call}
    if token.kind == "tool_name":
        fragment |= {"id": call.id, "type": "function"}
        fragment["function"] = {"name": call.name, "arguments": _arguments(call, "", faults)}
    elif "tool-repeated-name" in faults:
        fragment["function"] = {"name": call.name, "arguments": token.text}
    else:
        fragment["function"] = {"arguments": token.text}
    if "tool-no-index" in faults:
        del fragment["index"]
    return {"tool_calls": [fragment]}


def _split_character(delta: dict[str, Any]) -> list[dict[str, Any]]:
    """``utf8-split``: a content delta with a multi-byte character sent as two, cut inside that character's
    bytes and each half decoded on its own, as a server that detokenises byte pieces one by one does: each half
    becomes U+FFFD."""
    text = delta.get("content")
    if not isinstance(text, str) or text.isascii():
        return [delta]
    first = next(i for i, c in enumerate(text) if not c.isascii())
    cut = len(text[:first].encode()) + 1  # one byte into the character
    raw = text.encode()
    return [{"content": raw[:cut].decode(errors="replace")}, {"content": raw[cut:].decode(errors="replace")}]


def stream_events(reply: Reply, faults: frozenset[str], created: int) -> list[Event]:
    """The events of a stream: the role chunk, one chunk per token, the finish chunk, the usage chunk when
    asked for, and ``[DONE]``. Events a fault adds mid-stream come right after the role chunk, so they are
    there even when another fault leaves no token."""
    tokens = reply.tokens
    if "role-only-stream" in faults:
        tokens = tuple(t for t in tokens if t.kind in ("tool_name", "tool_args"))
    if "tool-args-object" in faults:
        tokens = tuple(t for t in tokens if t.kind != "tool_args")
    if "cut-mid-stream" in faults:
        tokens = tokens[: len(tokens) // 2]
    head = {"object": "chat.completion.chunk", "created": created, "model": reply.model}
    deltas = [{"role": "assistant", "content": ""}, *(_delta(t, reply, faults) for t in tokens)]
    if "utf8-split" in faults:
        deltas = [piece for delta in deltas for piece in _split_character(delta)]
    id_changes_at = max(1, len(deltas) // 2) if "chunk-id-changes" in faults else math.inf

    def chunk(position: int, choices: list[dict[str, Any]]) -> dict[str, Any]:
        return {"id": reply.id if position < id_changes_at else f"{reply.id}-2", **head, "choices": choices}

    def choice_chunk(position: int, delta: dict[str, Any], finish_reason: str | None, emitted: int) -> dict[str, Any]:
        choice = {"index": 0, "delta": delta, "finish_reason": finish_reason}
        if finish_reason is None and "finish-reason-missing" in faults:
            del choice["finish_reason"]
        data = chunk(position, [choice])
        return data | {"usage": reply.usage(emitted, faults)} if "usage-every-chunk" in faults else data

    unfinished = "" if "empty-finish-reason" in faults else None
    events = []
    for position, delta in enumerate(deltas):
        events.append(Event(choice_chunk(position, delta, unfinished, position), token=position > 0))
        if position == 0 and "chunk-without-choices" in faults:
            events.append(Event({"id": reply.id, **head}))
        if position == 0 and "keepalive-non-json" in faults:
            events.append(Event("keepalive"))
        if position == 0 and "empty-data-event" in faults:
            events.append(Event(""))
    if "cut-mid-stream" in faults:
        return events
    events.append(Event(choice_chunk(len(deltas), {}, reply.finish_reason, len(tokens))))
    if reply.include_usage and "no-usage" not in faults:
        events.append(Event(chunk(len(deltas) + 1, []) | {"usage": reply.usage(len(tokens), faults)}))
    if "missing-done" not in faults:
        events.append(Event("[DONE]"))
    return events
