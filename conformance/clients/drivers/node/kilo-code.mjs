// Kilo Code v7 with an OpenAI-compatible provider, driven through the real Vercel AI SDK (`ai` `streamText` over
// `@ai-sdk/openai-compatible`), pinned to the versions Kilo pins (root catalog `ai` 6.0.168,
// packages/opencode `@ai-sdk/openai-compatible` 2.0.48, catalog `zod` 4.1.8).
//
// Behaviour read from Kilo-Org/kilocode (Kilo Code 7.x):
//   packages/opencode/src/provider/provider.ts  getSDK: includeUsage forced on for @ai-sdk/openai-compatible,
//                                               baseURL/apiKey/headers; sdk.languageModel(model id)  [f99376fc05ac]
//   packages/opencode/src/provider/transform.ts maxOutputTokens = min(limit.output, OUTPUT_TOKEN_MAX) || OUTPUT_TOKEN_MAX
//                                               (32 000); temperature() undefined for a model id outside the
//                                               families it names; options() {} for a custom provider  [b93c4ca5ee77]
//   packages/opencode/src/session/llm.ts        streamText: tools with activeTools (all but "invalid"), maxRetries 0,
//                                               experimental_repairToolCall (lower-case name, else the "invalid"
//                                               tool), DEFAULT_HEADERS  [cdf1ffd9209c]
//   packages/opencode/src/session/processor.ts  reading fullStream: text/reasoning/tool-call parts, "error" thrown,
//                                               then SessionRetry  [3263e21b28f8]
//   packages/opencode/src/session/retry.ts      which errors are retried and after how long  [6ebbf36d72d6]
//   packages/opencode/src/kilocode/reasoning-token.ts  a leading </think> marker is dropped from text  [07e2e0bc99a9]
//   packages/opencode/src/kilocode/const.ts     DEFAULT_HEADERS  [0f18f6788b84]
//   packages/opencode/src/provider/provider.ts  discoveryLoaders of a config provider with discoverModels: GET
//                                               new URL("models", baseURL + "/"), the configured headers plus
//                                               Bearer <apiKey> unless they set Authorization or authorization,
//                                               response.ok or nothing, response.json(), only data[].id read (a
//                                               non-empty string); any error is caught and logged, giving no model;
//                                               a discovered id is added only where no configured model has it
//                                               [00e3a1a76ac2]; the same code: src/kilocode/provider/discover-models.ts
//                                               [d22f4e4a344f]
//   packages/opencode/src/kilocode/provider/provider.ts  buildTimeoutSignal: the discovery fetch, body included,
//                                               is aborted after options.timeout, else REQUEST_TIMEOUT_MS  [0dd53bc182a1]
// Model discovery is a plain WHATWG fetch: Node's here, where Kilo's CLI runs on Bun's; the driver bounds it by
// the request's timeout_s (Kilo: REQUEST_TIMEOUT_MS, 120 s to 300 s across 7.x) and MAX_LIST_BYTES (Kilo: none).
// The logic below restates that behaviour in this project's words; no Kilo code is copied.

import { createOpenAICompatible } from "@ai-sdk/openai-compatible";
import { APICallError, jsonSchema, streamText, tool } from "ai";

import { GET_WEATHER, TOOL_RESULT, describeError, libraryVersion, log, serve } from "./turn.mjs";

const PROVIDER_ID = "provider";
const OUTPUT_TOKEN_MAX = 32_000;
const KILO_HEADERS = { "HTTP-Referer": "https://kilocode.ai", "X-Title": "Kilo Code", "User-Agent": "Kilo-Code/7.5.11" };
const RETRY = { initialMs: 2_000, factor: 2, maxNoHeadersMs: 30_000 };
/** The most of a model list the driver reads, the suite's own default body cap. Kilo reads the whole body; past
 * this the driver stops and reports the list unread, so a hostile provider cannot hold its memory. */
export const MAX_LIST_BYTES = 32 * 1024 * 1024;

/** Kilo's tools: the agent's tool (JSON Schema input), plus the "invalid" tool that repaired calls are sent to. */
function kiloTools() {
  return {
    [GET_WEATHER.name]: tool({
      description: GET_WEATHER.description,
      inputSchema: jsonSchema(GET_WEATHER.parameters),
      execute: async () => TOOL_RESULT,
    }),
    invalid: tool({
      description: "Do not use",
      inputSchema: jsonSchema({
        type: "object",
        properties: { tool: { type: "string" }, error: { type: "string" } },
        required: ["tool", "error"],
      }),
      execute: async ({ error }) => `The arguments provided to the tool are invalid: ${error}`,
    }),
  };
}

