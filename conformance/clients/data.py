"""The profiled clients, as data: who each is, what it sends, and how its real library reacts to each deviation,
every fact with its source (``../shared/spec/clients.md`` gathers them; it names the files read).

Reactions are keyed by deviation key (``CHECK-ID`` or ``CHECK-ID:deviation``). A reaction marked "measured" comes
from driving the client's real library against the reference provider's fault named beside it, one agent turn
(streamed text, a tool call, a tool-result follow-up); a key a client has no reaction for is unverified.
"""

from __future__ import annotations

from conformance.clients.model import Client, Fact, Reaction, Request

KILO_LIB = "ai 6.0.168 + @ai-sdk/openai-compatible 2.0.48 (npm)"
ROO_LIB = "openai 6.49.0 (npm)"
CLINE_LIB = "openai 6.49.0 (npm)"
KIMI_LIB = "kosong 0.56.0 (PyPI)"
CODEX_LIB = "openai 2.14.0 (PyPI, Responses stream)"
CLAUDE_LIB = "anthropic 2.15.0 (PyPI)"
KIMI_GEMINI_LIB = "kosong 0.56.0 GoogleGenAI + google-genai 3.6.1 (PyPI)"
CLIENTS_MD = "../shared/spec/clients.md"
TRUTH = "tests/test_client_truth.py"
CHAT_RAN = ("CC-*", "CS-*", "CT-*")
"""What must have run for a chat client's verdict to mean anything: a model list alone says nothing of a turn."""
CHAT_CHECKS = ("LST-*", "CC-00[1-467]", "CC-01[0-5]", "CS-*", "CT-*", "CX-*", "CV-*", "IM-*", "CE-*")
"""What a chat client's verdict looks at: the chat API as that client speaks it (CC-005 is the Provider Defined
client's own request; the other clients' requests are CC-008)."""
PD = "mcowger/kilocode@abb5d48 src/api/providers/fetchers/provider-defined.ts"


def _measured(library: str, fault: str) -> str:
    return f"measured: {TRUTH} with {library}, reference fault {fault}"


B, D, W = "breaks", "degraded", "unaffected"

CHAT_MEASURED: dict[str, tuple[str, str, str, str, str]] = {
    # deviation key: (the reference fault that shows it alone, Kilo v7, Roo, Cline, Kimi)
    "CC-003:ignored": ("ignore-max-tokens", W, W, W, W),
    "CC-003:refused": ("reject-max-tokens", B, W, B, W),
    "CC-004:refused": ("reject-max-completion-tokens", W, W, W, W),
    "CC-007:refused": ("reject-temperature", W, B, W, W),
    "CS-001:content-type": ("wrong-content-type", W, W, W, W),
    "CS-001:multiline-data": ("multiline-data", W, W, W, W),
    "CS-002:chunk-without-choices": ("chunk-without-choices", B, W, W, W),
    "CS-002:chunk-id-changes": ("chunk-id-changes", W, W, W, W),
    "CS-003:empty-string": ("empty-finish-reason", W, W, W, W),
    "CS-003:no-finish-reason": ("cut-mid-stream", D, D, D, B),
    "CS-004:no-done": ("missing-done", W, W, W, W),
    "CS-004:not-closed": ("reset-mid-stream", B, B, B, B),
    "CS-005:no-usage": ("no-usage", D, D, D, D),
    "CS-005:repeated-usage": ("usage-every-chunk", W, W, W, W),
    "CS-006": ("keepalive-non-json", B, B, B, B),
    "CS-007": ("missing-done", W, W, W, W),
    "CS-008": ("role-only-stream", D, D, D, B),
    "CS-009": ("empty-data-event", B, B, B, B),
    "CS-011": ("utf8-split", D, D, D, D),
    "CT-001:args-object": ("tool-args-object", B, D, D, B),
    "CT-002:args-object": ("tool-args-object", B, D, D, B),
    "CT-002:no-tool-call": ("cut-mid-stream", D, D, D, B),
    "CT-002:no-index": ("tool-no-index", B, W, W, W),
    "CT-002:repeated-name": ("tool-repeated-name", W, W, W, D),
    "CT-003:refused": ("reject-tool-followup", B, B, B, B),
    "CT-004:refused": ("reject-strict-tools", W, B, W, W),
    "CT-005:refused": ("reject-empty-assistant-content", W, B, W, W),
    "CC-015:refused": ("reject-empty-tools", W, W, W, B),
    "CX-001": ("reasoning-field-only", W, D, D, W),
    "CX-002": ("template-token-leak", D, D, D, D),
    "CV-003:refused": ("refuse-reasoning-history", B, W, W, W),
    "CV-004:demanded": ("demand-reasoning-back", W, B, B, B),
    "CV-006:refused": ("reject-unknown-fields", W, B, B, W),
    "CE-004": ("rate-limit-no-retry-after", W, W, W, W),
}
"""Measured: one agent turn through each chat client's real library against the reference fault named, which
produces that deviation alone. A deviation no fault produces alone (a refused streamed request, CS-001:refused,
comes with the refusal of a field some clients send and others do not) is left unverified."""


