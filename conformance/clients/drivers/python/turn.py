"""What every Python driver shares: the JSON Lines loop, the three requests of one agent turn, and how what the real
library gave back is judged. A driver module supplies only its client's own code path (a ``Client``).

Drivers run in their own interpreter (the drivers' venv, Python >= 3.12 for kosong), where the suite itself is not
installed; the one piece of the suite they use, the secret masking, is loaded from its file, not copied.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import re
import ssl
import sys
import traceback
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from functools import cache
from importlib import metadata
from pathlib import Path
from typing import Any, Protocol

SYSTEM = "You are a coding assistant. Answer briefly."
HELLO = "Say hello in one short sentence."
WEATHER = "What is the weather in Paris? Use the get_weather tool."
TOOL_OUTPUT = "Sunny, 21 °C"
TOOL_NAME = "get_weather"
TOOL_DESCRIPTION = "Get the current weather in a city."
TOOL_PARAMETERS: dict[str, Any] = {
    "type": "object",
    "properties": {"city": {"type": "string", "description": "The city, e.g. Paris."}},
    "required": ["city"],
}
STAND_IN_ID = "call_stand_in_1"
TEMPLATE_TOKEN = re.compile(r"<\|[A-Za-z0-9_]+\|>")
"""Chat-template tokens (``<|im_start|>``, ``<|channel|>`` …): in reply text they mean the template leaked."""
REPLACEMENT = "\ufffd"
"""What a character cut across chunks and decoded in halves becomes; the user sees it in place of the character."""
TEXT_STEPS = ("text", "tool-result", "compaction")
"""Steps whose reply must hold text (``compaction``: a summary, the one extra step a client may add)."""
DETAIL_CHARS = 300
DEADLINE_SLACK_S = 10.0
"""Time a step gets beyond its attempts' timeouts, for the client's back-off between attempts."""


def _load_redact() -> Any:
    path = Path(__file__).resolve().parents[3] / "redact.py"
    spec = importlib.util.spec_from_file_location("_conformance_redact", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_redact = _load_redact()

ssl.create_default_context = cache(ssl.create_default_context)
"""Every SDK client builds a TLS context of its own, reading the whole CA bundle (about 35 ms of CPU, most of what a
step costs here); built alike each time, one per set of arguments serves every client of the process."""


@dataclass(frozen=True)
class Request:
    """One request line: where the provider is and how the turn is to be run (the key only ever in memory)."""

    tag: Any
    base_url: str
    root: str
    model: str
    api_key: str = field(repr=False)
    headers: dict[str, str]
    reasoning: bool
    max_output: int
    timeout_s: float

    @classmethod
    def parse(cls, line: str) -> Request:
        data = json.loads(line)
        if not isinstance(data, dict):
            raise ValueError("a request line must be a JSON object")
        headers = data.get("headers") or {}
        if not isinstance(headers, dict):
            raise ValueError("headers must be an object")
        return cls(
            tag=data.get("tag"),
            base_url=str(data["base_url"]),
            root=str(data.get("root") or data["base_url"].removesuffix("/v1")),
            model=str(data["model"]),
            api_key=str(data.get("api_key") or ""),
            headers={str(k): str(v) for k, v in headers.items()},
            reasoning=bool(data.get("reasoning", False)),
            max_output=int(data.get("max_output") or 8192),
            timeout_s=float(data.get("timeout_s") or 30),
        )


@dataclass
class Call:
    """A tool call as the client holds it once the library has parsed the stream."""

    id: str
    name: str
    arguments: Any
    """As the library gave them: a JSON string for Chat Completions and Responses, an object for Messages."""

    def parsed_arguments(self) -> Any:
        if isinstance(self.arguments, str):
            try:
                return json.loads(self.arguments)
            except ValueError:
                return None
        return self.arguments


STAND_IN = Call(STAND_IN_ID, TOOL_NAME, json.dumps({"city": "Paris"}))
"""The call the follow-up answers when the tool-call step gave no usable one, so the follow-up is still tried."""


@dataclass
class Reply:
    """What the client kept of one streamed reply."""

    text: str = ""
    reasoning: str = ""
    output_tokens: int | None = None
    """Output tokens from the usage the client read; None when it read none."""
    calls: list[Call] = field(default_factory=list)
    history: Any = None
    """What the client appends to its history from this reply (for the tool-result follow-up)."""
    complete: bool = True
    """False when the library handed over a reply that never finished (no stop reason): its end was lost."""


class Client(Protocol):
    """One client's code path over its real library."""

    name: str
    distribution: str
    """The library's distribution name, for ``library`` (``kosong``, ``openai``, ``anthropic``)."""
    attempts: int
    """How many times the client sends one request at most (its own retries included)."""

    def reads_reasoning(self, request: Request) -> bool:
        """Whether this client, configured as the driver configures it, shows reasoning at all."""

    async def text(self, request: Request) -> Reply: ...

    async def tool_call(self, request: Request) -> Reply: ...

    async def tool_result(self, request: Request, call: Call, previous: Reply | None) -> Reply:
        """The follow-up answering ``call``: after ``previous`` as the client keeps it in its history, or, when
        None, after an assistant turn holding only ``call`` (the stand-in)."""


