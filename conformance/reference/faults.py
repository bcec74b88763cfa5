"""The reference provider's named faults: one table, so every check can be shown failing against a known cause.

Each fault changes one behaviour as narrowly as it can (``reject-temperature`` touches only requests that carry
``temperature``), so switching one on should fail the checks it names and leave the others passing. Faults
compose: the server consults each one where it applies, and several at once simply stack.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from conformance.errors import UsageError


@dataclass(frozen=True)
class Fault:
    """One way the reference provider can be told to misbehave."""

    name: str
    breaks: tuple[str, ...]
    """The check IDs this fault is meant to make fail or warn (empty for a fault that shows a passing case)."""
    description: str
    """One line: what the server does wrong."""


REFUSED = (
    "LST-001",
    "LST-004",
    "CC-001",
    "CC-003",
    "CC-004",
    "CC-005",
    "CC-006",
    "CC-007",
    "CC-008",
    "CS-001",
    "CT-001",
    "CT-002",
    "CT-003",
    "CT-004",
    "CV-001",
    "CV-002",
    "CV-006",
    "IM-001",
    "LAT-002",
    "RS-001",
    "RS-002",
    "RS-003",
    "RS-005",
    "RS-006",
    "RS-007",
    "RS-008",
    "RS-009",
    "AN-001",
    "AN-002",
    "AN-003",
    "GG-001",
    "GG-002",
    "GG-003",
    "GG-004",
    "GG-005",
    "GG-007",
    "GG-008",
)
"""What ``refuse-everything`` fails or warns; every other live check skips, having nothing to look at."""


def _table(*rows: tuple[str, tuple[str, ...], str]) -> dict[str, Fault]:
    return {name: Fault(name, breaks, description) for name, breaks, description in rows}


FAULTS: dict[str, Fault] = _table(
    # the hosted manifest
    ("manifest-html", ("MAN-001",), "the manifest is served as a text/html page"),
    (
        "cross-origin-baseurl",
        ("MAN-010",),
        "the manifest's baseUrl uses the other loopback spelling (localhost for 127.0.0.1), so it works "
        "but is another origin",
    ),
    # a models.dev catalog as the model source (the first is a passing variant the others build on)
    (
        "models-dev-source",
        (),
        "the manifest says models_data_source models_dev; the models come from the catalog at /api.json "
        "(a passing variant)",
    ),
    ("models-dev-missing-provider", ("MDV-001",), "models.dev source, but /api.json lacks the provider"),
    ("models-dev-no-models", ("MDV-002",), "models.dev source, but the provider lists no model"),
    (
        "models-dev-api-mismatch",
        ("MDV-003",),
        "models.dev source, but the provider's api is not the manifest's baseUrl",
    ),
    # the extended model list
    ("models-as-list", ("EXT-002",), 'extended models are served as an OpenAI {"object": "list", "data": [...]}'),
    ("extended-models-500", ("EXT-001", "LAT-001"), "GET /v1/models?extended=true answers 500"),
    ("empty-models", ("EXT-002",), "extended models list no model at all"),
    ("null-cost", ("EXT-003",), "reference/mini has `cost: null`"),
    ("string-numbers", ("EXT-003",), 'reference/coder has `limit.context: "128000"`, a string'),
    # the OpenAI model list and URL handling
    ("bare-array-models", ("LST-001",), "GET /v1/models returns a bare JSON array"),
    ("model-list-no-object", ("LST-001",), 'GET /v1/models leaves out "object": "list" (its data array is intact)'),
    ("model-entry-without-id", ("LST-001",), "GET /v1/models lists one more entry, which has a name and no id"),
    (
        "model-list-no-data",
        ("LST-001",),
        'GET /v1/models calls its array "models": {"object": "list", "models": [...]}',
    ),
    ("model-list-html", ("LST-001",), "GET /v1/models answers 200 with an HTML page (a sign-in page), not JSON"),
    ("model-entry-no-object", ("LST-001",), 'the entries of GET /v1/models leave out "object": "model" (ids intact)'),
    (
        "model-list-forbidden",
        ("LST-001",),
        'GET /v1/models answers 403 "… Missing scopes: api.model.read." to the key chat accepts (a key that may '
        "not list models)",
    ),
    ("missing-model-in-list", ("LST-002",), "GET /v1/models omits reference/mini"),
    ("no-slash-tolerance", ("LST-003",), "paths with a trailing or doubled slash (/v1/, /v1//models) give 404"),
    ("html-404", ("LST-004",), "unknown paths give an HTML 404 page"),
    # chat completions, non-streaming
    ("bad-finish-reason", ("CC-001",), 'non-streaming text replies end with finish_reason "eos" instead of "stop"'),
    ("no-usage", ("CC-002", "CS-005"), "no usage anywhere: not in replies, no usage chunk in streams"),
    ("ignore-max-tokens", ("CC-003",), 'max_tokens is ignored: the full reply, finish_reason "stop"'),
    ("reject-max-tokens", ("CC-003", "CC-005", "CC-008"), "400 when max_tokens is present"),
    ("reject-max-completion-tokens", ("CC-004",), "400 when max_completion_tokens is present"),
    ("reject-stream-options", ("CC-005", "CC-006", "CC-008"), "400 when stream_options is present"),
    ("reject-unknown-fields", ("CC-006", "CC-008", "CV-006"), "422 when user, store or parallel_tool_calls is present"),
    ("reject-temperature", ("CC-007", "CC-008"), "400 when temperature is present"),
    # chat completions, streaming
    ("wrong-content-type", ("CS-001",), "streams are served with Content-Type: application/json"),
    ("multiline-data", ("CS-001",), "each JSON chunk is split over two data: lines"),
    ("chunk-without-choices", ("CS-002",), 'one extra chunk mid-stream has no "choices"'),
    ("chunk-id-changes", ("CS-002",), "the chunk id changes halfway through the stream"),
    ("empty-finish-reason", ("CS-003",), 'finish_reason is "" instead of null on the chunks before the last'),
    ("missing-done", ("CS-004",), "the stream ends without data: [DONE]"),
    ("usage-every-chunk", ("CS-005",), "every chunk carries usage, counted cumulatively"),
    ("keepalive-non-json", ("CS-006",), "a non-JSON data: keepalive event arrives mid-stream"),
    ("empty-data-event", ("CS-009",), "an event with empty data (data: and a blank line) arrives mid-stream"),
    (
        "cut-mid-stream",
        ("CS-004", "CS-007"),
        "the stream stops halfway through the reply with no finish_reason, error or [DONE]; the connection closes",
    ),
    (
        "role-only-stream",
        ("CS-008", "LAT-002"),
        "text streams carry only the role chunk, the finish chunk and [DONE]: no text or reasoning to measure",
    ),
    # tools
    ("tool-args-object", ("CT-001", "CT-002"), "tool-call arguments are a JSON object, not a string"),
    ("tool-no-index", ("CT-002",), "streamed tool-call fragments have no index"),
    ("tool-repeated-name", ("CT-002",), "every streamed tool-call fragment repeats function.name"),
    ("reject-tool-followup", ("CT-003",), "400 when a tool message is present"),
    ("reject-strict-tools", ("CT-004", "CC-008"), "400 when a tool definition has strict: true"),
    # request quirks: fields clients send that real providers refuse, each refused in that provider's words
    (
        "reject-developer-role",
        ("CC-010",),
        "400 \"Invalid value: 'developer'. Supported values are: …\" when a message has role developer (as "
        "reported in cline/cline #2364)",
    ),
    (
        "reject-unstreamed-stream-options",
        ("CC-011",),
        "400 \"The 'stream_options' parameter is only allowed when 'stream' is enabled.\" on a non-streamed request "
        "with stream_options (OpenAI's own answer)",
    ),
    ("ignore-json-schema", ("CC-012",), 'response_format {type: "json_schema"} is ignored: the reply is prose'),
    (
        "reject-reasoning-effort",
        ("CC-013",),
        '400 "Unrecognized request argument supplied: reasoning_effort" when reasoning_effort is present',
    ),
    (
        "reject-system-array",
        ("CC-014",),
        "400 \"Invalid type for 'messages[0].content': expected a string, but got an array instead.\" when a system "
        "message's content is an array (Azure OpenAI, danny-avila/LibreChat #3111)",
    ),
    (
        "reject-cache-control",
        ("CC-014",),
        '422 "…cache_control: Extra inputs are not permitted" when a content part carries cache_control',
    ),
    (
        "reject-empty-tools",
        ("CC-015", "CC-008"),
        "400 empty_array \"Invalid 'tools': empty array …\" on tools: [] (OpenAI's own answer; vLLM since #39780)",
    ),
    (
        "reject-empty-assistant-content",
        ("CT-005",),
        '400 code 1213 (GLM-5\'s "prompt not received") when an assistant message has content "" beside tool_calls',
    ),
    (
        "reject-tool-choice-required",
        ("CT-001", "CT-002", "CT-006"),
        '400 "Thinking mode does not support this tool_choice" on tool_choice "required" (DeepSeek in thinking mode)',
    ),
    (
        "reject-named-tool-choice",
        ("CT-007",),
        "400 \"Invalid tool_choice type: 'object'…\" on a named function tool_choice (LM Studio)",
    ),
    # reasoning and content
    (
        "reasoning-field-only",
        ("CX-001", "CX-003"),
        "reasoning arrives in a `reasoning` field instead of reasoning_content (the field the catalog names)",
    ),
    ("template-token-leak", ("CX-002",), "the reply text starts with the chat-template token <|im_start|>assistant"),
    # agent conversations: history over several rounds, reasoning carried back, parallel calls
    (
        "refuse-second-tool-round",
        ("CV-001",),
        '400 "Conversation roles must alternate user/assistant/..." (a chat template\'s error) for an assistant '
        "message right after a tool message: a tool loop breaks at its third round",
    ),
    (
        "mangle-tool-ids",
        ("CV-002",),
        "the ids of assistant tool_calls in history are rewritten to [A-Za-z0-9_-] (functions.read_file:0 becomes "
        "functions_read_file_0) while tool messages keep theirs: 400, the calls have no answer",
    ),
    (
        "refuse-reasoning-history",
        ("CV-003",),
        '400 "messages.N.assistant.reasoning_content: property … is unsupported" for reasoning_content in history '
        "(Cerebras: Kilo-Org/kilocode #10375)",
    ),
    (
        "demand-reasoning-back",
        ("CV-004",),
        'for the reasoning model, 400 "The reasoning_content in the thinking mode must be passed back to the API." '
        "for an assistant tool-call message without reasoning_content (DeepSeek)",
    ),
    ("parallel-same-index", ("CV-005",), "streamed parallel tool calls all carry index 0"),
    ("ignore-parallel-false", ("CV-007",), "parallel_tool_calls: false is ignored: two calls come in one turn"),
    # images
    ("reject-images", ("IM-001",), "400 when a message has an image_url part"),
    # errors
    ("no-auth-check", ("CE-001",), "any API key, or none, is accepted"),
    ("403-not-401", ("CE-005",), "a wrong or missing API key gets 403 instead of 401"),
    ("html-errors", ("CE-001", "CE-002", "CE-003", "CE-008"), "chat-completion errors are text/html pages"),
    ("error-200", ("CE-001", "CE-002", "CE-003", "CE-008"), "chat-completion errors are sent with HTTP status 200"),
    ("unknown-model-200", ("CE-002",), "an unknown model is answered 200, as if it were reference/mini"),
    ("unknown-model-400", ("CE-006",), "an unknown model gets 400 with no code instead of 404 model_not_found"),
    ("malformed-json-500", ("CE-003",), "a malformed JSON body gets 500 instead of 400"),
    (
        "rate-limit",
        (),
        "the first authorised request for a reply (chat completion, response, message or generation) of the "
        "server's life gets 429 with Retry-After: 1 (a passing CE-004)",
    ),
    ("rate-limit-no-retry-after", ("CE-004",), "the same first-request 429, without Retry-After"),
    # the Responses API (POST /v1/responses)
    (
        "responses-wrong-object",
        ("RS-001",),
        'non-streamed responses say object "chat.completion" and have no status',
    ),
    ("responses-no-usage", ("RS-001",), "responses have no usage, neither non-streamed nor in response.completed"),
    ("responses-no-event-lines", ("RS-002",), "streamed Responses events have data: lines only, no event: lines"),
    ("responses-no-sequence", ("RS-002",), "streamed Responses events have no sequence_number"),
    (
        "responses-bad-order",
        ("RS-002",),
        "the first output_text.delta (or function_call_arguments.delta) comes before response.output_item.added",
    ),
    (
        "responses-no-completed",
        ("RS-002", "RS-003", "RS-004"),
        "Responses streams end after response.output_item.done, with no terminal event",
    ),
    (
        "responses-args-object",
        ("RS-003",),
        "function_call arguments are a JSON object, not a string (streamed with no arguments deltas)",
    ),
    ("responses-reject-function-output", ("RS-003",), "400 when an input item is a function_call_output"),
    (
        "responses-silent-failure",
        ("RS-002", "RS-003", "RS-004"),
        "Responses streams stop halfway through the reply with no response.failed or error event",
    ),
    # the Messages API (POST /v1/messages)
    ("messages-wrong-type", ("AN-001",), 'non-streamed messages say type "chat.completion" and have no stop_reason'),
    ("messages-no-usage", ("AN-001",), "non-streamed messages have no usage"),
    (
        "messages-event-mismatch",
        ("AN-002",),
        "content_block_delta events are sent as event: delta, a name that differs from their data type",
    ),
    ("messages-bad-order", ("AN-002",), "message_stop comes before message_delta"),
    ("messages-done-marker", ("AN-002",), "Messages streams end with a data: [DONE] after message_stop"),
    (
        "messages-tool-input-whole",
        ("AN-003",),
        "a streamed tool_use block carries its whole input in content_block_start, with no input_json_delta",
    ),
    ("messages-no-tool-use", ("AN-003",), 'tool requests are answered with text and stop_reason "end_turn"'),
    (
        "messages-openai-errors",
        ("AN-004",),
        'Messages errors are OpenAI {"error": {...}} objects, without "type": "error"',
    ),
    # shapes real servers were seen to have, where a finding must name the right cause and show it
    (
        "finish-reason-missing",
        ("CS-003",),
        "streamed chunks before the last leave the finish_reason key out instead of sending null",
    ),
    (
        "responses-completed-incomplete",
        ("RS-004",),
        'a Responses stream cut at max_output_tokens ends in response.completed with status "incomplete" '
        "instead of response.incomplete",
    ),
    (
        "responses-error-stream",
        ("RS-002", "RS-003", "RS-004", "RS-006", "RS-009"),
        'streamed Responses requests get 500 with an event stream holding a Chat Completions {"error": …} and '
        "[DONE], no Responses error event (LiteLLM)",
    ),
    (
        "messages-stream-as-json",
        ("AN-002", "AN-003"),
        "streamed Messages requests are answered with the whole message as one JSON body, not events (LiteLLM)",
    ),
    (
        "reject-auto-tool-choice",
        ("CC-006", "CT-003", "CT-004", "CT-005", "CC-008", "CV-001", "CV-002", "CV-006"),
        'tools with tool_choice "auto" (or none named) get 400 ""auto" tool choice requires '
        '--enable-auto-tool-choice …", as vLLM answers when started without it',
    ),
    (
        "messages-bearer-only",
        ("AN-001",),
        "POST /v1/messages takes the key only as Authorization: Bearer and refuses x-api-key with 401",
    ),
    (
        "drop-after-error",
        (),
        "after an error response, the next request on that kept-alive connection is dropped unanswered (a "
        "passing variant: the suite sends such a request again on a new connection)",
    ),
    (
        "refuse-everything",
        REFUSED,
        "every API request is refused with an error body (500 for GET, 400 for POST); only the manifest, the "
        "extended model list and /api.json are served",
    ),
    # hostile servers: each must end in a finding within the suite's bounds, with no key in any output
    ("huge-body", ("LST-001",), "GET /v1/models sends a body of a gigabyte"),
    ("gzip-bomb", ("LST-001",), "GET /v1/models sends a gzip body of ~300 KB that decodes to 256 MiB"),
    ("never-answer", ("LST-001",), "GET /v1/models accepts the connection and never sends a byte"),
    ("slow-drip", ("CC-001",), "non-streamed chat replies arrive one byte a second"),
    ("endless-stream", ("CS-004",), "streamed replies never end: the same token chunk, forever"),
    ("reset-mid-stream", ("CS-004",), "streamed replies stop halfway with the connection dropped"),
    ("invalid-utf8", ("LST-001",), "GET /v1/models sends bytes that are not UTF-8"),
    ("deep-json", ("EXT-001",), "the extended model list is an array nested a million levels deep"),
    ("nan-in-models", ("EXT-001",), "the extended model list has NaN for a price"),
    ("duplicate-keys", ("JSON-001",), 'the extended model list repeats the "id" key in a model'),
    ("redirect-other-origin", ("CC-001",), "chat completions answer 307 to the other loopback name (another origin)"),
    (
        "echo-key",
        (),
        "error bodies and an X-Echo-Authorization header repeat the caller's Authorization header, plain and "
        "URL-encoded (the key must stay masked in every output)",
    ),
    # the Gemini API (GET /v1beta/models, POST …/models/{model}:generateContent, :streamGenerateContent)
    (
        "gemini-models-openai-list",
        ("GG-001",),
        'GET /v1beta/models answers an OpenAI {"object": "list", "data": [...]} instead of {"models": [...]}',
    ),
    ("gemini-finish-lowercase", ("GG-002", "GG-003"), 'finishReason is "stop" instead of the enum value "STOP"'),
    ("gemini-no-usage", ("GG-002", "GG-003"), "no usageMetadata, neither in replies nor in streams"),
    ("gemini-no-alt-sse", ("GG-003",), "streamGenerateContent ignores alt=sse and answers one JSON array"),
    ("gemini-stream-usage-first", ("GG-003",), "the stream's usageMetadata comes on its first chunk, not its last"),
    ("gemini-stream-done-marker", ("GG-003",), "streams end with OpenAI's data: [DONE] after the last chunk"),
    ("gemini-args-string", ("GG-004",), "functionCall.args is a JSON string, not an object"),
    ("gemini-reject-function-response", ("GG-004",), "400 when a functionResponse part is sent back"),
    ("gemini-thoughts-as-text", ("GG-005",), "thoughts arrive as plain text parts, without thought: true"),
    (
        "gemini-openai-errors",
        ("GG-006",),
        'Gemini errors are OpenAI {"error": {message, type, param, code}} objects, without status',
    ),
    ("gemini-no-vertex-path", ("GG-007",), "the Vertex-style path …/publishers/{p}/models/{m}:method gives 404"),
    ("gemini-v1beta-only", ("GG-008",), "the Gemini API is served under /v1beta only: /v1/models/{m}:method gives 404"),
    # what the outside suites (Open Responses compliance, openai_test) check and the rows above do not
    (
        "usage-total-wrong",
        ("CC-009",),
        "usage.total_tokens counts the prompt twice: twice prompt_tokens + completion_tokens",
    ),
    ("accept-missing-messages", ("CE-007",), "a chat request without messages is answered 200, as if it said hello"),
    (
        "buffered-stream",
        ("CS-010",),
        "every stream is held back until the whole reply is ready and at least 3 s have passed, then sent at once",
    ),
    (
        "responses-sparse-object",
        ("RS-005", "RS-009"),
        "responses lack completed_at, truncation, text, top_p, temperature, store and the other parameters the "
        "specification requires, and echoed tools lack strict",
    ),
    (
        "responses-event-fields-missing",
        ("RS-006", "RS-009"),
        "streamed output_text and function_call_arguments events lack item_id, output_index and content_index",
    ),
    ("responses-no-compact", ("RS-007",), "POST /v1/responses/compact is an unknown path (404)"),
    ("responses-reject-phase", ("RS-008",), "400 when an input message carries phase (commentary, final_answer)"),
    # context, encoding and caching
    (
        "overflow-500",
        ("CE-008",),
        'a prompt over the model\'s limit.context gets 500 "Internal server error", no code: no client knows to '
        "compact",
    ),
    (
        "overflow-truncated",
        ("CE-008",),
        "a prompt over the model's limit.context is cut silently to what fits and answered 200 (Ollama's num_ctx)",
    ),
    (
        "utf8-split",
        ("CS-011",),
        "a streamed multi-byte character is cut inside its bytes across two chunks, each half sent as U+FFFD",
    ),
    (
        "no-cached-tokens",
        ("CC-016",),
        "usage has no prompt_tokens_details.cached_tokens, although the catalog prices cache reads (reference/coder)",
    ),
    (
        "interleaved-field-mismatch",
        ("CX-003",),
        "the catalog's interleaved.field for reference/coder is reasoning_details; the wire sends reasoning_content",
    ),
)

_SEPARATORS = re.compile(r"[\s,]+")


def known_faults(names: Iterable[str]) -> frozenset[str]:
    """``names`` as a set, if every one is in ``FAULTS``; otherwise a usage error naming the first unknown one."""
    names = frozenset(names)
    unknown = sorted(names - FAULTS.keys())
    if unknown:
        raise UsageError(f"unknown fault {unknown[0]!r}; known faults: {', '.join(FAULTS)}")
    return names


def parse_faults(text: str | None) -> frozenset[str]:
    """Fault names from ``"a,b"`` (commas and spaces both separate; ``None`` or ``""`` is none)."""
    return known_faults(n for n in _SEPARATORS.split(text or "") if n)
