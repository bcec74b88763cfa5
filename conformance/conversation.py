"""Scripted agent conversations: a coding agent's system prompt and tools, a tool loop of several rounds, a
parallel pair, and the history each profiled chat client sends back between rounds.

Single requests (``conformance.live``) cannot show what breaks in the middle of an agent session: a history of
tool calls, tool results and reasoning is where providers refuse what the clients send. Each script here is a few
small requests; what is sent at each round is the history as the named client builds it (read from its source,
cited in ``HISTORY``), so a refusal names the round, the message and the field, and the clients that send it.

Request-level fields (temperature, strict tools, max_tokens, stream_options) stay out of these requests on
purpose: CC-008 sends each client's own request, and a refusal there is not counted twice here. Only
``parallel_tool_calls``, the one field a multi-call turn is about, is sent where a check is about it.
"""

from __future__ import annotations

import copy
import json
import re
from dataclasses import dataclass, field
from typing import Any

from conformance.client import Exchange
from conformance.live import LiveContext, server_message

SYSTEM = (
    "You are a coding agent working in a small Python project. Use the tools to look at and change files. "
    "Call the tools the user names, in the order given."
)


def _tool(name: str, description: str, **properties: str) -> dict[str, Any]:
    schema = {
        "type": "object",
        "properties": {k: {"type": "string", "description": v} for k, v in properties.items()},
        "required": list(properties),
    }
    return {"type": "function", "function": {"name": name, "description": description, "parameters": schema}}


TOOLS = [
    _tool("list_files", "List the files in a directory of the project.", path="Directory, relative to the root"),
    _tool("read_file", "Read a file of the project.", path="File path, relative to the root"),
    _tool(
        "write_to_file",
        "Write a whole file of the project.",
        path="File path, relative to the root",
        content="The complete new text",
    ),
]
"""The tools a coding agent offers (named as Roo and Cline name theirs), with small schemas."""

LOOP_PROMPT = (
    "First call list_files on src, then read_file on src/app.py, then write_to_file to save src/app.py with a "
    "module docstring added. One tool per turn; say done at the end."
)
PARALLEL_PROMPT = "Call list_files on src and read_file on README.md at once, in one turn."
RESULTS = {
    "list_files": "app.py\nutil.py",
    "read_file": "print('hello')\n",
    "write_to_file": "Saved src/app.py.",
}
"""What each tool returns in the scripts."""
ROUNDS = 3
"""Tool rounds of the loop; the request after the last result asks for the final answer."""
KIMI_IDS = ("functions.list_files:0", "functions.read_file:1")
"""Tool-call ids as Kimi's API and vLLM's Kimi K2 parser make them (``functions.{name}:{index}``)."""


@dataclass(frozen=True)
class History:
    """How one client puts an assistant tool-call turn back into the history it sends."""

    client: str
    content: Any
    """The assistant message's ``content`` beside ``tool_calls`` when the model said no text."""
    reasoning_back: bool
    """Whether the reasoning that came with the calls goes back as ``reasoning_content``."""
    source: str


HISTORY = {
    h.client: h
    for h in (
        History(
            "kilo-code",
            None,
            True,
            "@ai-sdk/openai-compatible 2.0.48 convertToOpenAICompatibleChatMessages (dist/index.mjs): content "
            "`text || null` beside tool_calls, the reasoning parts Kilo keeps in its history joined into "
            "reasoning_content",
        ),
        History(
            "roo-code",
            "",
            False,
            'RooCodeInc/Roo-Code src/api/transform/openai-format.ts@25ce00b convertToOpenAiMessages: content "" '
            "beside tool_calls; only OpenRouter's reasoning_details goes back, never reasoning_content (the R1 "
            "format, for model ids with deepseek-reasoner, aside)",
        ),
        History(
            "cline",
            None,
            False,
            "cline/cline apps/vscode/src/core/api/transform/openai-format.ts@2faef2b convertToOpenAiMessages: "
            "content null beside tool_calls; thinking blocks are dropped, only reasoning_details goes back",
        ),
        History(
            "kimi-cli",
            [],
            False,
            "kosong 0.56.0 OpenAILegacy._convert_message: content [] beside tool_calls; a ThinkPart goes back only "
            "under reasoning_key, which MoonshotAI/kimi-cli src/kimi_cli/llm.py@0109536 leaves unset (later "
            "releases default it to reasoning_content: tests/core/test_create_llm.py@c00ba99, unverified here)",
        ),
    )
}
"""Each driven chat client's way of sending an assistant tool-call turn back (measured by the drivers' tool-result
step, tests/test_client_truth.py)."""


def drops_reasoning() -> tuple[str, ...]:
    """The clients whose history carries no reasoning_content."""
    return tuple(c for c, h in HISTORY.items() if not h.reasoning_back)


def sends_reasoning() -> tuple[str, ...]:
    return tuple(c for c, h in HISTORY.items() if h.reasoning_back)


