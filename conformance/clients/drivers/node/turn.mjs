// One agent turn, three streamed requests, judged the same way for every Node driver.
//
// A driver module supplies only what its client does on the wire and with the stream (`request`); this module
// owns the JSON Lines protocol, the prompts, the per-step deadline, the verdicts and the masking of the key, so
// the three drivers cannot drift apart in how they judge what their library did.

import { readFileSync, realpathSync } from "node:fs";
import { createInterface } from "node:readline";
import { pathToFileURL } from "node:url";
import { format } from "node:util";

export const SYSTEM = "You are a coding assistant. Answer briefly.";
export const HELLO = "Say hello in one short sentence.";
export const WEATHER = "What is the weather in Paris? Use the get_weather tool.";
export const TOOL_RESULT = "Sunny, 21 °C";

/** The one tool of the turn, as a plain function description each client wraps its own way. */
export const GET_WEATHER = Object.freeze({
  name: "get_weather",
  description: "Get the current weather in a city.",
  parameters: {
    type: "object",
    properties: { city: { type: "string", description: "The city name." } },
    required: ["city"],
  },
});

/** Chat-template control tokens that must never reach the text a user sees (ChatML, Harmony, Llama, DeepSeek). */
const TEMPLATE_TOKEN = /<\|[A-Za-z0-9_]+\|>|<｜[^｜>]{1,40}｜>/;
/** What a character cut across chunks and decoded in halves becomes: the user sees it in place of the character. */
const REPLACEMENT = "\uFFFD";
const RANK = { works: 0, degraded: 1, breaks: 2 };

/** `name@version` of an installed package, read from its own package.json, so a result names what really ran. */
export function libraryVersion(name) {
  const url = new URL(`./node_modules/${name}/package.json`, import.meta.url);
  return `${name}@${JSON.parse(readFileSync(url, "utf8")).version}`;
}

/** Remove the key (plain, percent-encoded in either case, plus-encoded, JSON-escaped) and any bearer token from
 * text that leaves the driver. */
