#!/usr/bin/env node
// A Provider Defined loader for Node 20+, with no dependencies, speaking the provider-conformance loader
// protocol: a JSON request per line on stdin, a JSON response per line on stdout (README, "Testing a client's
// loader"). Written from the rules in the README and fixtures/README.md, as a client's maintainers would.
//
//   pytest --loader-cmd="node examples/loaders/loader.js" --loader-jsonl
"use strict";

const readline = require("node:readline");

const FETCH_TIMEOUT_MS = 10000;
const MODELS_DEV_URL = "https://models.dev/api.json";

// Where a refusal happens: "parse" (the pasted text), "schema" (a document is read and refused) or "fetch".
class Refusal extends Error {
  constructor(message, stage) {
    super(message);
    this.stage = stage;
  }
}

function refuse(message, stage = "schema") {
  throw new Refusal(message, stage);
}

const isObject = (value) => typeof value === "object" && value !== null && !Array.isArray(value);
const isString = (value) => typeof value === "string";

// --- pasted text: trimmed (a byte-order mark with it), then JSON.parse ----------------------------------------

function parsePasted(raw) {
  const text = raw.trim();
  if (text === "") refuse("the text is empty", "parse");
  try {
    return JSON.parse(text); // no depth limit; 1e400 is Infinity
  } catch (error) {
    refuse(`not valid JSON: ${error.message}`, "parse");
  }
}

// --- the manifest --------------------------------------------------------------------------------------------

function isUrl(value) {
  try {
    new URL(value);
    return true;
  } catch {
    return false;
  }
}

function checkManifest(manifest, sources) {
  if (!isObject(manifest)) refuse("the manifest is not an object");
  if (!isString(manifest.name) || manifest.name === "") refuse("name must be a non-empty string");
  for (const key of ["baseUrl", "website"]) {
    const value = manifest[key];
    if (!isString(value) || value.trim() === "" || !isUrl(value.trim())) refuse(`${key} must be a URL`);
  }
  if (!sources.includes(manifest.models_data_source)) refuse(`models_data_source must be ${sources.join(" or ")}`);
  for (const key of ["models_dev_provider_id", "models_endpoint"]) {
    if (key in manifest && !isString(manifest[key])) refuse(`${key} must be a string`);
  }
  if (manifest.models_data_source === "models_dev" && !manifest.models_dev_provider_id) {
    refuse("models_dev needs models_dev_provider_id");
  }
  if ("headers" in manifest) {
    if (!isObject(manifest.headers)) refuse("headers must be an object");
    for (const [name, value] of Object.entries(manifest.headers)) {
      if (!isString(value)) refuse(`header ${name} must be a string`);
    }
  }
  return { ...manifest, baseUrl: manifest.baseUrl.trim(), website: manifest.website.trim() };
}

function extendedModelsUrl(manifest) {
  let url;
  if (manifest.models_endpoint) {
    try {
      url = new URL(manifest.models_endpoint, manifest.baseUrl);
    } catch {
      refuse("models_endpoint does not resolve against baseUrl", "fetch");
    }
  } else {
    url = new URL(manifest.baseUrl.replace(/\/$/, ""));
    url.pathname = url.pathname.replace(/\/$/, "") + "/models";
  }
  if (!url.searchParams.has("extended")) url.searchParams.set("extended", "true");
  return url.href;
}

// --- the model list and the mapping --------------------------------------------------------------------------

const TYPED = {
  id: "string",
  name: "string",
  description: "string",
  display_name: "string",
  reasoning: "boolean",
  temperature: "boolean",
  attachment: "boolean",
  tool_call: "boolean",
  open_weights: "boolean",
};
const NESTED = {
  modalities: ["input", "output"],
  cost: ["input", "output", "cache_read", "cache_write"],
  limit: ["context", "output"],
};

function checkModel(id, entry) {
  const wrong = (field) => refuse(`model ${id}: ${field} has the wrong type`);
  if (!isObject(entry)) refuse(`model ${id} is not an object`);
  for (const [key, type] of Object.entries(TYPED)) if (key in entry && typeof entry[key] !== type) wrong(key);
  for (const [key, fields] of Object.entries(NESTED)) {
    if (!(key in entry)) continue;
    if (!isObject(entry[key])) wrong(key);
    for (const field of fields) {
      if (!(field in entry[key])) continue;
      const value = entry[key][field];
      const ok = key === "modalities" ? Array.isArray(value) && value.every(isString) : typeof value === "number";
      if (!ok) wrong(`${key}.${field}`);
    }
  }
}