DISCOVER_STEP = f"measured: {TRUTH} and tests/test_real_clients.py, the kilo-code driver's discover step"
KILO_DISCOVERY: dict[str, tuple[str, str]] = {
    # LST-001 deviation: (what shipping Kilo's model discovery makes of it, the reference fault that shows it alone)
    "bare-array": (D, "bare-array-models"),
    "not-utf8": (D, "invalid-utf8"),
    "unreadable": (D, "huge-body, gzip-bomb"),
    "refused": (D, "refuse-everything"),
    "wrong-object": (W, "model-list-no-object"),
    "entry-without-id": (W, "model-entry-without-id"),
    "entry-object": (W, "model-entry-no-object"),
    "no-data": (D, "model-list-no-data"),
    "not-json": (D, "model-list-html"),
    "unauthorized": (D, "model-list-forbidden"),
}
"""Measured: the kilo-code driver's discover step (Kilo's GET new URL("models", baseURL + "/"), read as Kilo reads
it) against each fault. Kilo catches every discovery failure and keeps the models the user configured, adding a
discovered id only where no configured model has it (Kilo-Org/kilocode provider.ts @00e3a1a, discoveryLoaders):
a list it cannot read loses the picker's models, never the turn, so it degrades Kilo and does not break it. (A
user who configured no model at all and relied on discovery has no model then; the verdict speaks of the turn.)
``unreadable`` is measured up to the driver's bound (32 MiB, the suite's default): Kilo reads a body whole, so
past that bound whether it survives a gigabyte is unverified. ``refused`` shows alone in the discover step;
refuse-everything refuses the turn too. ``unauthorized`` is a key that may chat but not list models: Kilo sends the
turn's own key to both, and only the list is refused (measured with a 403; a 401 takes the same ``!response.ok``
branch, Kilo-Org/kilocode packages/opencode/src/kilocode/provider/discover-models.ts
@d22f4e4)."""


SETUP = {
    f"{holder}:{cause}": Reaction(B, source)
    for cause, holders, source in (
        (
            "key-refused",
            ("CC-001", "RS-001"),
            "measured: tests/test_real_clients.py (a refused key: each driver's turn fails with the 401)",
        ),
        (
            "no-key",
            ("LST-001", "CC-001", "RS-001"),
            "measured: tests/test_real_clients.py (a refused key: each driver's turn fails with the 401); a turn "
            "sent without the key the endpoint wants is refused the same way",
        ),
        (
            "unreachable",
            ("LST-001",),
            "read: the clients' HTTP libraries raise on a connection they cannot open (openai npm and Python "
            "APIConnectionError, the AI SDK's APICallError, anthropic APIConnectionError): no turn can be sent",
        ),
        (
            "unknown-model",
            ("CC-001",),
            "read: a request for a model the endpoint refuses fails as any refused request does (CC-008's "
            "measured reaction: every driven chat client breaks on a refusal)",
        ),
    )
    for holder in holders
}
"""What the run's preflight finds before the battery (conformance/preflight.py): nothing can be sent as the
client sends it, so no turn completes."""


