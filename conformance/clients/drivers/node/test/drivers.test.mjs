// The drivers against a scripted OpenAI-compatible server on 127.0.0.1: the protocol, the verdicts, the key
// masking, and the places where the three clients' own code reads the same stream differently.

import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { createServer } from "node:http";
import { after, before, describe, test } from "node:test";

import { ClineToolCalls } from "../cline.mjs";
import { MarkerFilter } from "../kilo-code.mjs";
import { RawToolCalls, ThinkSplitter } from "../roo-code.mjs";

const CLIENTS = ["roo-code", "cline", "kilo-code"];
const KEY = "sk-test-secret-4242";
const DRIVERS = new URL("../", import.meta.url);

// ---- a scripted provider -------------------------------------------------------------------------------------

let script = defaultScript;
let listing = defaultListing;
const seen = [];
const listed = [];
let server;
let baseUrl;

function chunk(delta, finish = null) {
  return { id: "c1", object: "chat.completion.chunk", created: 1, model: "m", choices: [{ index: 0, delta, finish_reason: finish }] };
}

const USAGE = { id: "c1", object: "chat.completion.chunk", created: 1, model: "m", choices: [], usage: { prompt_tokens: 3, completion_tokens: 2, total_tokens: 5 } };

function asksForTool(body) {
  const last = body.messages.at(-1);
  const text = typeof last.content === "string" ? last.content : (last.content ?? []).map((p) => p.text ?? "").join("");
  return last.role === "user" && /\btool\b/.test(text) && Array.isArray(body.tools);
}

function toolStream(fragments) {
  return [chunk({ role: "assistant", content: "" }), ...fragments.map((f) => chunk({ tool_calls: [f] })), chunk({}, "tool_calls"), USAGE];
}

const CALL = [
  { index: 0, id: "call_1", type: "function", function: { name: "get_weather", arguments: "" } },
  { index: 0, function: { arguments: '{"city":' } },
  { index: 0, function: { arguments: '"Paris"}' } },
];

function defaultScript(body) {
  if (asksForTool(body)) return { events: toolStream(CALL) };
  const words = [chunk({ role: "assistant", content: "" }), chunk({ reasoning_content: "Hmm." }), chunk({ content: "Hello" })];
  return { events: [...words, chunk({ content: " there." }), chunk({}, "stop"), USAGE] };
}

function defaultListing() {
  return { status: 200, json: { object: "list", data: [{ id: "m", object: "model" }, { id: "other", object: "model" }] } };
}

function sse(res, events, { end = true } = {}) {
  res.writeHead(200, { "content-type": "text/event-stream" });
  for (const event of events) res.write(`data: ${JSON.stringify(event)}\n\n`);
  if (end) res.end("data: [DONE]\n\n");
}

before(async () => {
  server = createServer((req, res) => {
    if (req.method === "GET") {
      listed.push({ url: req.url, headers: req.headers });
      const answer = listing(req);
      if (answer.hang) return;
      res.writeHead(answer.status, { "content-type": "application/json" });
      res.end(answer.raw ?? JSON.stringify(answer.json));
      return;
    }
    let raw = "";
    req.on("data", (d) => (raw += d));
    req.on("end", () => {
      const body = JSON.parse(raw);
      seen.push({ headers: req.headers, body });
      const answer = script(body, req);
      if (answer.status) {
        res.writeHead(answer.status, { "content-type": "application/json" });
        res.end(JSON.stringify(answer.json));
      } else {
        sse(res, answer.events, { end: answer.end ?? true });
      }
    });
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  baseUrl = `http://127.0.0.1:${server.address().port}/v1`;
});

after(() => {
  server.closeAllConnections();
  server.close();
});

function request(extra = {}) {
  return { tag: "t", base_url: baseUrl, model: "m", api_key: KEY, headers: {}, reasoning: true, max_output: 512, timeout_s: 30, ...extra };
}

/** Run a driver as the runner does: lines in, lines out, and its exit status. */
function runDriver(client, lines) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [`${client}.mjs`], { cwd: DRIVERS });
    let out = "";
    let err = "";
    child.stdout.on("data", (d) => (out += d));
    child.stderr.on("data", (d) => (err += d));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, out, err, results: out.trim().split("\n").filter(Boolean).map((l) => JSON.parse(l)) }));
    child.stdin.end(lines.map((l) => (typeof l === "string" ? l : JSON.stringify(l))).join("\n") + "\n");
  });
}

