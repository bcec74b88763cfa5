#!/usr/bin/env node
// A Provider Defined loader for Node 20+, with no dependencies, speaking the provider-conformance loader
// protocol: a JSON request per line on stdin, a JSON response per line on stdout (README, "Testing a client's
// loader"). Written from the rules in the README and fixtures/README.md, as a client's maintainers would.
//
//   pytest --loader-cmd="node examples/loaders/loader.js" --loader-jsonl
"use strict";

const readline = require("node:readline");

const MAX_DEPTH = 64;
const FETCH_TIMEOUT_MS = 10000;
const MODELS_DEV_URL = "https://models.dev/api.json";

class Refusal extends Error {}

function refuse(message) {
  throw new Refusal(message);
}

const isObject = (value) => typeof value === "object" && value !== null && !Array.isArray(value);
const isString = (value) => typeof value === "string";

// --- strict JSON: what JSON.parse rejects, plus what it lets through but a careful client must not ------------

function nestingDepth(text) {
  let depth = 0;
  let deepest = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (inString) {
      if (c === "\\") i++;
      else if (c === '"') inString = false;
    } else if (c === '"') inString = true;
    else if (c === "[" || c === "{") deepest = Math.max(deepest, ++depth);
    else if (c === "]" || c === "}") depth--;
  }
  return deepest;
}

function assertFinite(value) {
  if (typeof value === "number" && !Number.isFinite(value)) refuse("a number is beyond the range of a double");
  if (Array.isArray(value)) value.forEach(assertFinite);
  else if (isObject(value)) Object.values(value).forEach(assertFinite);
}

function parseStrict(text) {
  if (text.startsWith("\ufeff")) refuse("the text starts with a byte-order mark");
  if (text.trim() === "") refuse("the text is empty");
  if (nestingDepth(text) > MAX_DEPTH) refuse(`arrays and objects nest deeper than ${MAX_DEPTH} levels`);
  let value;
  try {
    value = JSON.parse(text);
  } catch (error) {
    refuse(`not valid JSON: ${error.message}`);
  }
  assertFinite(value);
  return value;
}

// --- URLs: absolute http(s) URLs as a URL parser reads them, without the repairs WHATWG parsers make ---------