ROO_OPENAI = "RooCodeInc/Roo-Code@003d9d4 src/api/providers/openai.ts"
CLINE_OPENAI = "cline/cline@0162b82 src/core/api/providers/openai.ts"
AI_SDK = "@ai-sdk/openai-compatible 2.0.48 dist/index.mjs"
KOSONG = "kosong 0.56.0 contrib/chat_provider/openai_legacy.py"
QUIRKS_READ: tuple[tuple[str, str, str, str], ...] = (
    # (deviation key, client, effect, what was read): request quirks the drivers' turn does not send
    ("CC-010:refused", "roo-code", B, f"{ROO_OPENAI}: o1/o3/o4 ids get the system prompt as a developer message"),
    ("CC-010:refused", "cline", B, f"{CLINE_OPENAI}: isReasoningModelFamily ids get a developer message"),
    ("CC-010:refused-not-sent", "roo-code", W, f"{ROO_OPENAI}: role system unless the id has o1, o3 or o4"),
    ("CC-010:refused-not-sent", "cline", W, f"{CLINE_OPENAI}: role system unless isReasoningModelFamily"),
    ("CC-010:refused-not-sent", "kilo-code", W, f"{AI_SDK}: system messages go out as role system"),
    ("CC-010:refused-not-sent", "kimi-cli", W, f"{KOSONG}: the system prompt goes out as role system"),
    ("CC-011:refused-not-sent", "roo-code", W, f"{ROO_OPENAI}: the non-streamed request has no stream_options"),
    ("CC-011:refused-not-sent", "cline", W, f"{CLINE_OPENAI}: every request is streamed"),
    ("CC-011:refused-not-sent", "kilo-code", W, f"{AI_SDK}: stream_options only in doStream"),
    ("CC-011:refused-not-sent", "kimi-cli", W, f"{KOSONG}: stream_options only when streaming"),
    *(
        (f"CC-012:{deviation}", client, W, f"{source}: no response_format on a chat turn")
        for deviation in ("refused", "ignored")
        for client, source in (("roo-code", ROO_OPENAI), ("cline", CLINE_OPENAI), ("kimi-cli", KOSONG))
    ),
    ("CC-013:refused", "cline", B, f"{CLINE_OPENAI}: reasoning_effort (medium unless set) for these ids"),
    ("CC-013:refused-not-sent", "cline", W, f"{CLINE_OPENAI}: reasoning_effort only for isReasoningModelFamily"),
    *(
        (f"CT-00{n}:{deviation}", "kimi-cli", W, f"{KOSONG}: generate sends no tool_choice")
        for n in (6, 7)
        for deviation in ("refused", "ignored")
    ),
)
"""Read, not measured: the turn the drivers run does not send these fields (o-series model ids, structured
output, forced tool choices); the effect follows from what the client's source sends."""


def _read(client: str) -> dict[str, Reaction]:
    return {key: Reaction(effect, f"read: {source}") for key, name, effect, source in QUIRKS_READ if name == client}


def _column(index: int, library: str, client: str) -> dict[str, Reaction]:
    return {
        **SETUP,
        **_read(client),
        **{key: Reaction(row[index], _measured(library, row[0])) for key, row in CHAT_MEASURED.items()},
    }


OWN_REQUEST = Reaction(
    "breaks",
    f"measured: {TRUTH}: a refused request fails the turn with the provider's error, for every driven chat "
    "client (reference faults reject-stream-options, reject-temperature, reject-strict-tools, reject-max-tokens, "
    "reject-unknown-fields)",
)
"""CC-008: one client's own request refused (its findings name that client only)."""

ROO_REQUEST = Request(
    "agent turn",
    "RooCodeInc/Roo-Code src/api/providers/openai.ts: temperature ?? 0, include_usage, strict tools, "
    "parallel_tool_calls false, no max_tokens (" + CLIENTS_MD + ")",
    tools="strict",
    temperature=0,
    parallel_tool_calls=False,
)
KILO_REQUEST = Request(
    "agent turn",
    "Kilo-Org/kilocode packages/opencode/src/provider/provider.ts (include_usage forced on) and transform.ts "
    "(max_tokens = min(limit.output, OUTPUT_TOKEN_MAX = 32000)) (" + CLIENTS_MD + ")",
    tools="plain",
    max_tokens="output-capped-32000",
)
CLINE_REQUEST = Request(
    "agent turn",
    "cline/cline src/core/api/providers/openai.ts: stream_options always, max_tokens, temperature omitted "
    'when 0, tool_choice "auto", parallel_tool_calls false (' + CLIENTS_MD + ")",
    tools="plain",
    max_tokens="output",
    parallel_tool_calls=False,
    tool_choice="auto",
)
KIMI_GEMINI = (
    "MoonshotAI/kimi-cli@4a550ef src/kimi_cli/llm.py, packages/kosong/src/kosong/contrib/chat_provider/google_genai.py"
)
GEMINI_STREAM: dict[str, tuple[str, str]] = {
    # deviation of a stream, as GG-003 (v1beta) and GG-008 (the SDK's default v1, which Kimi uses) find it
    "not-sse": (B, "gemini-no-alt-sse"),
    "not-json": (B, "gemini-stream-done-marker"),
    "finish-reason": (W, "gemini-finish-lowercase"),
    "usage-not-last": (W, "gemini-stream-usage-first"),
    "no-usage": (D, "gemini-no-usage"),
}
"""Measured: one agent turn through kosong's GoogleGenAI (Kimi Code CLI's gemini type) against each fault."""