async function turn(client, extra) {
  const { code, results } = await runDriver(client, [request(extra)]);
  assert.equal(code, 0);
  return results[0];
}

function steps(result) {
  return Object.fromEntries(result.steps.map((s) => [s.name, s.outcome]));
}

// ---- the protocol and the verdicts -----------------------------------------------------------------------------

describe("a well-behaved provider", () => {
  for (const client of CLIENTS) {
    test(`${client}: the whole turn works and the follow-up answers the provider's call id`, async () => {
      script = defaultScript;
      seen.length = 0;
      const result = await turn(client);
      assert.equal(result.outcome, "works", JSON.stringify(result));
      const names = client === "kilo-code" ? ["discover", "text", "tool-call", "tool-result"] : ["text", "tool-call", "tool-result"];
      assert.deepEqual(Object.keys(steps(result)), names);
      assert.equal(result.client, client);
      assert.equal(result.tag, "t");
      assert.match(result.library, /@\d+\.\d+\.\d+/);
      assert.deepEqual(result.lost, []);
      assert.equal(result.error, null);
      const followUp = seen.at(-1).body.messages;
      assert.equal(followUp.at(-1).role, "tool");
      assert.equal(followUp.at(-1).tool_call_id, "call_1");
      assert.equal(followUp.at(-2).tool_calls[0].id, "call_1");
      assert.deepEqual(JSON.parse(followUp.at(-2).tool_calls[0].function.arguments), { city: "Paris" });
    });
  }
});

describe("what each client sends", () => {
  test("roo-code: temperature 0, strict tools, no token limit; cline: max_tokens, no temperature; kilo-code: max_tokens", async () => {
    script = defaultScript;
    const bodies = {};
    for (const client of CLIENTS) {
      seen.length = 0;
      await turn(client);
      bodies[client] = seen[0].body;
      assert.deepEqual(bodies[client].stream_options, { include_usage: true }, client);
      assert.equal(bodies[client].tool_choice, "auto", client);
    }
    assert.equal(bodies["roo-code"].temperature, 0);
    assert.equal(bodies["roo-code"].tools[0].function.strict, true);
    assert.equal("max_tokens" in bodies["roo-code"], false);
    assert.equal("temperature" in bodies.cline, false);
    assert.equal(bodies.cline.max_tokens, 512);
    assert.equal(bodies.cline.parallel_tool_calls, false);
    assert.equal(bodies["kilo-code"].max_tokens, 512);
    assert.equal("temperature" in bodies["kilo-code"], false);
  });
});

