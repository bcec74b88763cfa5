"""``--real-clients``: every installed driver against the live target, and its outcome beside the suite's verdict.

What the real library did is reported as it is, next to what the suite concluded for the same client; the two are
not merged, so a disagreement shows.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from conformance.clients import drivers

DEFAULT_MAX_OUTPUT = 8192


def measure(
    base_url: str,
    model: str,
    api_key: str,
    *,
    headers: Mapping[str, str],
    reasoning: bool,
    max_output: float | None,
    timeout_s: float,
    clients: Iterable[str] = (),
) -> dict[str, dict[str, Any]]:
    """One agent turn by each client's driver (in parallel) against ``base_url`` with ``model``: the drivers of
    ``clients`` (the run's ``--client``), or every driver when none is named."""
    request = drivers.make_request(
        base_url,
        model,
        api_key,
        headers=headers,
        reasoning=reasoning,
        max_output=int(max_output) if max_output else DEFAULT_MAX_OUTPUT,
        timeout_s=timeout_s,
        tag=model,
    )
    return {client: results[0] for client, results in drivers.run_all([request], driven(clients)).items()}


def driven(clients: Iterable[str]) -> list[str]:
    """The drivers a run narrowed to ``clients`` drives (all of them when none is named)."""
    chosen = set(clients)
    return [name for name in drivers.DRIVERS if not chosen or name in chosen]


def not_run(reason: str, clients: Iterable[str] = ()) -> dict[str, dict[str, Any]]:
    """Every client the run would drive as not run, for a run that has no live target to drive them against."""
    out = {}
    for name in driven(clients):
        library = drivers.DRIVERS[name].label
        out[name] = {"client": name, "library": library, "outcome": "not-run", "steps": [], "lost": [], "error": reason}
    return out


def section(model: str | None, results: Mapping[str, Mapping[str, Any]], profiles: Mapping[str, Any]) -> dict:
    """The report's ``real_clients``: each client's real outcome, and the suite's verdict for it where it has one."""
    clients = {}
    for name, result in results.items():
        profile = profiles.get(name)
        clients[name] = {
            "outcome": result["outcome"],
            "library": result.get("library") or drivers.DRIVERS[name].label,
            "steps": list(result.get("steps", [])),
            "lost": list(result.get("lost", [])),
            "error": result.get("error"),
            "suite_verdict": profile.get("verdict") if isinstance(profile, Mapping) else None,
        }
    return {"model": model, "clients": clients}


def lines(real: Mapping[str, Any]) -> list[str]:
    """The terminal lines: one per client, its steps when it ran, the reason when it did not."""
    model = real.get("model")
    out = [f"real clients (each client's own library, one agent turn{f' with {model}' if model else ''}):"]
    for name, c in real["clients"].items():
        suite = f"; suite verdict: {c['suite_verdict']}" if c.get("suite_verdict") else ""
        if c["outcome"] in ("not-run", "error"):
            out.append(f"  {name} ({c['library']}): {c['outcome']}: {c['error']}{suite}")
            continue
        steps = ", ".join(f"{s['name']} {s['outcome']}" for s in c["steps"])
        lost = f"; lost: {', '.join(c['lost'])}" if c["lost"] else ""
        error = f"; error: {c['error']}" if c["error"] else ""
        out.append(f"  {name} ({c['library']}): {c['outcome']} ({steps}){lost}{error}{suite}")
    return out