KIMI_REQUESTS = (
    Request(
        "agent turn",
        "MoonshotAI/kimi-cli src/kimi_cli/llm.py with kosong OpenAILegacy: streamed with include_usage, "
        "no max_tokens (" + CLIENTS_MD + ")",
        tools="plain",
    ),
    Request(
        "compaction request",
        "MoonshotAI/kimi-cli@0097027 src/kimi_cli/soul/compaction.py: kosong.step with EmptyToolset, which kosong "
        "0.56 sends as tools: [] (" + CLIENTS_MD + ")",
        tools="empty",
    ),
)

PD_LOADER: dict[str, Reaction] = {
    check_id: Reaction(B, f"read: {PD} {where}")
    for check_id, where in (
        ("MAN-001", "(the manifest is JSON.parse'd; anything else is a load error)"),
        ("MAN-002", "(zod manifest schema: name is a required string)"),
        ("MAN-003", "(baseUrl goes through new URL() and the fetch; clients.md: a bad one fails at the fetch)"),
        ("MAN-004", "(zod manifest schema: website is required)"),
        ("MAN-005", "(the loader's error for an unknown or mismatched models_data_source)"),
        ("MAN-006", ":275 (models_dev_provider_id is required for models_dev)"),
        ("MAN-007", "(zod manifest schema: headers are string to string)"),
        ("EXT-001", ":89 (models defaults to {}: an OpenAI list loads with 0 models)"),
        ("EXT-002", "(no model to pick: the dropdown is empty)"),
        ("EXT-003", "(zod model schema: one invalid entry rejects the whole list)"),
        ("EMB-001", "(JSON.parse of the pasted text after trim())"),
        ("EMB-002", '(the loader\'s error "must be an array with [manifest, models]")'),
        ("EMB-003", "(element 0 must set models_data_source to embedded)"),
        ("EMB-004", "(element 1 goes through the same model schema)"),
        ("MDV-001", '(the loader\'s error "models.dev response did not include provider")'),
        ("MDV-002", ":100 (no models to pick)"),
    )
}
"""The Provider Defined loader's reactions to a catalog its schema or mapping refuses: no models load."""

