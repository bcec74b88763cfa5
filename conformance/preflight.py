"""One cause, said once: what makes many live checks meaningless at once, found before they run.

An endpoint that cannot be reached, one that wants a key the user did not set, or a model the endpoint does not
know would otherwise fail every check that sends a request, each with a fix of its own and most of them wrong.
``causes`` finds them from the requests the battery sends first anyway (LST-001's model list, CC-001's minimal
request, or RS-001's when the run speaks only Responses), so one item reports each cause and the items that
depend on it skip, naming it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Collection
from dataclasses import dataclass
from urllib.parse import urlsplit

from conformance.client import Exchange
from conformance.findings import Finding
from conformance.live import LiveContext, server_message

UNREACHABLE = ("could not connect", "the connection timed out")
"""How the HTTP layer begins the error of a request that reached no server."""
KEYLESS = frozenset({"LST-001", "LST-002", "LAT-001"})
"""Checks that need no key: they still run when only the chat requests asked for one."""


@dataclass(frozen=True)
class Cause:
    """One reason a group of live items cannot say anything: ``holder`` reports it, the others skip."""

    holder: tuple[str, str]
    """(check ID, subject) of the item that reports the cause."""
    finding: Finding
    note: str
    """Why the dependent items skip."""
    subject: str | None = None
    """Only items about this subject depend on it (a model); ``None``: every item."""
    spares: frozenset[str] = frozenset()
    """Checks that do not depend on it."""

    def covers(self, check_id: str, subject: str) -> bool:
        return check_id not in self.spares and self.subject in (None, subject)


def _host(url: str) -> str:
    parts = urlsplit(url)
    return parts.netloc or url


async def causes(ctx: LiveContext, subjects: Collection[str] | None = None) -> list[Cause]:
    """The causes this run has, most basic first; empty when the endpoint answers as it should. With
    ``subjects`` (an xdist worker's share), only those models are asked whether the endpoint knows them."""
    if not ctx.target.base_url:
        return []
    listing = await ctx.model_list()
    if listing.status is None and (listing.error or "").startswith(UNREACHABLE):
        return [_unreachable(ctx, listing)]
    models = [m.id for m in ctx.target.models]
    chat = "chat" in ctx.options.wire_apis and bool(models)
    first: tuple[str, Exchange] | None = None
    if chat:
        first = "CC-001", await ctx.minimal(models[0])
    elif "responses" in ctx.options.wire_apis and models:
        first = "RS-001", await ctx.plain_response(models[0])
    if not ctx.settings.api_key:
        tried = [("LST-001", listing), *([first] if first else [])]
        refused = next(((c, e) for c, e in tried if e.status in (401, 403)), None)
        if refused is not None:
            return [_no_key(ctx, *refused)]
        if all(e.status is not None and not e.ok for _, e in tried):
            return [_no_key(ctx, *tried[0], certain=False)]
    elif first is not None and first[1].status == 401 and not first[1].redirects:
        return [_key_refused(ctx, *first)]
    if not chat:
        return []
    models = [m for m in models if subjects is None or m in subjects]
    answers = await asyncio.gather(*(ctx.minimal(model) for model in models))
    return [cause for m, e in zip(models, answers, strict=True) if (cause := _unknown_model(ctx, m, e, listing))]


def _unreachable(ctx: LiveContext, listing: Exchange) -> Cause:
    host = _host(ctx.target.base_url)
    return Cause(
        ("LST-001", "endpoint"),
        Finding(
            f"cannot connect to {host}: {listing.error}",
            expected="a server answering at the base URL",
            exchange=ctx.describe(listing),
            fix=f"check that the base URL {ctx.target.base_url} is right and its server is up and reachable from "
            "here (host, port, scheme, proxy, firewall)",
            deviation="unreachable",
        ),
        f"not run: cannot connect to {host} (see LST-001)",
    )


def _no_key(ctx: LiveContext, holder: str, refused: Exchange, *, certain: bool = True) -> Cause:
    """No key was set and the endpoint refused for want of one (401/403), or (not ``certain``) it failed every
    request the suite sent first, which without a key is the first thing to rule out."""
    env = ctx.options.api_key_env
    said = server_message(refused)
    answer = f"{refused.status}" + (f' saying "{said}"' if said else "")
    on_list = holder == "LST-001"
    if certain:
        message = f"the endpoint wants an API key and none was given: ${env} is not set (it answered {answer})"
        note = f"not run: the endpoint wants an API key and ${env} is not set (see {holder})"
        fix = f"export {env}=<your key> before the run (or name another variable with --api-key-env)"
    else:
        message = f"no API key was given (${env} is not set) and every request failed: the first got {answer}"
        note = f"not run: every request failed, and ${env} is not set (see {holder})"
        fix = f"export {env}=<your key> if the endpoint needs one; if not, fix the failure the server reports"
    return Cause(
        ("LST-001", "endpoint") if on_list else (holder, ctx.target.models[0].id),
        Finding(message, expected=f"the key in ${env}", exchange=ctx.describe(refused), fix=fix, deviation="no-key"),
        note,
        spares=frozenset() if on_list else KEYLESS,
    )


def _key_refused(ctx: LiveContext, holder: str, refused: Exchange) -> Cause:
    env = ctx.options.api_key_env
    said = server_message(refused)
    return Cause(
        (holder, ctx.target.models[0].id),
        Finding(
            f"the endpoint refuses the key in ${env}: a well-formed request got 401"
            + (f' saying "{said}"' if said else ""),
            expected="the key accepted",
            exchange=ctx.describe(refused),
            fix=f"put a key this endpoint accepts in ${env}, sent as Authorization: Bearer <key>; if it wants the "
            "key in another header, give it with --provider-header",
            deviation="key-refused",
        ),
        f"not run: the endpoint refuses the key in ${env} (see {holder})",
        spares=KEYLESS,
    )


def _listed(listing: Exchange) -> list[str] | None:
    body = listing.json if listing.ok else None
    data = body.get("data") if isinstance(body, dict) else None
    if not isinstance(data, list):
        return None
    return [m["id"] for m in data if isinstance(m, dict) and isinstance(m.get("id"), str)]


def _unknown_model(ctx: LiveContext, model: str, exchange: Exchange, listing: Exchange) -> Cause | None:
    """A model the endpoint does not know: it is not listed and its request is refused, or the refusal says so
    (404, or the code model_not_found)."""
    if exchange.ok or exchange.status is None:
        return None
    listed = _listed(listing)
    error = exchange.json.get("error") if isinstance(exchange.json, dict) else None
    code = error.get("code") if isinstance(error, dict) else None
    unlisted = listed is not None and model not in listed
    if not (code == "model_not_found" or (exchange.status in (400, 404) and unlisted)):
        return None
    said = server_message(exchange)
    where = f"GET {ctx.target.url('models')} lists " + (", ".join(listed[:8]) or "none") if listed is not None else ""
    in_catalog = model in ctx.target.catalog_ids
    return Cause(
        ("CC-001", model),
        Finding(
            f"the endpoint does not know the model {model!r}: a request for it got {exchange.status}"
            + (f' saying "{said}"' if said else "")
            + (f"; {where}" if where else ""),
            expected="a model the endpoint serves",
            exchange=ctx.describe(exchange),
            fix=f"serve {model} under that id, or correct the id in the catalog"
            if in_catalog
            else "give --model one of the ids the endpoint lists",
            deviation="unknown-model",
        ),
        f"not run: the endpoint does not know the model {model!r} (see CC-001)",
        subject=model,
    )