@dataclass
class Step:
    name: str
    outcome: str
    detail: str
    lost: list[str] = field(default_factory=list)
    error: str | None = None

    def to_json(self) -> dict[str, str]:
        return {"name": self.name, "outcome": self.outcome, "detail": self.detail}


def one_line(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= DETAIL_CHARS else text[: DETAIL_CHARS - 1] + "…"


def describe_error(exc: BaseException) -> str:
    """The error as a user of the client would read it: type and message, one line."""
    if isinstance(exc, TimeoutError | asyncio.TimeoutError):
        return "timed out: the client got no complete reply in time"
    message = str(exc) or repr(exc)
    return one_line(f"{type(exc).__name__}: {message}")


def judge(name: str, reply: Reply, request: Request, client: Client) -> Step:
    """``works`` or ``degraded`` for a step the library completed: what it silently lost, or leaked."""
    lost: list[str] = []
    notes: list[str] = []
    if name in TEXT_STEPS and not (reply.text.strip() and reply.complete):
        lost.append("text")
        if reply.text.strip():
            notes.append("the reply ended without a stop reason, cut short")
    if name == "text" and not reply.output_tokens:
        lost.append("usage")
    if name == "text" and request.reasoning and client.reads_reasoning(request) and not reply.reasoning.strip():
        lost.append("reasoning")
    if name == "tool-call":
        usable = [c for c in reply.calls if isinstance(c.parsed_arguments(), dict)]
        if len(reply.calls) != 1 or len(usable) != 1:
            lost.append("tool-call")
            notes.append(
                f"the client holds {len(reply.calls)} tool call(s), {len(usable)} with arguments that parse to an "
                "object (one expected)"
            )
    leak = TEMPLATE_TOKEN.search(reply.text)
    if leak:
        notes.append(f"chat-template token {leak.group(0)} in the reply text")
    garbled = REPLACEMENT in reply.text
    if garbled:
        notes.append(
            f"U+FFFD in the reply text (a character split across chunks), {reply.text.count(REPLACEMENT)} times"
        )
    if lost:
        notes.insert(0, "lost: " + ", ".join(lost))
    if lost or leak or garbled:
        return Step(name, "degraded", one_line("; ".join(notes)), lost)
    seen = [f"{len(reply.text)} characters of text"] if reply.text else []
    if reply.calls:
        seen.append(f"{reply.calls[0].name}({one_line(json.dumps(reply.calls[0].parsed_arguments()))})")
    if reply.output_tokens:
        seen.append(f"{reply.output_tokens} output tokens")
    if reply.reasoning:
        seen.append(f"{len(reply.reasoning)} characters of reasoning")
    elif name == "text" and request.reasoning and not client.reads_reasoning(request):
        seen.append("reasoning not read by this client as configured")
    return Step(name, "works", one_line(", ".join(seen) or "complete"))


async def _attempt(
    name: str, make: Callable[[], Awaitable[Reply]], request: Request, client: Client, mask: Callable[[str], str]
) -> Reply | Step:
    deadline = request.timeout_s * client.attempts + DEADLINE_SLACK_S
    try:
        return await asyncio.wait_for(make(), deadline)
    except Exception as exc:
        print(mask(f"{client.name} {name}: {traceback.format_exception_only(exc)[-1].strip()}"), file=sys.stderr)
        text = mask(describe_error(exc))
        return Step(name, "breaks", text, error=text)


async def run_turn(request: Request, client: Client, mask: Callable[[str], str]) -> list[Step]:
    """The three requests of one agent turn, each exactly as the client sends it, then any request of the client's
    own that the turn does not make but every session does (``extra_steps``: Kimi's compaction). The turn ends at
    its first break, as the agent's does: the user sees the error and nothing more is sent."""
    steps: list[Step] = []

    def broke(outcome: Reply | Step, name: str) -> bool:
        steps.append(outcome if isinstance(outcome, Step) else judge(name, outcome, request, client))
        return steps[-1].outcome == "breaks"

    if broke(await _attempt("text", lambda: client.text(request), request, client, mask), "text"):
        return steps
    called = await _attempt("tool-call", lambda: client.tool_call(request), request, client, mask)
    if broke(called, "tool-call"):
        return steps
    usable = [] if isinstance(called, Step) else [c for c in called.calls if isinstance(c.parsed_arguments(), dict)]
    call, previous = (usable[0], called) if usable and isinstance(called, Reply) else (STAND_IN, None)
    answered = await _attempt("tool-result", lambda: client.tool_result(request, call, previous), request, client, mask)
    if broke(answered, "tool-result"):
        return steps
    if previous is None:
        steps[-1].detail = one_line(f"{steps[-1].detail} (sent with a stand-in call: step 2 gave no usable one)")
    more: Callable[[Request], list[tuple[str, Callable[[], Awaitable[Reply]]]]] | None
    more = getattr(client, "extra_steps", None)
    for name, make in more(request) if more else ():
        if broke(await _attempt(name, make, request, client, mask), name):
            break
    return steps


OUTCOMES = ("works", "degraded", "breaks")


def result(request: Request, client: Client, steps: list[Step]) -> dict[str, Any]:
    """One result line; the turn is as bad as its worst step."""
    lost = [kind for kind in ("text", "usage", "reasoning", "tool-call") if any(kind in s.lost for s in steps)]
    return {
        "tag": request.tag,
        "client": client.name,
        "library": f"{client.distribution}@{metadata.version(client.distribution)}",
        "outcome": max((s.outcome for s in steps), key=OUTCOMES.index),
        "steps": [s.to_json() for s in steps],
        "lost": lost,
        "error": next((s.error for s in steps if s.error), None),
    }


def serve(client: Client) -> int:
    """Answer request lines from stdin, one result line each, until EOF. Secrets are masked in every line out."""
    for line in sys.stdin:
        if not line.strip():
            continue
        try:
            request = Request.parse(line)
        except (ValueError, KeyError, TypeError) as exc:
            out: dict[str, Any] = {"tag": None, "client": client.name, "outcome": "error", "steps": [], "lost": []}
            out["error"] = one_line(f"unreadable request line: {type(exc).__name__}: {exc}")
            print(json.dumps(out), flush=True)
            continue
        redactor = _redact.Redactor([request.api_key, *request.headers.values()])
        steps = asyncio.run(run_turn(request, client, redactor.text))
        print(json.dumps(redactor.data(result(request, client, steps)), ensure_ascii=False), flush=True)
    return 0