CLIENTS: tuple[Client, ...] = (
    Client(
        "kilo-code",
        "Kilo Code v7 (extension and CLI, built on opencode)",
        KILO_LIB,
        "chat",
        True,
        (*CHAT_CHECKS, "CC-008"),
        (
            Fact("streams with stream_options.include_usage (forced on)", "Kilo-Org/kilocode provider.ts"),
            Fact("max_tokens = min(limit.output, 32000)", "Kilo-Org/kilocode transform.ts"),
            Fact("tools as JSON Schema on agent turns", "Kilo-Org/kilocode transform.ts"),
        ),
        {
            **_column(1, KILO_LIB, "kilo-code"),
            "CC-008": OWN_REQUEST,
            **{
                f"LST-001:{deviation}": Reaction(effect, f"{DISCOVER_STEP}, reference fault {fault}")
                for deviation, (effect, fault) in KILO_DISCOVERY.items()
            },
        },
        (KILO_REQUEST,),
        applies_when=CHAT_RAN,
    ),
    Client(
        "roo-code",
        'Roo Code "OpenAI Compatible"',
        ROO_LIB,
        "chat",
        True,
        (*CHAT_CHECKS, "CC-008"),
        (
            Fact("temperature: modelTemperature ?? 0 on every request", "RooCodeInc/Roo-Code openai.ts"),
            Fact("stream_options.include_usage (not for x.ai hosts)", "RooCodeInc/Roo-Code openai.ts"),
            Fact("tools with strict: !isMcp (built-in tools are strict)", "RooCodeInc/Roo-Code openai.ts"),
            Fact("parallel_tool_calls: false with native tools; never max_tokens", "RooCodeInc/Roo-Code openai.ts"),
            Fact("o1/o3/o4 ids: a developer message and reasoning_effort when an effort is set", ROO_OPENAI),
            Fact(
                "prompt caching on: system content as text parts, cache_control on them and the last users", ROO_OPENAI
            ),
            Fact('tool calls go back as content "" beside tool_calls', "measured: CT-005 (" + TRUTH + ")"),
        ),
        {**_column(2, ROO_LIB, "roo-code"), "CC-008": OWN_REQUEST},
        (ROO_REQUEST,),
        applies_when=CHAT_RAN,
    ),
    Client(
        "cline",
        'Cline "OpenAI Compatible"',
        CLINE_LIB,
        "chat",
        True,
        (*CHAT_CHECKS, "CC-008"),
        (
            Fact("always stream_options; max_tokens, never max_completion_tokens", "cline/cline openai.ts"),
            Fact('omits temperature when 0; tool_choice "auto", parallel_tool_calls false', "cline/cline openai.ts"),
            Fact("tracks a single tool call and ignores index", "cline/cline tool-call-processor.ts"),
            Fact("o1/o3/o4 and gpt-5 (not chat) ids: a developer message and reasoning_effort (medium)", CLINE_OPENAI),
        ),
        {**_column(3, CLINE_LIB, "cline"), "CC-008": OWN_REQUEST},
        (CLINE_REQUEST,),
        applies_when=CHAT_RAN,
    ),
    Client(
        "kimi-cli",
        "Kimi Code CLI, provider type openai (openai_legacy)",
        KIMI_LIB,
        "chat",
        True,
        (*CHAT_CHECKS, "CC-008"),
        (
            Fact(
                "tools: [] on every compaction request (kosong.step with EmptyToolset)",
                "MoonshotAI/kimi-cli@0097027 src/kimi_cli/soul/compaction.py; measured, kosong 0.56",
            ),
            Fact("streams with include_usage; never max_tokens", "MoonshotAI/kimi-cli src/kimi_cli/llm.py"),
            Fact("skips chunks without choices", "kosong contrib/chat_provider/openai_legacy.py"),
            Fact("starts a new tool call at every fragment with function.name", "kosong openai_legacy.py"),
        ),
        {**_column(4, KIMI_LIB, "kimi-cli"), "CC-008": OWN_REQUEST},
        KIMI_REQUESTS,
        applies_when=CHAT_RAN,
    ),
    Client(
        "codex",
        'Codex, wire_api = "responses"',
        CODEX_LIB,
        "responses",
        True,
        ("RS-*",),
        (
            Fact("speaks the Responses API only", "openai/codex codex-rs"),
            Fact("the turn ends only at response.completed; response.failed is an error", "openai/codex codex-rs"),
            Fact(
                "a 429 ends the turn, Retry-After or not: a request is retried on 5xx and transport errors only "
                "(no deviation of the provider's, so no verdict shows it)",
                "openai/codex codex-rs/core/src/model_provider_info.rs @001cb8e; "
                + _measured(CODEX_LIB, "rate-limit and rate-limit-no-retry-after"),
            ),
        ),
        {
            **{key: reaction for key, reaction in SETUP.items() if key.startswith("RS-")},
            "RS-002:no-completed": Reaction(B, _measured(CODEX_LIB, "responses-no-completed")),
            "RS-004:no-terminal": Reaction(B, _measured(CODEX_LIB, "responses-silent-failure")),
            "RS-003:refused": Reaction(B, _measured(CODEX_LIB, "responses-reject-function-output")),
            "RS-003:args-object": Reaction(D, _measured(CODEX_LIB, "responses-args-object")),
            "RS-001:no-usage": Reaction(D, _measured(CODEX_LIB, "responses-no-usage")),
            "RS-002:no-event-lines": Reaction(W, _measured(CODEX_LIB, "responses-no-event-lines")),
            "RS-002:no-sequence": Reaction(W, _measured(CODEX_LIB, "responses-no-sequence")),
            "RS-001:wrong-object": Reaction(W, _measured(CODEX_LIB, "responses-wrong-object")),
            "RS-002:bad-order": Reaction(W, _measured(CODEX_LIB, "responses-bad-order")),
        },
    ),
    Client(
        "claude-code",
        "Claude Code against an Anthropic-compatible endpoint",
        CLAUDE_LIB,
        "messages",
        True,
        ("AN-*",),
        (Fact("speaks the Anthropic Messages API with x-api-key and anthropic-version", "Anthropic Messages docs"),),
        {
            "AN-003:no-tool-use": Reaction(D, _measured(CLAUDE_LIB, "messages-no-tool-use")),
            "AN-002:event-mismatch": Reaction(W, _measured(CLAUDE_LIB, "messages-event-mismatch")),
            "AN-002:done-marker": Reaction(W, _measured(CLAUDE_LIB, "messages-done-marker")),
            "AN-003:input-whole": Reaction(W, _measured(CLAUDE_LIB, "messages-tool-input-whole")),
            "AN-004": Reaction(W, _measured(CLAUDE_LIB, "messages-openai-errors")),
            "AN-001:shape": Reaction(W, _measured(CLAUDE_LIB, "messages-wrong-type and messages-no-usage")),
            "AN-002:bad-order": Reaction(W, _measured(CLAUDE_LIB, "messages-bad-order")),
            "AN-002:not-a-stream": Reaction(B, _measured(CLAUDE_LIB, "messages-stream-as-json")),
            **{
                f"{check_id}:refused": Reaction(B, _measured(CLAUDE_LIB, "refuse-everything"))
                for check_id in ("AN-001", "AN-002", "AN-003")
            },
            **{
                f"{check_id}:unauthorized": Reaction(W, _measured(CLAUDE_LIB, "messages-bearer-only"))
                for check_id in ("AN-001", "AN-002", "AN-003")
            },
        },
    ),
    Client(
        "kimi-cli-gemini",
        "Kimi Code CLI, provider type gemini (google_genai)",
        KIMI_GEMINI_LIB,
        "gemini",
        True,
        ("GG-001", "GG-003", "GG-004", "GG-005", "GG-006", "GG-008"),
        (
            Fact(
                "streams {base_url}/v1/models/{model}:streamGenerateContent?alt=sse (the SDK's default version, no "
                "api_version set) with the key in x-goog-api-key",
                KIMI_GEMINI,
            ),
            Fact("tools as functionDeclarations with parameters_json_schema; results as functionResponse", KIMI_GEMINI),
            Fact("a part with thought: true is thinking; the usage is the last usageMetadata seen", KIMI_GEMINI),
        ),
        {
            **{
                f"{check_id}:{deviation}": Reaction(effect, _measured(KIMI_GEMINI_LIB, fault))
                for check_id in ("GG-003", "GG-008")
                for deviation, (effect, fault) in GEMINI_STREAM.items()
            },
            "GG-008:refused": Reaction(B, _measured(KIMI_GEMINI_LIB, "gemini-v1beta-only")),
            "GG-004:args-not-object": Reaction(B, _measured(KIMI_GEMINI_LIB, "gemini-args-string")),
            "GG-004:refused": Reaction(B, _measured(KIMI_GEMINI_LIB, "gemini-reject-function-response")),
            "GG-005": Reaction(D, _measured(KIMI_GEMINI_LIB, "gemini-thoughts-as-text")),
            "GG-006": Reaction(W, _measured(KIMI_GEMINI_LIB, "gemini-openai-errors")),
            "GG-001": Reaction(W, _measured(KIMI_GEMINI_LIB, "gemini-models-openai-list")),
        },
    ),
    Client(
        "kilo-provider-defined",
        "Kilo Code Provider Defined loader (PR #2670: closed, never merged, never released)",
        "axios + zod 3.25; chat: Kilo's legacy OpenAI-compatible handler (openai npm)",
        "catalog",
        False,
        ("MAN-*", "EXT-*", "EMB-*", "JSON-*", "MDV-00[12356]", "LST-001", "CC-005", *CHAT_CHECKS),
        (
            Fact(
                "reads a manifest, then {baseUrl}/models?extended=true, embedded JSON or a models.dev entry",
                "mcowger/kilocode branch mcowger/dynamicProvider src/api/providers/fetchers/provider-defined.ts",
            ),
            Fact("chats with stream, include_usage and max_tokens = limit.output ?? limit.context", CLIENTS_MD),
        ),
        {
            **SETUP,
            "CC-005:refused": OWN_REQUEST,
            "CT-003:refused": OWN_REQUEST,
            "CS-009": Reaction(
                B, _measured(ROO_LIB, "empty-data-event") + " (as Roo drives it; Kilo's legacy handler is that family)"
            ),
            **PD_LOADER,
        },
        applies_when=("MAN-*", "EXT-*", "EMB-*", "JSON-*", "MDV-*"),
        note="unreleased PR loader",
    ),
)