describe("the same stream, read three ways", () => {
  test("a call whose first fragment has no id: Roo and Cline lose it, Kilo's library refuses the stream", async () => {
    script = (body) =>
      asksForTool(body)
        ? {
            events: toolStream([
              { index: 0, type: "function", function: { name: "get_weather", arguments: '{"city":' } },
              { index: 0, id: "call_1", function: { arguments: '"Paris"}' } },
            ]),
          }
        : defaultScript(body);
    const outcomes = {};
    for (const client of CLIENTS) outcomes[client] = steps(await turn(client))["tool-call"];
    assert.deepEqual(outcomes, { "roo-code": "degraded", cline: "degraded", "kilo-code": "breaks" });
  });

  test("reasoning inside <think> tags: only Roo keeps it as reasoning", async () => {
    script = (body) =>
      asksForTool(body)
        ? defaultScript(body)
        : { events: [chunk({ content: "<think>pondering</think>" }), chunk({ content: "Hello." }), chunk({}, "stop"), USAGE] };
    const results = {};
    for (const client of CLIENTS) results[client] = await turn(client);
    assert.equal(steps(results["roo-code"]).text, "works");
    assert.equal(steps(results.cline).text, "degraded");
    assert.equal(steps(results["kilo-code"]).text, "degraded");
    assert.ok(results.cline.lost.includes("reasoning"));
  });

  test("a chat-template token in the text degrades every client", async () => {
    script = (body) =>
      asksForTool(body)
        ? defaultScript(body)
        : { events: [chunk({ reasoning_content: "Hmm." }), chunk({ content: "<|im_start|>assistant\nHi" }), chunk({}, "stop"), USAGE] };
    for (const client of CLIENTS) {
      const result = await turn(client);
      assert.equal(steps(result).text, "degraded", client);
      assert.match(result.steps.find((s) => s.name === "text").detail, /chat-template token/);
    }
  });

  test("a character split across chunks into U+FFFD degrades every client", async () => {
    script = (body) =>
      asksForTool(body)
        ? defaultScript(body)
        : { events: [chunk({ reasoning_content: "Hmm." }), chunk({ content: "21 \uFFFD" }), chunk({ content: "\uFFFDC" }), chunk({}, "stop"), USAGE] };
    for (const client of CLIENTS) {
      const result = await turn(client);
      assert.equal(steps(result).text, "degraded", client);
      assert.match(result.steps.find((s) => s.name === "text").detail, /U\+FFFD/);
    }
  });
});

describe("errors, deadlines and the key", () => {
  test("an error that echoes the key is reported with the key masked, in results and logs", async () => {
    script = (_body, req) => ({
      status: 400,
      json: { error: { message: `bad request from ${req.headers.authorization} (${encodeURIComponent(KEY)})`, type: "invalid_request_error" } },
    });
    for (const client of CLIENTS) {
      const { code, out, err, results } = await runDriver(client, [request()]);
      assert.equal(code, 0);
      assert.equal(results[0].outcome, "breaks");
      assert.match(results[0].error, /400/);
      assert.ok(!out.includes(KEY) && !err.includes(KEY), `${client} leaked the key`);
      assert.ok(!out.includes(encodeURIComponent(KEY)));
    }
  });

  test("a stream that never ends breaks at the deadline instead of holding the driver", async () => {
    script = () => ({ events: [chunk({ content: "Hel" })], end: false });
    for (const client of CLIENTS) {
      const result = await turn(client, { timeout_s: 1 });
      assert.equal(result.outcome, "breaks", client);
      assert.match(result.steps.find((s) => s.name === "text").detail, /timed out after 1 s/, client);
    }
  });

  test("one result line per request, in order, a bad line answered too, exit 0 at EOF", async () => {
    script = defaultScript;
    const { code, results } = await runDriver("roo-code", [request({ tag: 1 }), "not json", request({ tag: 3 })]);
    assert.equal(code, 0);
    assert.deepEqual(results.map((r) => r.tag), [1, null, 3]);
    assert.equal(results[1].outcome, "breaks");
    assert.match(results[1].error, /bad request line/);
    assert.equal(results[2].outcome, "works");
  });
});

