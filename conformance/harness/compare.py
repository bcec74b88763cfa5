"""Judging a loader's answer against the reference's, and saying what differs so its maintainers can act.

Acceptance is compared always, a refusal code only when the loader gives one, a model field only when the
loader produces it (numbers as numbers: ``128000 == 128000.0``, never ``true == 1``), and under the kilo profile
the requests the loader made: every expected URL fetched, with the headers the client sends there, and the key
nowhere it must not go. Error messages are for people and never compared.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from conformance.harness.cases import ROLE_WORDS, STAGE_WORDS, Exchange, Expected
from conformance.harness.exchanges import Recorded, route_key
from conformance.harness.protocol import Reply

FIELDS = (
    "contextWindow",
    "maxTokens",
    "supportsImages",
    "supportsPromptCache",
    "inputPrice",
    "outputPrice",
    "displayName",
)
PROFILES: dict[str, frozenset[str]] = {
    "kilo-provider-defined": frozenset(FIELDS) | {"code", "stage", "requests"},
    "portable": frozenset(FIELDS) - {"maxTokens", "supportsPromptCache"} | {"code", "stage", "requests"},
}
"""What each profile compares: ``kilo-provider-defined`` is the Provider Defined loader of Kilo Code PR #2670
(unreleased); ``portable`` leaves out its two quirks (max_tokens falling back to the context window, prompt
caching following ``attachment`` and cache prices)."""
PROFILES["kilo-code"] = frozenset(FIELDS) - {"supportsPromptCache"} | {"requests"}
"""``kilo-code`` is shipping Kilo Code v7: model discovery and the models.dev mapping (no prompt-caching flag)."""
PROFILE_KINDS = {
    "kilo-provider-defined": ("embedded", "hosted", "manifest", "extended"),
    "portable": ("embedded", "hosted", "manifest", "extended"),
    "kilo-code": ("discover", "catalog"),
}
"""The corpus input kinds each profile's client reads."""
ALIASES = {"kilo": "kilo-provider-defined"}
"""Older profile names, still accepted."""