/** llm.ts experimental_repairToolCall: a name that only differs in case is fixed; anything else becomes a call to
 * "invalid" carrying the tool's name and the parse error. */
async function repairToolCall({ toolCall, tools, error }) {
  const lower = toolCall.toolName.toLowerCase();
  if (lower !== toolCall.toolName && tools[lower]) return { ...toolCall, toolName: lower };
  return { ...toolCall, toolName: "invalid", input: JSON.stringify({ tool: toolCall.toolName, error: error.message }) };
}

/** The history as AI SDK model messages, the shape Kilo's session stores: the reasoning and the call in the
 * assistant message, the tool's output as text. */
function kiloMessages({ system, user, call, reasoning, result }) {
  const messages = [
    { role: "system", content: system },
    { role: "user", content: [{ type: "text", text: user }] },
  ];
  if (call) {
    const content = reasoning ? [{ type: "reasoning", text: reasoning }] : [];
    content.push({ type: "tool-call", toolCallId: call.id, toolName: call.name, input: call.input });
    messages.push({ role: "assistant", content });
    messages.push({
      role: "tool",
      content: [
        { type: "tool-result", toolCallId: call.id, toolName: call.name, output: { type: "text", value: result } },
      ],
    });
  }
  return messages;
}

/** reasoning-token.ts: a text part that starts with an end-of-thinking marker (</think>, <|end_of_thinking|> and
 * its variants) has the marker removed; text is held back only while it could still be the start of one. */
const MARKERS = ["</think>"];
for (const bar of ["|", "｜"]) {
  for (const gap of ["_", "▁", " "]) MARKERS.push(`<${bar}end${gap}of${gap}thinking${bar}>`.toLowerCase());
}

export class MarkerFilter {
  held = new Map();

  push(id, text, done = false) {
    const pending = this.held.get(id);
    if (pending === null) return text;
    const value = (pending ?? "") + text;
    if (done) {
      this.held.delete(id);
      return value;
    }
    const lower = value.toLowerCase();
    const marker = MARKERS.find((m) => lower.startsWith(m));
    if (marker) {
      this.held.set(id, null);
      return value.slice(marker.length);
    }
    if (MARKERS.some((m) => m.startsWith(lower))) {
      this.held.set(id, value);
      return "";
    }
    this.held.set(id, null);
    return value;
  }
}

/** retry.ts retryable(): an API error that the SDK marks retryable or that is a 5xx, or an error whose message
 * speaks of a rate limit or too many requests. */
function retryable(error) {
  if (APICallError.isInstance(error)) return error.isRetryable || (error.statusCode ?? 0) >= 500;
  const message = String(error?.message ?? "").toLowerCase();
  return ["rate increased too quickly", "rate limit", "too many requests"].some((s) => message.includes(s));
}

/** retry.ts delay(): retry-after-ms, then retry-after (seconds or a date), else 2 s doubling per attempt (capped
 * at 30 s when the error carried no headers). */
function retryDelay(attempt, error) {
  const headers = APICallError.isInstance(error) ? error.responseHeaders : undefined;
  const backoff = RETRY.initialMs * RETRY.factor ** (attempt - 1);
  if (!headers) return Math.min(backoff, RETRY.maxNoHeadersMs);
  const ms = Number.parseFloat(headers["retry-after-ms"]);
  if (!Number.isNaN(ms)) return ms;
  const seconds = Number.parseFloat(headers["retry-after"]);
  if (!Number.isNaN(seconds)) return Math.ceil(seconds * 1000);
  const date = Date.parse(headers["retry-after"]) - Date.now();
  return !Number.isNaN(date) && date > 0 ? date : backoff;
}

function sleep(ms, signal) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener("abort", () => (clearTimeout(timer), reject(signal.reason)), { once: true });
  });
}