const hasImage = (list) => (list ?? []).some((value) => value.toLowerCase() === "image");

function mapModel(id, entry) {
  const limit = entry.limit ?? {};
  const cost = entry.cost ?? {};
  const shown = {
    contextWindow: limit.context,
    maxTokens: limit.output ?? limit.context,
    supportsImages: hasImage(entry.modalities?.input) || hasImage(entry.modalities?.output),
    supportsPromptCache:
      entry.supports_prompt_cache === true ||
      (cost.cache_write ?? cost.cache_read) !== undefined ||
      entry.attachment === true,
    inputPrice: cost.input,
    outputPrice: cost.output,
    displayName: entry.name ?? entry.display_name ?? entry.id ?? id,
  };
  // a value the input does not give is left out, and so is a number JSON cannot write (Infinity)
  const known = ([, value]) => value !== undefined && !(typeof value === "number" && !Number.isFinite(value));
  return Object.fromEntries(Object.entries(shown).filter(known));
}

function loadModels(list, rules = {}) {
  if (!isObject(list)) refuse("the model list is not an object");
  const models = "models" in list ? list.models : {}; // a list without `models` has no model
  if (!isObject(models)) refuse("`models` must be an object keyed by model id");
  const shown = {};
  for (const [id, entry] of Object.entries(models)) {
    checkModel(id, entry);
    shown[id] = (rules.mapModel ?? mapModel)(id, entry);
  }
  return shown;
}

// --- the three requests --------------------------------------------------------------------------------------

async function getJson(url, headers) {
  if (!/^https?:$/.test(new URL(url).protocol)) refuse(`cannot fetch ${url}: not http(s)`, "fetch");
  let response;
  try {
    response = await fetch(url, { headers, signal: AbortSignal.timeout(FETCH_TIMEOUT_MS) });
  } catch (error) {
    refuse(`GET ${url} failed: ${error.cause?.message ?? error.message}`, "fetch");
  }
  if (!response.ok) refuse(`GET ${url} answered HTTP ${response.status}`, "fetch");
  const text = (await response.text()).replace(/^\ufeff/, "");
  try {
    return JSON.parse(text);
  } catch {
    refuse(`GET ${url}: not JSON`);
  }
}

function lowerCased(headers) {
  return Object.fromEntries(Object.entries(headers ?? {}).map(([name, value]) => [name.toLowerCase(), value]));
}

async function fromCatalog(url, providerId, headers, rules) {
  const catalog = await getJson(url, headers);
  if (!isObject(catalog)) refuse("the models.dev catalog is not an object keyed by provider id");
  const shown = {};
  for (const [id, entry] of Object.entries(catalog)) {
    for (const key of ["id", "api", "name"]) if (isObject(entry) && key in entry && !isString(entry[key])) refuse(key);
    shown[id] = loadModels(entry, rules); // every provider must load, not only the one asked for
  }
  if (!Object.hasOwn(catalog, providerId)) refuse(`the models.dev catalog has no provider ${providerId}`);
  return shown[providerId];
}

async function answer(request, rules = {}) {
  if (request.kind === "embedded") {
    const value = parsePasted(request.raw);
    if (!Array.isArray(value) || value.length < 2) refuse("embedded JSON must be an array [manifest, models]");
    checkManifest(value[0], ["embedded"]);
    return loadModels(value[1], rules);
  }
  if (request.kind === "models_dev") return fromCatalog(request.catalog_url, request.provider_id, {}, rules);
  if (request.kind !== "hosted") refuse(`unknown request kind ${request.kind}`);
  const user = lowerCased(request.headers);
  const manifest = checkManifest(await getJson(request.manifest_url, user), ["endpoint", "models_dev"]);
  if (manifest.models_data_source === "models_dev") {
    return fromCatalog(request.models_dev_url ?? MODELS_DEV_URL, manifest.models_dev_provider_id, user, rules);
  }
  const headers = { ...lowerCased(manifest.headers), ...user };
  if (request.api_key && !headers.authorization) headers.authorization = `Bearer ${request.api_key}`;
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
      if (error instanceof Refusal) response.stage = error.stage;
    }
    process.stdout.write(JSON.stringify(response) + "\n");
  }
}

module.exports = { main, mapModel, extendedModelsUrl };

if (require.main === module) main();
