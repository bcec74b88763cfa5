#!/usr/bin/env node
// loader.js with three deliberate, realistic mistakes, to show what the harness catches and how it says so:
//
//   1. maxTokens is `limit.output || limit.context`: a published output limit of 0 is replaced by the context
//      window (`||` where `??` or an `in` test belongs);
//   2. supportsImages follows `attachment` instead of "image" in modalities.input;
//   3. the extended-models URL is built by concatenation, `baseUrl` with every trailing slash stripped plus
//      "/models?extended=true", which breaks a baseUrl that has a query.
//
//   pytest --loader-cmd="node examples/loaders/buggy-loader.js" --loader-jsonl
"use strict";

const loader = require("./loader.js");

function mapModel(id, entry) {
  const shown = loader.mapModel(id, entry);
  const limit = entry.limit ?? {};
  const maxTokens = limit.output || limit.context; // mistake 1
  if (maxTokens === undefined) delete shown.maxTokens;
  else shown.maxTokens = maxTokens;
  shown.supportsImages = entry.attachment === true; // mistake 2
  return shown;
}

function extendedModelsUrl(manifest) {
  if (manifest.models_endpoint) return loader.extendedModelsUrl(manifest);
  return manifest.baseUrl.replace(/\/+$/, "") + "/models?extended=true"; // mistake 3
}

loader.main({ mapModel, extendedModelsUrl });
