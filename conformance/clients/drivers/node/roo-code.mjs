// Roo Code's "OpenAI Compatible" provider, driven through the real `openai` npm client.
//
// Behaviour read from RooCodeInc/Roo-Code at commit cb836567180a3ff1da6d082f3178b90c3bd22a70 (2026-04-14):
//   src/api/providers/openai.ts         OpenAiHandler: client options, the streamed request, the chunk loop
//   src/api/providers/base-provider.ts  convertToolsForOpenAI / convertToolSchemaForOpenAI (strict tools)
//   src/core/assistant-message/NativeToolCallParser.ts  processRawChunk, finalizeRawChunks, parseToolCall
//   src/core/task/Task.ts               the consumer of the stream (tool_call_partial, end-of-stream finalize)
//   src/api/transform/openai-format.ts  how the history (assistant tool call, tool result) goes back out
//   src/utils/tag-matcher.ts            the <think> splitter on delta.content
// The logic below restates that behaviour in this project's words; no Roo code is copied.

import OpenAI from "openai";

import { GET_WEATHER, libraryVersion, parseArguments, serve } from "./turn.mjs";

// utils/timeout-config.ts: the apiRequestTimeout setting, 600 s unless the user changes it.
const ROO_TIMEOUT_MS = 600_000;
// constants.ts DEFAULT_HEADERS; the version is src/package.json's at the commit above.
const ROO_HEADERS = {
  "HTTP-Referer": "https://github.com/RooVetGit/Roo-Cline",
  "X-Title": "Roo Code",
  "User-Agent": "RooCode/3.52.1",
};

/** base-provider.ts: a non-MCP tool is sent strict, its object schema closed and every property required. */
function strictSchema(schema) {
  if (!schema || typeof schema !== "object" || schema.type !== "object") return schema;
  const properties = { ...(schema.properties ?? {}) };
  for (const [key, prop] of Object.entries(properties)) {
    if (prop?.type === "object") properties[key] = strictSchema(prop);
  }
  return { ...schema, additionalProperties: false, required: Object.keys(properties), properties };
}

function rooTools() {
  return [
    { type: "function", function: { ...GET_WEATHER, strict: true, parameters: strictSchema(GET_WEATHER.parameters) } },
  ];
}

/** openai-format.ts: an assistant tool_use becomes content "" plus tool_calls with the input re-serialised;
 * a tool_result becomes a `tool` message. */
function rooMessages({ system, user, call, result }) {
  const messages = [
    { role: "system", content: system },
    { role: "user", content: user },
  ];
  if (call) {
    messages.push({
      role: "assistant",
      content: "",
      tool_calls: [{ id: call.id, type: "function", function: { name: call.name, arguments: JSON.stringify(call.input) } }],
    });
    messages.push({ role: "tool", tool_call_id: call.id, content: result || "(empty)" });
  }
  return messages;
}

/**
 * tag-matcher.ts as OpenAiHandler configures it: a <think> tag is recognised only as the very first characters of
 * the content (or while already inside one); what it encloses is reasoning, everything else is text.
 */
export class ThinkSplitter {
  static OPEN = "<think>";
  static CLOSE = "</think>";
  pending = "";
  seen = 0;
  inside = false;
  text = "";
  reasoning = "";

  update(piece) {
    this.pending += piece;
    for (;;) {
      if (this.inside) {
        const end = this.pending.indexOf(ThinkSplitter.CLOSE);
        if (end < 0) return;
        this.reasoning += this.pending.slice(0, end);
        this.pending = this.pending.slice(end + ThinkSplitter.CLOSE.length);
        this.inside = false;
        this.seen = Infinity;
      } else if (this.seen === 0 && ThinkSplitter.OPEN.startsWith(this.pending.slice(0, ThinkSplitter.OPEN.length))) {
        if (this.pending.length < ThinkSplitter.OPEN.length) return;
        this.pending = this.pending.slice(ThinkSplitter.OPEN.length);
        this.inside = true;
      } else {
        this.text += this.pending;
        this.seen += this.pending.length;
        this.pending = "";
        return;
      }
    }
  }

  final() {
    if (this.inside) this.reasoning += this.pending;
    else this.text += this.pending;
    this.pending = "";
  }
}

/**
 * NativeToolCallParser.processRawChunk as Task.ts feeds it: fragments are keyed by `index`; a call is tracked only
 * from the first fragment that carries an `id` (fragments before it are dropped); arguments that arrive before the
 * name are held back; the name may be set again by later fragments. The arguments are joined with `+=`, so a
 * non-string value is coerced to a string, as the client does.
 */
export class RawToolCalls {
  tracked = new Map();

  add(fragment) {
    const { index, id } = fragment;
    const name = fragment.function?.name;
    const args = fragment.function?.arguments;
    let call = this.tracked.get(index);
    if (id && !call) {
      call = { id, name: name || "", started: false, buffered: [], accumulated: "" };
      this.tracked.set(index, call);
    }
    if (!call) return;
    if (name) call.name = name;
    if (!call.started && call.name) {
      call.started = true;
      for (const held of call.buffered) call.accumulated += held;
      call.buffered = [];
    }
    if (args) {
      if (call.started) call.accumulated += args;
      else call.buffered.push(args);
    }
  }

  /** finalizeRawChunks at the end of the stream (finish_reason or not): only calls that started are finalized;
   * parseToolCall turns "" into {} and otherwise JSON.parses, and a failure leaves the call without arguments. */
  finalize() {
    const seenIds = new Set();
    const calls = [];
    for (const call of this.tracked.values()) {
      if (!call.started || seenIds.has(call.id)) continue;
      seenIds.add(call.id);
      const parsed = call.accumulated === "" ? { input: {} } : parseArguments(call.accumulated);
      calls.push({ id: call.id, name: call.name, arguments: call.accumulated, ...parsed });
    }
    return calls;
  }
}

export const driver = {
  client: "roo-code",
  library: libraryVersion("openai"),

  async request(req, convo, signal) {
    const client = new OpenAI({
      baseURL: req.base_url,
      apiKey: req.api_key ?? "not-provided",
      defaultHeaders: { ...ROO_HEADERS, ...(req.headers ?? {}) },
      timeout: ROO_TIMEOUT_MS,
    });
    // openai.ts createMessage, streaming branch, for a model id that is not o1/o3/o4 nor deepseek-reasoner and
    // the sane-default model info (no prompt cache, includeMaxTokens unset, so no max_completion_tokens). Task.ts
    // passes the tools on every request with tool_choice "auto" and parallelToolCalls true.
    const body = {
      model: req.model,
      temperature: 0,
      messages: rooMessages(convo),
      stream: true,
      stream_options: { include_usage: true },
      tools: rooTools(),
      tool_choice: "auto",
      parallel_tool_calls: true,
    };
    const stream = await client.chat.completions.create(body, { signal });

    const think = new ThinkSplitter();
    const tools = new RawToolCalls();
    let reasoning = "";
    let usage = null;
    for await (const chunk of stream) {
      const delta = chunk.choices?.[0]?.delta ?? {};
      if (delta.content) think.update(delta.content);
      if (delta.reasoning_content) reasoning += delta.reasoning_content;
      for (const fragment of delta.tool_calls ?? []) tools.add(fragment);
      if (chunk.usage) usage = chunk.usage;
    }
    think.final();
    return { text: think.text, reasoning: reasoning + think.reasoning, usage, calls: tools.finalize() };
  },
};

await serve(driver, import.meta.url);