def same(a: Any, b: Any) -> bool:
    """JSON equality: numbers by value whatever their spelling, booleans only as booleans."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    return a == b


def _plain(value: Any) -> Any:
    """A number as JSON would show it (``128000.0`` as ``128000``), for diffs that show real differences only."""
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        return int(value)
    return value


@dataclass(frozen=True)
class Judgement:
    problems: tuple[str, ...]
    diff: str = ""


def _models(
    expected: Mapping[str, Mapping[str, Any]], got: Mapping[str, Mapping[str, Any]], fields: frozenset[str]
) -> tuple[list[str], str]:
    problems: list[str] = []
    missing = [m for m in expected if m not in got]
    extra = [m for m in got if m not in expected]
    if missing:
        problems.append(f"it does not show {len(missing)} model(s) the reference shows: {', '.join(missing[:5])}")
    if extra:
        problems.append(f"it shows {len(extra)} model(s) the reference does not: {', '.join(extra[:5])}")
    left: dict[str, dict[str, Any]] = {}
    right: dict[str, dict[str, Any]] = {}
    for model_id in expected:
        if model_id not in got:
            left[model_id] = {k: _plain(v) for k, v in expected[model_id].items() if k in fields}
            continue
        compared = [k for k in FIELDS if k in fields and k in got[model_id]]
        for key in compared:
            want, have = expected[model_id].get(key), got[model_id][key]
            if key not in expected[model_id]:
                problems.append(
                    f"model {model_id!r}: {key} is {json.dumps(have)}; the input gives no value, leave it out"
                )
            elif not same(want, have):
                problems.append(
                    f"model {model_id!r}: {key} is {json.dumps(have)}, the reference shows {json.dumps(want)}"
                )
        left[model_id] = {k: _plain(expected[model_id][k]) for k in compared if k in expected[model_id]}
        right[model_id] = {k: _plain(got[model_id][k]) for k in compared}
    for model_id in extra:
        right[model_id] = {k: _plain(v) for k, v in got[model_id].items()}
    if not problems:
        return [], ""
    lines = difflib.unified_diff(
        json.dumps(left, indent=2, sort_keys=True, ensure_ascii=False).splitlines(),
        json.dumps(right, indent=2, sort_keys=True, ensure_ascii=False).splitlines(),
        "reference",
        "loader",
        lineterm="",
        n=2,
    )
    return problems, "\n".join(lines)


def _requests(exchanges: Sequence[Exchange], recorded: Sequence[Recorded], api_key: str | None) -> list[str]:
    problems: list[str] = []
    for exchange in exchanges:
        hits = [r for r in recorded if r.method == "GET" and r.key == route_key(exchange.url)]
        if not hits:
            problems.append(f"it did not request GET {exchange.url}: {ROLE_WORDS[exchange.response]}")
        for hit in hits:
            for name, value in exchange.headers.items():
                sent = hit.headers.get(name)
                if sent != value:
                    what = "without" if sent is None else f"with {name}: {sent!r} instead of"
                    problems.append(f"it requested {ROLE_WORDS[exchange.response]} {what} {name}: {value!r}")
            for name in exchange.absent_headers:
                if name in hit.headers:
                    problems.append(f"it sent {name} to {ROLE_WORDS[exchange.response]}, where it must not go")
            if api_key and exchange.absent_headers and any(api_key in v for v in hit.headers.values()):
                problems.append(f"it sent the API key to {ROLE_WORDS[exchange.response]} ({exchange.url})")
    return list(dict.fromkeys(problems))


def judge(
    expected: Expected,
    reply: Reply,
    *,
    recorded: Sequence[Recorded] = (),
    exchanges: Sequence[Exchange] = (),
    api_key: str | None = None,
    compared: frozenset[str] = PROFILES["kilo-provider-defined"],
) -> Judgement:
    """Everything in which ``reply`` differs from ``expected``, within what ``compared`` covers."""
    if reply.response is None:
        return Judgement((f"no usable answer: {reply.problem}",))
    problems: list[str] = []
    response = reply.response
    diff = ""
    if expected.ok and not response["ok"]:
        problems.append(f"it refused the input ({response['error']}); the reference accepts it")
    elif not expected.ok and response["ok"]:
        count = len(response["models"])
        problems.append(f"it accepted the input ({count} model(s)); the reference refuses it ({expected.code})")
    elif not expected.ok:
        if "stage" in compared and "stage" in response and expected.stage and response["stage"] != expected.stage:
            problems.append(
                f"it refused at the {STAGE_WORDS.get(response['stage'], response['stage'])}; the reference client "
                f"refuses at the {STAGE_WORDS[expected.stage]}"
            )
        if "code" in compared and "code" in response and response["code"] != expected.code:
            problems.append(f"it refused with code {response['code']!r}; the reference's code is {expected.code!r}")
    elif expected.ok and expected.models is not None:
        found, diff = _models(expected.models, response["models"], compared)
        problems += found
    if "requests" in compared:
        wrong = _requests(exchanges, recorded, api_key)
        looked_elsewhere = any(r.status == 404 for r in recorded)
        # a loader that fetched where nothing is served refused because of it: that is the cause, say it first
        problems = [*wrong, *problems] if looked_elsewhere and not response["ok"] else [*problems, *wrong]
    return Judgement(tuple(problems), diff)


def _short(value: Any, limit: int = 600) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def shown_input(case_input: Mapping[str, Any], limit: int = 600) -> str:
    """The part of a case's input a maintainer needs to see: the pasted text as written (a byte-order mark and
    all), or the manifest and the model list."""
    if "raw" in case_input:
        text = case_input["raw"]
        shown = json.dumps(text[:limit], ensure_ascii=True)
        return shown + (f" … ({len(text)} characters)" if len(text) > limit else "")
    if "manifest" not in case_input:
        return _short(case_input.get("json"), limit)
    shown = f"manifest {_short(case_input['manifest'], limit)}"
    if case_input.get("headers"):
        shown += f"; the user's headers {_short(case_input['headers'], 200)}"
    for role, label in (("extended", "the model list"), ("models_dev", "the models.dev catalog")):
        if role in case_input:
            shown += f"; {label} {_short(case_input[role], 200)}"
    return shown


def render(
    title: str,
    request: Mapping[str, Any],
    expected: Expected,
    reply: Reply,
    recorded: Sequence[Recorded],
    judgement: Judgement,
    case_input: Mapping[str, Any] | None = None,
) -> str:
    """A failed case as its maintainers need it: the case and the rule behind it, its input, what was sent,
    expected and returned, what the loader fetched, each difference (the cause first), and a diff of the mapped
    models."""
    lines = [title]
    if case_input is not None:
        lines.append(f"input:    {shown_input(case_input)}")
    lines += [f"request:  {_short(request)}", f"expected: {expected.describe()} (the reference loader)"]
    if reply.response is not None:
        lines.append(f"returned: {_short(reply.response)}")
    else:
        lines.append(f"returned: nothing usable: {reply.problem}")
        if reply.output:
            lines.append(f"  it printed: {reply.output!r}")
    if reply.stderr and (reply.response is None or judgement.problems):
        tail = reply.stderr.splitlines()[-12:]
        lines += ["stderr (last lines):", *(f"  | {line}" for line in tail)]
    if recorded:
        lines += ["requests it made:", *(f"  {r.describe()}" for r in recorded)]
    elif request.get("kind") != "embedded":
        lines.append("requests it made: none")
    lines += ["differences:", *(f"  - {p}" for p in judgement.problems)]
    if judgement.diff:
        lines += ["models (- reference, + loader; fields the loader leaves out are not compared):", judgement.diff]
    return "\n".join(lines)
