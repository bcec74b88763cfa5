"""Reading a Chat Completions event stream the way clients do, once, for every check that looks at it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from conformance.client import Event, Exchange

DONE = "[DONE]"


@dataclass
class Chunk:
    index: int
    """Position of its event in the stream."""
    event: Event
    data: dict[str, Any]

    @property
    def choices(self) -> list[dict[str, Any]]:
        choices = self.data.get("choices")
        return [c for c in choices if isinstance(c, dict)] if isinstance(choices, list) else []

    @property
    def deltas(self) -> list[dict[str, Any]]:
        return [c["delta"] for c in self.choices if isinstance(c.get("delta"), dict)]

    def delta_text(self, key: str) -> str:
        return "".join(d[key] for d in self.deltas if isinstance(d.get(key), str))

    @property
    def carries_token(self) -> bool:
        """Whether a client would count this chunk as output (latency.md's token-bearing event)."""
        return any(
            d.get("content") or d.get("reasoning_content") or d.get("reasoning") or d.get("tool_calls")
            for d in self.deltas
        )


@dataclass
class StreamView:
    """One streamed response, taken apart: JSON chunks, what is not JSON, errors, and where it ended."""

    exchange: Exchange
    chunks: list[Chunk] = field(default_factory=list)
    non_json: list[Event] = field(default_factory=list)
    empty: list[Event] = field(default_factory=list)
    errors: list[Chunk] = field(default_factory=list)
    done_at: int | None = None
    after_done: list[Event] = field(default_factory=list)

    @classmethod
    def of(cls, exchange: Exchange) -> StreamView:
        view = cls(exchange)
        for index, event in enumerate(exchange.events or []):
            if view.done_at is not None:
                view.after_done.append(event)
            elif event.data.strip() == DONE:
                view.done_at = index
            elif not event.data.strip():
                view.empty.append(event)
            elif isinstance(parsed := event.json, dict):
                chunk = Chunk(index, event, parsed)
                (view.errors if "error" in parsed and "choices" not in parsed else view.chunks).append(chunk)
            else:
                view.non_json.append(event)
        return view

    def position(self, event: Event) -> int:
        """Where ``event`` sits in the stream (0-based), for a finding to point at."""
        return next(i for i, e in enumerate(self.exchange.events or []) if e is event)

    def text(self, key: str = "content") -> str:
        return "".join(c.delta_text(key) for c in self.chunks)

    @property
    def usage_chunks(self) -> list[Chunk]:
        return [c for c in self.chunks if c.data.get("usage") is not None]

    @property
    def token_chunks(self) -> list[Chunk]:
        return [c for c in self.chunks if c.carries_token]

    def tool_fragments(self) -> list[dict[str, Any]]:
        calls = (d.get("tool_calls") for c in self.chunks for d in c.deltas)
        return [call for batch in calls if isinstance(batch, list) for call in batch if isinstance(call, dict)]