@dataclass(frozen=True)
class Call:
    id: str
    name: str
    arguments: str


def assistant_turn(calls: list[Call], history: History, reasoning: str | None) -> dict[str, Any]:
    """The assistant message that made ``calls``, as ``history``'s client sends it back."""
    message: dict[str, Any] = {
        "role": "assistant",
        "content": copy.copy(history.content),
        "tool_calls": [
            {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}} for c in calls
        ],
    }
    if history.reasoning_back and reasoning:
        message["reasoning_content"] = reasoning
    return message


def results(calls: list[Call]) -> list[dict[str, Any]]:
    return [{"role": "tool", "tool_call_id": c.id, "content": RESULTS.get(c.name, "done")} for c in calls]


def request(model: str, messages: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return {"model": model, "messages": [{"role": "system", "content": SYSTEM}, *messages], "tools": TOOLS, **extra}


def opening(prompt: str) -> list[dict[str, Any]]:
    return [{"role": "user", "content": prompt}]


def scripted_call(round_: int) -> Call:
    """The call the loop's script expects at ``round_`` (1-based), the stand-in when the model made none."""
    name = ("list_files", "read_file", "write_to_file")[round_ - 1]
    arguments = {"path": "src"} if round_ == 1 else {"path": "src/app.py"}
    if name == "write_to_file":
        arguments["content"] = '"""The app."""\n' + RESULTS["read_file"]
    return Call(f"call_script_{round_}", name, json.dumps(arguments))


def reply_calls(exchange: Exchange) -> tuple[list[Call], str | None]:
    """The tool calls and reasoning of a non-streamed reply (as a client would keep them)."""
    body = exchange.json if isinstance(exchange.json, dict) else {}
    choices = body.get("choices") if isinstance(body.get("choices"), list) else []
    message = (choices[0] or {}).get("message") if choices and isinstance(choices[0], dict) else None
    if not isinstance(message, dict):
        return [], None
    calls = []
    for call in message.get("tool_calls") or []:
        function = call.get("function") if isinstance(call, dict) else None
        if isinstance(function, dict) and isinstance(call.get("id"), str) and isinstance(function.get("name"), str):
            arguments = function.get("arguments")
            calls.append(Call(call["id"], function["name"], arguments if isinstance(arguments, str) else "{}"))
    reasoning = message.get("reasoning_content")
    return calls, reasoning if isinstance(reasoning, str) and reasoning else None


@dataclass
class Round:
    """One request of a conversation and what came of it."""

    number: int
    sent: dict[str, Any]
    exchange: Exchange
    calls: list[Call] = field(default_factory=list)
    scripted: bool = False
    """True when the model made no call and the script's stand-in call went into the next round's history."""


async def tool_loop(ctx: LiveContext, model: str, history: History) -> list[Round]:
    """The loop: ``ROUNDS`` tool rounds and the final answer, each round's request the history so far as
    ``history``'s client sends it, the provider's own calls (and ids) carried forward. Stops at a refusal."""
    messages = opening(LOOP_PROMPT)
    rounds: list[Round] = []
    for number in range(1, ROUNDS + 2):
        sent = request(model, messages)
        exchange = await ctx.chat(sent)
        calls, reasoning = reply_calls(exchange)
        done = Round(number, sent, exchange, calls)
        rounds.append(done)
        if not exchange.ok or number > ROUNDS:
            break
        if not calls:
            calls, done.scripted = [scripted_call(number)], True
        messages = [*messages, assistant_turn(calls[:1], history, reasoning), *results(calls[:1])]
    return rounds


_PATH = re.compile(r"messages[.\[](\d+)\]?\.?(?:[a-z]+\.)?([a-z_]+)")


def broken_field(exchange: Exchange, sent: dict[str, Any]) -> str:
    """Where the server says the request broke: ``messages[N] (role) field`` when its message points there,
    else the last message sent (the one the round added)."""
    said = server_message(exchange) or ""
    match = _PATH.search(said)
    if match:
        index, name = int(match.group(1)), match.group(2)
        messages = sent.get("messages") or []
        role = messages[index].get("role") if index < len(messages) else "?"
        return f"messages[{index}] ({role}) {name}"
    messages = sent.get("messages") or []
    return f"messages[{len(messages) - 1}] (the round's newest message; the server names no field)"


def mentions_reasoning(exchange: Exchange) -> bool:
    """Whether a refusal is about reasoning carried back (or not): CV-003 and CV-004 speak of it, no other check."""
    return "reasoning_content" in (server_message(exchange) or "").lower()


def described_history(sent: dict[str, Any]) -> str:
    """The roles of the history sent, for a finding: ``system, user, assistant(tool_calls), tool``."""
    parts = []
    for message in sent.get("messages") or []:
        extra = [k for k in ("tool_calls", "reasoning_content") if k in message]
        parts.append(f"{message.get('role')}({', '.join(extra)})" if extra else str(message.get("role")))
    return ", ".join(parts)