// eslint-disable-next-line no-control-regex
const LEADING_JUNK = /^[\u0000-\u0020]+/;
// eslint-disable-next-line no-control-regex
const TRAILING_JUNK = /[\u0000-\u0020]$/;
// eslint-disable-next-line no-control-regex
const BAD_HOST = /[\s<>"{}|\\^`\u0000-\u001f\u007f]/;

function urlProblem(value, { anyScheme = false } = {}) {
  const text = value.replace(LEADING_JUNK, "");
  const scheme = /^([A-Za-z][A-Za-z0-9+.-]*):(.*)$/s.exec(text);
  if (!scheme) return "it is not absolute (no scheme such as https://)";
  const web = ["http", "https"].includes(scheme[1].toLowerCase());
  if (!web) return anyScheme ? (scheme[2] ? null : "it has nothing after the scheme") : "its scheme is not http(s)";
  const authority = /^\/\/([^/?#]*)/.exec(scheme[2]);
  if (!authority) return "it has no host";
  const hostPort = authority[1].replace(/^.*@/, "");
  if (BAD_HOST.test(authority[1])) return "its host holds characters no URL may hold";
  const ipv6 = /^\[[^\]]*\](?::(\d*))?$/.exec(hostPort);
  const named = /^([^:[\]]*)(?::(\d*))?$/.exec(hostPort);
  if (!ipv6 && !named) return "its host does not parse";
  if (!ipv6 && !named[1]) return "it has no host";
  const port = ipv6 ? ipv6[1] : named[2];
  if (port && Number(port) > 65535) return "its port is out of range";
  try {
    new URL(text);
  } catch {
    return "it does not parse";
  }
  return null;
}

// --- the manifest --------------------------------------------------------------------------------------------

function checkManifest(manifest, sources) {
  if (!isObject(manifest)) refuse("the manifest is not an object");
  if (!isString(manifest.name) || manifest.name === "") refuse("name must be a non-empty string");
  const base = manifest.baseUrl;
  if (!isString(base) || base === "") refuse("baseUrl must be a string");
  const baseProblem = urlProblem(base) ?? (TRAILING_JUNK.test(base) ? "it ends in whitespace" : null);
  if (baseProblem) refuse(`baseUrl is not an absolute http(s) URL: ${baseProblem}`);
  if (!isString(manifest.website) || manifest.website === "") refuse("website must be a string");
  const siteProblem = urlProblem(manifest.website, { anyScheme: true });
  if (siteProblem) refuse(`website is not an absolute URL: ${siteProblem}`);
  if (!sources.includes(manifest.models_data_source)) refuse(`models_data_source must be ${sources.join(" or ")}`);
  if ("models_dev_provider_id" in manifest) {
    const id = manifest.models_dev_provider_id;
    if (!isString(id) || id === "") refuse("models_dev_provider_id must be a non-empty string");
  } else if (manifest.models_data_source === "models_dev") refuse("models_dev needs models_dev_provider_id");
  if ("models_endpoint" in manifest) {
    const endpoint = manifest.models_endpoint;
    if (!isString(endpoint) || endpoint === "") refuse("models_endpoint must be a non-empty string");
    let resolved;
    try {
      resolved = new URL(endpoint, base.replace(LEADING_JUNK, "")).href;
    } catch {
      refuse("models_endpoint does not resolve against baseUrl");
    }
    if (urlProblem(resolved)) refuse("models_endpoint does not resolve to an http(s) URL");
  }
  if ("headers" in manifest) {
    if (!isObject(manifest.headers)) refuse("headers must be an object");
    for (const [name, value] of Object.entries(manifest.headers)) {
      if (!isString(value)) refuse(`header ${name} must be a string`);
    }
  }
  return manifest;
}

function extendedModelsUrl(manifest) {
  const base = manifest.baseUrl.replace(LEADING_JUNK, "");
  if (manifest.models_endpoint !== undefined) return new URL(manifest.models_endpoint, base).href;
  const url = new URL(base);
  url.pathname = url.pathname.replace(/\/$/, "") + "/models";
  if (!url.searchParams.has("extended")) url.searchParams.append("extended", "true");
  return url.href;
}

// --- the model list and the mapping --------------------------------------------------------------------------

const BOOLEANS = ["attachment", "reasoning", "temperature", "tool_call", "open_weights"];
const STRINGS = ["id", "name", "release_date", "last_updated"];
const PRICES = ["input", "output", "cache_read", "cache_write", "reasoning", "input_audio", "output_audio"];

function checkModel(id, entry) {
  const wrong = (field) => refuse(`model ${id}: ${field} has the wrong type`);
  if (!isObject(entry)) refuse(`model ${id} is not an object`);
  for (const key of BOOLEANS) if (key in entry && typeof entry[key] !== "boolean") wrong(key);
  for (const key of STRINGS) if (key in entry && !isString(entry[key])) wrong(key);
  if ("modalities" in entry) {
    if (!isObject(entry.modalities)) wrong("modalities");
    for (const key of ["input", "output"]) {
      const list = entry.modalities[key];
      if (key in entry.modalities && !(Array.isArray(list) && list.every(isString))) wrong(`modalities.${key}`);
    }
  }
  if ("cost" in entry) {
    if (!isObject(entry.cost)) wrong("cost");
    for (const key of PRICES) if (key in entry.cost && typeof entry.cost[key] !== "number") wrong(`cost.${key}`);
  }
  if ("limit" in entry) {
    if (!isObject(entry.limit)) wrong("limit");
    for (const [key, value] of Object.entries(entry.limit)) if (typeof value !== "number") wrong(`limit.${key}`);
  }
}

function mapModel(id, entry) {
  const limit = entry.limit ?? {};
  const cost = entry.cost ?? {};
  const shown = {
    contextWindow: limit.context,
    maxTokens: "output" in limit ? limit.output : limit.context,
    supportsImages: (entry.modalities?.input ?? []).includes("image"),
    supportsPromptCache: entry.attachment === true,
    inputPrice: cost.input,
    outputPrice: cost.output,
    displayName: entry.name ? entry.name : id,
  };
  return Object.fromEntries(Object.entries(shown).filter(([, value]) => value !== undefined));
}

function loadModels(list, rules = {}) {
  if (isObject(list) && Array.isArray(list.data) && !("models" in list)) {
    refuse("this is an OpenAI model list ({data: [...]}), not an object keyed by model id in `models`");
  }
  if (!isObject(list)) refuse("the model list is not an object");
  if (!isObject(list.models)) refuse("`models` must be an object keyed by model id");
  const models = {};
  for (const [id, entry] of Object.entries(list.models)) {
    checkModel(id, entry);
    models[id] = (rules.mapModel ?? mapModel)(id, entry);
  }
  return models;
}

// --- the three requests --------------------------------------------------------------------------------------

async function getJson(url, headers) {
  let response;
  try {
    response = await fetch(url, { headers, signal: AbortSignal.timeout(FETCH_TIMEOUT_MS) });
  } catch (error) {
    refuse(`GET ${url} failed: ${error.cause?.message ?? error.message}`);
  }
  if (!response.ok) refuse(`GET ${url} answered HTTP ${response.status}`);
  return parseStrict(await response.text());
}

function lowerCased(headers) {
  return Object.fromEntries(Object.entries(headers ?? {}).map(([name, value]) => [name.toLowerCase(), value]));
}

async function fromCatalog(url, providerId, rules) {
  const catalog = await getJson(url, {});
  if (!isObject(catalog)) refuse("the models.dev catalog is not an object keyed by provider id");
  if (!Object.hasOwn(catalog, providerId)) refuse(`the models.dev catalog has no provider ${providerId}`);
  return loadModels(catalog[providerId], rules);
}

async function answer(request, rules = {}) {
  if (request.kind === "embedded") {
    const value = parseStrict(request.raw);
    if (!Array.isArray(value) || value.length < 2) refuse("embedded JSON must be an array [manifest, models]");
    checkManifest(value[0], ["embedded"]);
    return loadModels(value[1], rules);
  }
  if (request.kind === "models_dev") return fromCatalog(request.catalog_url, request.provider_id, rules);
  if (request.kind !== "hosted") refuse(`unknown request kind ${request.kind}`);
  const user = lowerCased(request.headers);
  const manifest = checkManifest(await getJson(request.manifest_url, user), ["endpoint", "models_dev"]);
  if (manifest.models_data_source === "models_dev") {
    return fromCatalog(request.models_dev_url ?? MODELS_DEV_URL, manifest.models_dev_provider_id, rules);
  }
  const headers = { ...lowerCased(manifest.headers), ...user, authorization: `Bearer ${request.api_key}` };
  return loadModels(await getJson((rules.extendedModelsUrl ?? extendedModelsUrl)(manifest), headers), rules);
}

// --- the protocol loop ---------------------------------------------------------------------------------------

async function main(rules = {}) {
  const lines = readline.createInterface({ input: process.stdin, crlfDelay: Infinity });
  for await (const line of lines) {
    if (line.trim() === "") continue;
    let response;
    try {
      response = { ok: true, models: await answer(JSON.parse(line), rules) };
    } catch (error) {
      if (!(error instanceof Refusal)) console.error(error);
      response = { ok: false, error: error.message || String(error) };
    }
    process.stdout.write(JSON.stringify(response) + "\n");
  }
}

module.exports = { main, mapModel, extendedModelsUrl };

if (require.main === module) main();