describe("Kilo's model discovery", () => {
  function discovery(result) {
    return result.steps.find((s) => s.name === "discover");
  }

  test("GET {base_url}/models with the headers and the key as Bearer; the model in use is found", async () => {
    script = defaultScript;
    listing = defaultListing;
    listed.length = 0;
    const result = await turn("kilo-code", { headers: { "X-Team": "blue" } });
    assert.equal(discovery(result).outcome, "works");
    assert.match(discovery(result).detail, /2 model\(s\) discovered: "m", "other"/);
    assert.equal(listed.length, 1);
    assert.equal(listed[0].url, "/v1/models");
    assert.equal(listed[0].headers.authorization, `Bearer ${KEY}`);
    assert.equal(listed[0].headers["x-team"], "blue");
  });

  test("an Authorization header of the user's own replaces the key", async () => {
    listing = defaultListing;
    listed.length = 0;
    await turn("kilo-code", { headers: { authorization: "Token abc" } });
    assert.equal(listed[0].headers.authorization, "Token abc");
  });

  test("a list Kilo cannot read loses the models and not the turn", async () => {
    script = defaultScript;
    const cases = [
      [() => ({ status: 404, json: { error: { message: "no" } } }), /no model discovered: unexpected status 404/],
      [() => ({ status: 200, json: [{ id: "m" }] }), /no model discovered: the body has no data array/],
      [() => ({ status: 200, raw: "{not json" }), /no model discovered: .*JSON/],
      [() => ({ status: 200, json: { data: [{ name: "m" }] } }), /no entry of data has a string id/],
      [() => ({ status: 200, json: { data: [{ id: "other" }] } }), /1 model\(s\) discovered \("other"\), "m" not among them/],
    ];
    for (const [answer, said] of cases) {
      listing = answer;
      const result = await turn("kilo-code");
      assert.equal(discovery(result).outcome, "degraded");
      assert.match(discovery(result).detail, said);
      assert.equal(result.outcome, "degraded");
      assert.deepEqual(result.lost, ["models"]);
      assert.equal(result.error, null);
      assert.equal(steps(result).text, "works");
    }
  });

  test("a list that never comes is given up at the deadline, and the turn goes on", async () => {
    script = defaultScript;
    listing = () => ({ hang: true });
    const result = await turn("kilo-code", { timeout_s: 1 });
    assert.match(discovery(result).detail, /no model discovered: Timeout: timed out after 1 s/);
    assert.equal(steps(result)["tool-result"], "works");
    listing = defaultListing;
  });
});

// ---- the clients' stream logic, restated ----------------------------------------------------------------------

describe("Roo's <think> splitter", () => {
  test("a tag split across chunks, at the start, becomes reasoning", () => {
    const think = new ThinkSplitter();
    for (const piece of ["<th", "ink>a", "b</thi", "nk>Hi"]) think.update(piece);
    think.final();
    assert.deepEqual([think.reasoning, think.text], ["ab", "Hi"]);
  });

  test("a tag after text, or another token, stays text", () => {
    for (const input of ["Hi <think>x</think>", "<|im_start|>x"]) {
      const think = new ThinkSplitter();
      think.update(input);
      think.final();
      assert.deepEqual([think.reasoning, think.text], ["", input]);
    }
  });
});

describe("Roo's tool-call tracking", () => {
  test("fragments are keyed by index, and a call starts at its id", () => {
    const calls = new RawToolCalls();
    calls.add({ index: 0, function: { arguments: "lost" } });
    calls.add({ index: 0, id: "a", function: { name: "get_weather", arguments: '{"city":' } });
    calls.add({ index: 1, id: "b", function: { name: "get_weather", arguments: "{}" } });
    calls.add({ index: 0, function: { arguments: '"Rome"}' } });
    const [first, second] = calls.finalize();
    assert.deepEqual(first.input, { city: "Rome" });
    assert.deepEqual([second.id, second.input], ["b", {}]);
  });
});

describe("Cline's tool-call handling", () => {
  test("arguments that do not parse are salvaged field by field, and the failure is kept", () => {
    const calls = new ClineToolCalls();
    calls.add([{ index: 0, id: "a", function: { name: "get_weather", arguments: '{"city": "Par' } }]);
    const [call] = calls.finalize();
    assert.deepEqual(call.input, { city: "Par" });
    assert.ok(call.parseError);
  });

  test("a fragment without an index takes its position in the chunk", () => {
    const calls = new ClineToolCalls();
    calls.add([{ id: "a", function: { name: "get_weather", arguments: '{"city":' } }]);
    calls.add([{ function: { arguments: '"Oslo"}' } }]);
    assert.deepEqual(calls.finalize()[0].input, { city: "Oslo" });
  });
});

describe("Kilo's end-of-thinking marker filter", () => {
  test("a leading marker is dropped, even split across deltas; other text passes", () => {
    const filter = new MarkerFilter();
    assert.equal(filter.push("t", "</thi"), "");
    assert.equal(filter.push("t", "nk>Hello"), "Hello");
    assert.equal(new MarkerFilter().push("u", "<|end_of_thinking|>x"), "x");
    assert.equal(new MarkerFilter().push("v", "Hello"), "Hello");
  });
});
