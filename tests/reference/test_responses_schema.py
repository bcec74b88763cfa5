"""The reference provider's Responses API fits the suite's own schema of it, written from the published
specification: every response object, every streamed event, the compaction; and the faults that break the shape
do not fit it, so the schema is not one that accepts anything."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from conformance import responses_schema
from conformance.reference.server import ReferenceConfig, ReferenceServer
from tests.reference.test_wire_apis import BEARER, RS_FOLLOW_UP, RS_TOOLS, TLS, events

ASKED = {
    "text": {},
    "function call": {"tools": RS_TOOLS, "tool_choice": "required"},
    "tool follow-up": {"tools": RS_TOOLS, "input": RS_FOLLOW_UP},
    "cut short": {"max_output_tokens": 3},
    "with settings": {"temperature": 0.2, "top_p": 0.9, "store": False, "metadata": {"team": "a"}},
}


@pytest.fixture(scope="module")
def servers() -> Iterator[dict[str, ReferenceServer]]:
    faults = ("responses-sparse-object", "responses-event-fields-missing")
    running = {"clean": ReferenceServer().start()} | {
        f: ReferenceServer(ReferenceConfig(frozenset({f}))).start() for f in faults
    }
    yield running
    for server in running.values():
        server.stop()


def respond(server: ReferenceServer, path: str = "/v1/responses", **body: Any) -> httpx.Response:
    with httpx.Client(base_url=server.origin, timeout=10, verify=TLS, headers=BEARER) as c:
        return c.post(path, json={"model": "reference/coder", "input": "Say hello.", **body})


@pytest.mark.parametrize("how", ASKED.values(), ids=ASKED)
def test_every_response_object_fits_the_schema(servers: dict[str, ReferenceServer], how: dict[str, Any]) -> None:
    response = respond(servers["clean"], **how)
    assert response.status_code == 200
    assert responses_schema.response_problems(response.json()) == []


@pytest.mark.parametrize("how", ASKED.values(), ids=ASKED)
def test_every_streamed_event_fits_the_schema_of_its_type(
    servers: dict[str, ReferenceServer], how: dict[str, Any]
) -> None:
    stream = [data for _, data in events(respond(servers["clean"], stream=True, **how))]
    assert stream and all(responses_schema.event_definition(data["type"]) for data in stream)
    assert {data["type"]: responses_schema.event_problems(data) for data in stream} == {
        data["type"]: [] for data in stream
    }


def test_the_compaction_fits_the_schema(servers: dict[str, ReferenceServer]) -> None:
    history = [{"role": "user", "content": "We launch on Tuesday."}, {"role": "assistant", "content": "Noted."}]
    body = respond(servers["clean"], "/v1/responses/compact", input=history).json()
    assert responses_schema.compact_problems(body) == []
    assert [item["type"] for item in body["output"]] == ["message", "compaction"]
    again = respond(servers["clean"], input=[*body["output"], {"role": "user", "content": "When do we launch?"}])
    assert again.status_code == 200


def test_a_sparse_response_object_does_not_fit(servers: dict[str, ReferenceServer]) -> None:
    problems = responses_schema.response_problems(respond(servers["responses-sparse-object"]).json())
    assert problems == [
        "(root) lacks background, completed_at, frequency_penalty, max_tool_calls, metadata, presence_penalty, "
        "previous_response_id, prompt_cache_key, reasoning, safety_identifier, service_tier, store, temperature, "
        "text, top_logprobs, top_p, truncation"
    ]


def test_events_that_do_not_say_where_they_belong_do_not_fit(servers: dict[str, ReferenceServer]) -> None:
    stream = [data for _, data in events(respond(servers["responses-event-fields-missing"], stream=True))]
    [delta, *_] = [data for data in stream if data["type"] == "response.output_text.delta"]
    assert responses_schema.event_problems(delta) == ["(root) lacks content_index, item_id, output_index"]


def test_many_problems_are_counted_not_listed() -> None:
    problems = responses_schema.response_problems({"output": [{"type": "message", "content": [1] * 20}]})
    assert len(problems) == responses_schema.SHOWN + 1
    assert problems[-1].startswith("… and ")


def test_unlisted_event_types_are_not_judged() -> None:
    assert responses_schema.event_definition("response.custom.thing") is None
    assert responses_schema.event_problems({"type": "response.custom.thing"}) == []


def test_partial_settings_are_completed_so_the_echo_still_fits(servers: dict[str, ReferenceServer]) -> None:
    asked = {"text": {"verbosity": "low"}, "reasoning": {"effort": "high"}, "temperature": None, "metadata": {"a": "b"}}
    body = respond(servers["clean"], **asked).json()
    assert (body["text"], body["reasoning"]) == (
        {"format": {"type": "text"}, "verbosity": "low"},
        {"effort": "high", "summary": None},
    )
    assert (body["temperature"], body["metadata"]) == (1.0, {"a": "b"})
    assert responses_schema.response_problems(body) == []