export function masker(key) {
  const encoded = key ? encodeURIComponent(key) : "";
  const forms = key
    ? [key, encoded, encoded.replace(/%[0-9A-F]{2}/g, (e) => e.toLowerCase()), encoded.replace(/%20/g, "+")]
    : [];
  if (key) forms.push(JSON.stringify(key).slice(1, -1));
  const secrets = [...new Set(forms)].filter((s) => s.length >= 4);
  return (text) => {
    let out = String(text);
    for (const secret of secrets) out = out.split(secret).join("***");
    return out.replace(/(Bearer\s+)[^\s"',}]+/gi, "$1***");
  };
}

/** The first line of an error, with its HTTP status when the library gives one and the causes a network
 * error wraps (so "Connection error." says why). */
export function describeError(error) {
  const status = typeof error?.status === "number" ? error.status : error?.statusCode;
  const name = error?.name && error.name !== "Error" ? `${error.name}: ` : "";
  const message = firstLine(error);
  const head = status && !message.startsWith(String(status)) ? `${name}${status} ${message}` : `${name}${message}`;
  const causes = [];
  for (let cause = error?.cause, depth = 0; cause && depth < 3; cause = cause.cause, depth++) {
    const text = firstLine(cause);
    if (text && !head.includes(text) && !causes.includes(text)) causes.push(text);
  }
  if (!causes.length) return head;
  return `${head.length > 120 ? `${head.slice(0, 117)}...` : head} (${causes.join(": ")})`;
}

/** Schema issues as "path: message", a union's failure told by its first branch (the shape that was expected). */
function flatIssues(issues, prefix = []) {
  return issues.flatMap((issue) => {
    const path = [...prefix, ...(issue.path ?? [])];
    if (Array.isArray(issue.errors?.[0]) && issue.errors[0].length) return flatIssues(issue.errors[0], path);
    return [`${path.join(".") || "(root)"}: ${issue.message}`];
  });
}

/** An error's message in one line: a schema library's list of issues (JSON) becomes "path: message" pairs, and a
 * long value dump is cut, so the reason stays in sight. */
function firstLine(error) {
  const text = String(error?.message ?? error);
  try {
    const issues = JSON.parse(text);
    if (Array.isArray(issues) && issues.every((i) => typeof i?.message === "string")) {
      return flatIssues(issues).join("; ").slice(0, 300);
    }
  } catch {
    // not a list of issues: the message as written
  }
  const line = text.split("\n")[0];
  return line.length > 200 ? `${line.slice(0, 197)}...` : line;
}

/** How long a step may take after its deadline for the library to honour the abort before the step stops waiting. */
const GRACE_MS = 2_000;

/** Run `work(signal)` with a deadline. The signal aborts at the deadline, and whatever the work does after that
 * is reported as the timeout (with what the client was retrying, when it says so): some libraries end an aborted
 * stream quietly, which must not pass for a short reply. If the library ignores the signal, the step stops
 * waiting a moment later, so a hostile stream can never hold the driver. */
async function withDeadline(seconds, work) {
  const controller = new AbortController();
  const timeout = Object.assign(new Error(`timed out after ${seconds} s`), { name: "Timeout" });
  let timer;
  let hardStop;
  const abandoned = new Promise((_, reject) => {
    timer = setTimeout(() => {
      controller.abort(timeout);
      hardStop = setTimeout(() => reject(timeout), GRACE_MS);
    }, seconds * 1000);
  });
  try {
    const reply = await Promise.race([work(controller.signal), abandoned]);
    if (controller.signal.aborted) throw timeout;
    return reply;
  } catch (error) {
    if (!controller.signal.aborted) throw error;
    timeout.message += error?.retrying ? ` while retrying after: ${error.retrying}` : "";
    throw timeout;
  } finally {
    clearTimeout(timer);
    clearTimeout(hardStop);
  }
}

function worst(outcomes) {
  return outcomes.reduce((a, b) => (RANK[b] > RANK[a] ? b : a), "works");
}

function excerpt(text) {
  const flat = text.replace(/\s+/g, " ").trim();
  return JSON.stringify(flat.length > 60 ? `${flat.slice(0, 57)}...` : flat);
}

/** Token counts in one short form, whichever library's usage object carries them. */
function usageSummary(usage) {
  const input = usage.prompt_tokens ?? usage.inputTokens;
  const output = usage.completion_tokens ?? usage.outputTokens;
  return `${input ?? "?"} in / ${output ?? "?"} out`;
}

/** Judge a reply that should be text: empty text, template tokens, U+FFFD, and (when asked) missing usage or
 * reasoning. */
function judgeText(reply, { usage, reasoning }) {
  const lost = [];
  const problems = [];
  if (!reply.text.trim()) {
    lost.push("text");
    problems.push("no text");
  } else if (TEMPLATE_TOKEN.test(reply.text)) {
    problems.push(`chat-template token in the text: ${excerpt(reply.text)}`);
  } else if (reply.text.includes(REPLACEMENT)) {
    problems.push(`U+FFFD in the text (a character split across chunks): ${excerpt(reply.text)}`);
  }
  if (usage && !reply.usage) {
    lost.push("usage");
    problems.push("no usage");
  }
  if (reasoning && !reply.reasoning.trim()) {
    lost.push("reasoning");
    problems.push("no reasoning");
  }
  const seen = `text ${excerpt(reply.text)}${reply.usage ? `, usage ${usageSummary(reply.usage)}` : ""}`;
  return problems.length
    ? { outcome: "degraded", detail: `${problems.join("; ")} (${seen})`, lost }
    : { outcome: "works", detail: `${seen}${reasoning ? ", reasoning kept" : ""}`, lost };
}

/** Judge a reply that should be one get_weather call whose arguments the client made into a JSON object. */
function judgeToolCall(reply) {
  const calls = reply.calls.filter((c) => c.name === GET_WEATHER.name);
  if (calls.length === 0) {
    const text = reply.text.trim() ? `; text ${excerpt(reply.text)}` : "";
    return { outcome: "degraded", detail: `no get_weather call assembled${text}`, lost: ["tool-call"] };
  }
  const [call] = calls;
  const raw = typeof call.arguments === "string" ? call.arguments : JSON.stringify(call.arguments);
  const input = call.input;
  if (!isObject(input) || call.parseError) {
    const why = call.parseError ? `: ${call.parseError}` : "";
    const salvaged = isObject(input) ? `; the client went on with ${JSON.stringify(input)}` : "";
    return {
      outcome: "degraded",
      detail: `get_weather arguments not a JSON object (got ${excerpt(String(raw))})${why}${salvaged}`,
      lost: ["tool-call"],
    };
  }
  const extra = calls.length > 1 ? `; ${calls.length} calls instead of one` : "";
  return {
    outcome: calls.length > 1 ? "degraded" : "works",
    detail: `get_weather(${JSON.stringify(input)}) id ${JSON.stringify(call.id ?? null)}${extra}`,
    lost: calls.length > 1 ? ["tool-call"] : [],
  };
}

/** Judge what model discovery found: models the client lists, one of them the model the turn uses. Discovery only
 * adds models to those the user configured, and the client goes on without them when it fails, so a failure loses
 * the picker's models (degraded) and never the turn. */
function judgeDiscovery(found, model) {
  if (found.error) {
    return { outcome: "degraded", detail: `no model discovered: ${found.error}`, lost: ["models"] };
  }
  const ids = found.models;
  const shown = ids.slice(0, 5).map((id) => JSON.stringify(id)).join(", ") + (ids.length > 5 ? ", ..." : "");
  if (ids.length === 0) {
    return { outcome: "degraded", detail: `no model discovered: ${found.why ?? "the list names none"}`, lost: ["models"] };
  }
  if (!ids.includes(model)) {
    const detail = `${ids.length} model(s) discovered (${shown}), ${JSON.stringify(model)} not among them`;
    return { outcome: "degraded", detail, lost: ["models"] };
  }
  return { outcome: "works", detail: `${ids.length} model(s) discovered: ${shown}`, lost: [] };
}

/** Run the driver's model discovery, when its client has one, within the step deadline. Whatever goes wrong there
 * (a refusal, an unreadable body, the deadline) is what the discovery lost, never an error of the turn: the client
 * catches it and carries on with the configured models. */
async function discover(driver, req, seconds) {
  let found;
  try {
    found = await withDeadline(seconds, (signal) => driver.discover(req, signal));
  } catch (error) {
    found = { error: describeError(error) };
  }
  return judgeDiscovery(found, req.model);
}

/** A stand-in call for the follow-up when the tool-call step assembled none, so the follow-up is still measured. */
const STAND_IN = { id: "call_standin0", name: GET_WEATHER.name, input: { city: "Paris" } };

/**
 * Run one agent turn for a request line. `driver.request(req, convo, signal)` sends one streamed request as its
 * client does and returns `{text, reasoning, usage, calls: [{id, name, arguments, input, parseError?}]}`, where
 * `input` is what the client's own code made of the arguments (an object, or null when it could not), and
 * `parseError` says the arguments did not parse even where the client salvaged an object from them.
 * `convo` is `{system, user, call?, reasoning?, result?}`: the follow-up carries the assistant call (with the
 * reasoning that came with it, for clients that send it back) and the tool result.
 * A client that discovers its models first has `driver.discover(req, signal)`, returning `{models: [ids]}` (with
 * `why` when there are none) or throwing; that is the turn's first step, `discover`.
 */
export async function runTurn(driver, req) {
  const mask = masker(req.api_key);
  const seconds = Number(req.timeout_s) > 0 ? Number(req.timeout_s) : 30;
  const steps = [];
  const lost = new Set();
  let firstError = null;

  async function step(name, convo, judge) {
    try {
      const reply = await withDeadline(seconds, (signal) => driver.request(req, convo, signal));
      const verdict = judge(reply);
      verdict.lost.forEach((l) => lost.add(l));
      steps.push({ name, outcome: verdict.outcome, detail: mask(verdict.detail) });
      return reply;
    } catch (error) {
      const message = mask(describeError(error));
      firstError ??= message;
      steps.push({ name, outcome: "breaks", detail: message });
      return null;
    }
  }

  if (driver.discover) {
    const verdict = await discover(driver, req, seconds);
    verdict.lost.forEach((l) => lost.add(l));
    steps.push({ name: "discover", outcome: verdict.outcome, detail: mask(verdict.detail) });
  }
  // The turn ends at its first break, as the agent's does: the user sees the error and nothing more is sent.
  const broke = () => steps.at(-1)?.outcome === "breaks";
  await (async () => {
    await step("text", { system: SYSTEM, user: HELLO }, (r) =>
      judgeText(r, { usage: true, reasoning: req.reasoning === true }),
    );
    if (broke()) return;
    const asked = await step("tool-call", { system: SYSTEM, user: WEATHER }, judgeToolCall);
    if (broke()) return;
    const made = asked?.calls.find((c) => c.name === GET_WEATHER.name && c.id);
    const call = made ? { ...made, input: isObject(made.input) ? made.input : {} } : STAND_IN;
    const reasoning = made ? asked.reasoning : "";
    await step("tool-result", { system: SYSTEM, user: WEATHER, call, reasoning, result: TOOL_RESULT }, (r) => {
      const verdict = judgeText(r, { usage: false, reasoning: false });
      return made
        ? verdict
        : { ...verdict, detail: `${verdict.detail} (sent with a stand-in call id: no call to answer)` };
    });
  })();

  return {
    tag: req.tag ?? null,
    client: driver.client,
    library: driver.library,
    outcome: worst(steps.map((s) => s.outcome)),
    steps,
    lost: [...lost],
    error: firstError,
  };
}

function isObject(value) {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}

/** Parse JSON text the way the clients' own code does (JSON.parse), reporting failure instead of throwing. */
export function parseArguments(text) {
  try {
    return { input: JSON.parse(text) };
  } catch (error) {
    return { input: null, parseError: describeError(error) };
  }
}

let logMask = masker("");

/** Everything a library prints goes to stderr, masked: stdout carries nothing but result lines, and a hostile
 * server cannot get the key into a log by echoing it in something the library complains about. */
function guardConsole() {
  const write = (...args) => process.stderr.write(`${logMask(format(...args))}\n`);
  for (const method of ["log", "info", "warn", "error", "debug", "trace"]) console[method] = write;
}

/** A line for stderr, masked with the key of the request in hand. */
export function log(text) {
  process.stderr.write(`${logMask(text)}\n`);
}

/** The JSON Lines loop: one request per stdin line, one result line per request, in order; exit 0 at EOF.
 * It runs only when `moduleUrl` is the program node was started with, so tests can import a driver's parts. */
export async function serve(driver, moduleUrl) {
  if (!process.argv[1] || pathToFileURL(realpathSync(process.argv[1])).href !== moduleUrl) return;
  guardConsole();
  const lines = createInterface({ input: process.stdin, crlfDelay: Infinity });
  for await (const line of lines) {
    if (!line.trim()) continue;
    let result;
    try {
      const req = JSON.parse(line);
      logMask = masker(req?.api_key);
      if (!isObject(req) || typeof req.base_url !== "string" || typeof req.model !== "string") {
        throw new Error("a request needs base_url and model");
      }
      result = await runTurn(driver, req);
    } catch (error) {
      let key = "";
      try {
        key = JSON.parse(line)?.api_key ?? "";
      } catch {
        // a line that is not JSON carries no key to mask beyond what the bearer pattern catches
      }
      logMask = masker(key);
      const message = logMask(`bad request line: ${describeError(error)}`);
      result = { tag: null, client: driver.client, library: driver.library, outcome: "breaks", steps: [], lost: [] };
      result.error = message;
      log(message);
    }
    await new Promise((resolve) => process.stdout.write(`${JSON.stringify(result)}\n`, resolve));
  }
  // Keep-alive sockets of an aborted stream must not hold the process open after the last answer.
  process.exit(0);
}
