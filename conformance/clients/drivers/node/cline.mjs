// Cline's "OpenAI Compatible" provider, driven through the real `openai` npm client.
//
// Behaviour read from cline/cline at tag v3.89.2 (commit e1bdeeff68e95734901c7a4b3a31753bae54a634, 2026-06-11), the
// last release whose OpenAI Compatible provider is built on the `openai` package (`"openai": "^6.21.0"`):
//   apps/vscode/src/core/api/providers/openai.ts           OpenAiHandler.createMessage: the request and chunk loop
//   apps/vscode/src/core/api/transform/tool-call-processor.ts  ToolCallProcessor, getOpenAIToolParams
//   apps/vscode/src/core/task/StreamResponseHandler.ts     ToolUseHandler: accumulates and finalizes the calls
//   apps/vscode/src/core/api/retry.ts                      withRetry: what is sent again, and when
//   apps/vscode/src/core/api/transform/openai-format.ts    how the assistant call and tool result go back out
//   apps/vscode/src/core/prompts/system-prompt/spec.ts     the shape of a native tool (strict: false)
// From v4.0.0 on, Cline's OpenAI Compatible provider is @ai-sdk/openai-compatible under `ai` 7 instead
// (sdk/packages/llms/src/providers/vendors/openai-compatible.ts); this driver measures the 3.x line.
// The logic below restates that behaviour in this project's words; no Cline code is copied.

import OpenAI from "openai";

import { GET_WEATHER, libraryVersion, parseArguments, serve } from "./turn.mjs";

// services/EnvUtils.ts buildExternalBasicHeaders, with the extension version of the tag above.
const CLINE_HEADERS = { "User-Agent": "Cline/3.89.2" };
const RETRIES = { attempts: 3, baseMs: 1_000, maxMs: 10_000 };

/** spec.ts: every native tool is sent with strict false and a closed object schema. */
function clineTools() {
  return [
    {
      type: "function",
      function: { ...GET_WEATHER, strict: false, parameters: { ...GET_WEATHER.parameters, additionalProperties: false } },
    },
  ];
}

/** openai-format.ts: an assistant message that only calls a tool has content null; the input is re-serialised. */
function clineMessages({ system, user, call, result }) {
  const messages = [
    { role: "system", content: system },
    { role: "user", content: user },
  ];
  if (call) {
    messages.push({
      role: "assistant",
      content: null,
      tool_calls: [{ id: call.id, type: "function", function: { name: call.name, arguments: JSON.stringify(call.input) } }],
    });
    messages.push({ role: "tool", tool_call_id: call.id, content: result });
  }
  return messages;
}

/**
 * ToolCallProcessor then ToolUseHandler. The processor keeps an id and a name per `index` (a fragment without one
 * takes its position in the chunk's array) and passes a fragment on only when it carries arguments and an id and a
 * name are known by then. The handler keys calls by that id and appends the arguments with `+=` (a non-string value
 * is coerced). At the end a call with a name is finalized: its arguments JSON-parsed, or, when they do not parse,
 * the `"key": "string"` pairs that a pattern can still find in them.
 */
export class ClineToolCalls {
  byIndex = new Map();
  byId = new Map();

  add(fragments) {
    fragments.forEach((fragment, position) => {
      const key = fragment.index ?? position;
      const state = this.byIndex.get(key) ?? { id: "", name: "" };
      this.byIndex.set(key, state);
      if (fragment.id) state.id = fragment.id;
      if (fragment.function?.name) state.name = fragment.function.name;
      const args = fragment.function?.arguments;
      if (!(state.id && state.name && args)) return;
      const pending = this.byId.get(state.id) ?? { id: state.id, name: "", input: "" };
      this.byId.set(state.id, pending);
      pending.name = state.name;
      pending.input += args;
    });
  }

  finalize() {
    return [...this.byId.values()]
      .filter((pending) => pending.name)
      .map((pending) => {
        const parsed = pending.input ? parseArguments(pending.input) : { input: {} };
        if (parsed.parseError) parsed.input = salvage(pending.input);
        return { id: pending.id, name: pending.name, arguments: pending.input, ...parsed };
      });
  }
}

/** The handler's fallback for arguments that do not parse: string-valued fields only, escapes undone. */
function salvage(text) {
  const fields = {};
  for (const [, key, value] of text.matchAll(/"(\w+)":\s*"((?:[^"\\]|\\.)*)(?:")?/g)) {
    fields[key] = value.replace(/\\([ntr"\\])/g, (_, c) => ({ n: "\n", t: "\t", r: "\r" })[c] ?? c);
  }
  return fields;
}

/** retry.ts withRetry: only a 429 is tried again, at most three attempts in all, after Retry-After (seconds or a
 * Unix time) or an exponential backoff from one second, capped at ten. The header is looked up by property, as
 * the client does; on the `openai` 6 error, whose headers are a `Headers` object, that finds nothing, so the
 * backoff applies. */
async function withClineRetry(attempt, signal) {
  for (let n = 0; ; n++) {
    try {
      return await attempt();
    } catch (error) {
      if (error?.status !== 429 || n === RETRIES.attempts - 1) throw error;
      const header = error.headers?.["retry-after"];
      const value = Number.parseInt(header, 10);
      const delay = Number.isNaN(value)
        ? Math.min(RETRIES.maxMs, RETRIES.baseMs * 2 ** n)
        : value > Date.now() / 1000
          ? value * 1000 - Date.now()
          : value * 1000;
      await new Promise((resolve, reject) => {
        const timer = setTimeout(resolve, Math.max(0, delay));
        signal.addEventListener("abort", () => (clearTimeout(timer), reject(signal.reason)), { once: true });
      });
    }
  }
}

export const driver = {
  client: "cline",
  library: libraryVersion("openai"),

  async request(req, convo, signal) {
    if (!req.api_key) throw new Error("OpenAI API key or Azure Identity Authentication is required");
    const client = new OpenAI({
      baseURL: req.base_url,
      apiKey: req.api_key,
      defaultHeaders: { ...CLINE_HEADERS, ...(req.headers ?? {}) },
    });
    // openai.ts createMessage for a model id outside the o1/o3/o4/gpt-5 and deepseek-reasoner families, with the
    // model info the settings form saves: temperature 0 (which the handler turns into "no temperature") and the
    // model's output limit as maxTokens (> 0, so sent as max_tokens). Tools come with tool_choice "auto" and
    // parallel_tool_calls false (getOpenAIToolParams).
    const body = {
      model: req.model,
      messages: clineMessages(convo),
      max_tokens: Number(req.max_output) > 0 ? Number(req.max_output) : undefined,
      stream: true,
      stream_options: { include_usage: true },
      tools: clineTools(),
      tool_choice: "auto",
      parallel_tool_calls: false,
    };
    return withClineRetry(async () => {
      const stream = await client.chat.completions.create(body, { signal });
      const tools = new ClineToolCalls();
      let text = "";
      let reasoning = "";
      let usage = null;
      for await (const chunk of stream) {
        const delta = chunk.choices?.[0]?.delta;
        if (delta?.content) text += delta.content;
        if (delta?.reasoning_content) reasoning += delta.reasoning_content;
        if (delta?.tool_calls) tools.add(delta.tool_calls);
        if (chunk.usage) usage = chunk.usage;
      }
      return { text, reasoning, usage, calls: tools.finalize() };
    }, signal);
  },
};

await serve(driver, import.meta.url);