/** One streamText call read as the session processor reads fullStream; an "error" part is thrown. */
async function streamOnce(req, convo, signal) {
  const provider = createOpenAICompatible({
    name: PROVIDER_ID,
    baseURL: req.base_url,
    apiKey: req.api_key,
    headers: req.headers ?? {},
    includeUsage: true,
  });
  const tools = kiloTools();
  const limit = Number(req.max_output) || 0;
  const result = streamText({
    model: provider.languageModel(req.model),
    messages: kiloMessages(convo),
    tools,
    activeTools: Object.keys(tools).filter((name) => name !== "invalid"),
    maxOutputTokens: Math.min(limit, OUTPUT_TOKEN_MAX) || OUTPUT_TOKEN_MAX,
    providerOptions: { [PROVIDER_ID]: {} },
    maxRetries: 0,
    abortSignal: signal,
    headers: KILO_HEADERS,
    experimental_repairToolCall: repairToolCall,
    onError() {},
  });

  const filter = new MarkerFilter();
  const texts = new Map();
  let reasoning = "";
  let usage = null;
  const calls = [];
  for await (const part of result.fullStream) {
    switch (part.type) {
      case "text-delta":
        texts.set(part.id, (texts.get(part.id) ?? "") + filter.push(part.id, part.text));
        break;
      case "text-end":
        texts.set(part.id, ((texts.get(part.id) ?? "") + filter.push(part.id, "", true)).trimEnd());
        break;
      case "reasoning-delta":
        reasoning += part.text;
        break;
      case "tool-call":
        calls.push(describeCall(part));
        break;
      case "finish":
        if (part.totalUsage?.inputTokens != null || part.totalUsage?.outputTokens != null) usage = part.totalUsage;
        break;
      case "error":
        throw part.error;
    }
  }
  return { text: [...texts.values()].join(""), reasoning, usage, calls };
}

/** A call as the session records it; a call repaired into "invalid" is reported under the tool it was meant for,
 * with the parse error, since that is the call the user lost. */
function describeCall(part) {
  if (part.toolName === "invalid" && part.input && typeof part.input === "object") {
    const name = String(part.input.tool ?? "invalid");
    return { id: part.toolCallId, name, arguments: part.input, input: null, parseError: String(part.input.error) };
  }
  if (part.invalid) {
    const message = String(part.error?.message ?? part.error).split("\n")[0];
    return { id: part.toolCallId, name: part.toolName, arguments: part.input, input: null, parseError: message };
  }
  return { id: part.toolCallId, name: part.toolName, arguments: part.input, input: part.input };
}

/** The body, read no further than `limit` decoded bytes (a gzip body counts as it inflates). */
async function boundedBody(response, limit) {
  const reader = response.body.getReader();
  const parts = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) return Buffer.concat(parts);
    size += value.byteLength;
    if (size > limit) {
      await reader.cancel().catch(() => {});
      throw new Error(`the body is over ${limit / 1024 / 1024} MiB: the driver stopped reading (Kilo reads it whole)`);
    }
    parts.push(value);
  }
}

/** provider.ts discoveryLoaders: the model ids Kilo adds from GET {baseURL}/models. A body Kilo's response.json()
 * could not read throws here, as it does there; `why` says why a readable body gave no model. */
export async function discoverModels(req, signal) {
  const base = req.base_url;
  const url = new URL("models", base.endsWith("/") ? base : `${base}/`).toString();
  const headers = { ...(req.headers ?? {}) };
  if (req.api_key && headers.Authorization === undefined && headers.authorization === undefined) {
    headers.Authorization = `Bearer ${req.api_key}`;
  }
  const response = await fetch(url, { headers, signal });
  if (!response.ok) {
    await response.body?.cancel().catch(() => {});
    throw new Error(`unexpected status ${response.status}`);
  }
  // The bytes read as fetch's own json() reads them (UTF-8 with replacement, a BOM dropped, then JSON.parse).
  const body = await new Response(await boundedBody(response, MAX_LIST_BYTES)).json();
  if (!Array.isArray(body.data)) return { models: [], why: "the body has no data array" };
  const models = body.data.map((item) => (typeof item?.id === "string" ? item.id : "")).filter(Boolean);
  return { models: [...new Set(models)], why: "no entry of data has a string id" };
}

export const driver = {
  client: "kilo-code",
  library: `${libraryVersion("ai")} + ${libraryVersion("@ai-sdk/openai-compatible")}`,
  discover: discoverModels,

  /** processor.ts: a retryable failure is sent again after the SessionRetry delay; anything else ends the turn. */
  async request(req, convo, signal) {
    for (let attempt = 1; ; attempt++) {
      try {
        return await streamOnce(req, convo, signal);
      } catch (error) {
        if (signal.aborted || !retryable(error)) throw error;
        log(`kilo-code: retrying after ${describeError(error)}`);
        await sleep(retryDelay(attempt, error), signal).catch((reason) => {
          throw Object.assign(reason, { retrying: describeError(error) });
        });
      }
    }
  },
};

await serve(driver, import.meta.url);
