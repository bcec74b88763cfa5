"""The HTTP layer (``conformance.client``) and secret masking (``conformance.redact``), with httpx mocked by respx.

No test touches the network: every route is a respx route, and an unmocked request fails the test.
"""

from __future__ import annotations

import asyncio
import email.utils
import gzip
import itertools
import json
import time
import types
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import FrozenInstanceError, dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import quote, quote_plus

import httpx
import pytest
import respx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conformance import __version__, client
from conformance.client import Event, Exchange, Http, HttpSettings
from conformance.metrics import Sample
from conformance.redact import MASK, Redactor
from conformance.streaming import StreamView

API = "https://api.acme.example/v1"
KEY = "sk-acme-0123456789abcdef0123456789abcdef"
SSE = {"content-type": "text/event-stream"}


# --- helpers ------------------------------------------------------------------------------------------------------


@pytest.fixture
def router() -> Iterator[respx.MockRouter]:
    """A respx router for the test; a request to a URL without a route fails the test instead of going out."""
    with respx.mock(assert_all_called=False, assert_all_mocked=True) as mock:
        yield mock


@dataclass
class SleepLog:
    """Stands in for ``asyncio.sleep`` inside ``conformance.client``: records the wait, does not wait."""

    waits: list[float] = field(default_factory=list)

    async def sleep(self, delay: float) -> None:
        self.waits.append(delay)


@pytest.fixture
def sleeps(monkeypatch: pytest.MonkeyPatch) -> SleepLog:
    log = SleepLog()
    fake = types.ModuleType("asyncio")
    fake.__dict__.update(vars(asyncio))
    fake.sleep = log.sleep  # type: ignore[attr-defined]
    monkeypatch.setattr(client, "asyncio", fake)
    return log


def send(url: str, *, settings: HttpSettings | None = None, method: str = "GET", **kwargs: Any) -> Exchange:
    """One request through a fresh ``Http``, run to completion."""

    async def go() -> Exchange:
        async with Http(settings or HttpSettings()) as http:
            return await http.request(method, url, **kwargs)

    return asyncio.run(go())


def streamed(*parts: bytes, pause_s: float = 0.0, then: Exception | None = None) -> Callable[[httpx.Request], Any]:
    """A respx side effect answering 200 text/event-stream with ``parts`` as separate body chunks."""

    async def body() -> AsyncIterator[bytes]:
        for part in parts:
            yield part
            if pause_s:
                await asyncio.sleep(pause_s)
        if then is not None:
            raise then

    return lambda request: httpx.Response(200, headers=SSE, content=body())


def sse(*data: str) -> bytes:
    return "".join(f"data: {d}\n\n" for d in data).encode()


# --- HttpSettings -------------------------------------------------------------------------------------------------


def test_settings_defaults_and_frozen() -> None:
    settings = HttpSettings()
    assert settings.timeout_s == 30.0
    assert settings.max_body_bytes == 32 * 1024 * 1024
    assert settings.max_events == 100_000
    assert settings.api_key is None
    assert dict(settings.headers) == {}
    assert settings.concurrency == 4
    with pytest.raises(FrozenInstanceError):
        settings.api_key = "sk-other"  # type: ignore[misc]


# --- a plain request ----------------------------------------------------------------------------------------------


def test_json_get(router: respx.MockRouter) -> None:
    route = router.get(f"{API}/models").mock(
        return_value=httpx.Response(
            200, json={"data": [{"id": "acme/coder"}]}, headers={"Content-Type": "Application/JSON; charset=utf-8"}
        )
    )
    exchange = send(f"{API}/models")

    assert route.call_count == 1
    assert exchange.method == "GET"
    assert exchange.url == f"{API}/models"
    assert exchange.status == 200
    assert exchange.content_type == "application/json"
    assert exchange.json == {"data": [{"id": "acme/coder"}]}
    assert exchange.ok
    assert exchange.ended_cleanly
    assert exchange.error is None
    assert exchange.events is None
    assert exchange.retried_after == []
    assert exchange.elapsed_ms >= 0
    assert exchange.request_body is None
    assert route.calls.last.request.headers["user-agent"] == f"provider-conformance/{__version__}"


def test_non_2xx_is_recorded_not_raised(router: respx.MockRouter) -> None:
    router.get(f"{API}/models").mock(return_value=httpx.Response(404, text="not here"))
    exchange = send(f"{API}/models")
    assert exchange.status == 404
    assert exchange.text == "not here"
    assert exchange.json is None
    assert not exchange.ok
    assert exchange.error is None


@pytest.mark.parametrize(
    ("exchange", "ok"),
    [
        (Exchange("GET", API, {}, status=204), True),
        (Exchange("GET", API, {}, status=299), True),
        (Exchange("GET", API, {}, status=301), False),
        (Exchange("GET", API, {}, status=None), False),
        (Exchange("GET", API, {}, status=200, error="the body is larger than 1 MiB"), False),
    ],
)
def test_ok(exchange: Exchange, ok: bool) -> None:
    assert exchange.ok is ok


def test_exchange_content_type_and_body_views() -> None:
    exchange = Exchange("GET", API, {}, status=200, body=b"\xff{not json")
    assert exchange.content_type == ""
    assert exchange.json is None
    assert exchange.text == "\ufffd{not json"
    exchange.response_headers = {"content-type": " Text/Event-Stream ; charset=utf-8"}
    assert exchange.content_type == "text/event-stream"


def test_exchange_json_of_a_deeply_nested_body_is_none() -> None:
    exchange = Exchange("GET", API, {}, status=200, body=b"[" * 100_000)
    assert exchange.json is None


def test_event_json() -> None:
    assert Event(1.0, '{"a": 1}').json == {"a": 1}
    assert Event(1.0, "[DONE]").json is None
    assert Event(1.0, "").json is None
    assert Event(1.0, "x").event == "message"


# --- what is sent -------------------------------------------------------------------------------------------------


def test_headers_order_and_bearer_key() -> None:
    async def go() -> None:
        settings = HttpSettings(api_key=KEY, headers={"x-shared": "user", "x-user": "u"})
        async with Http(settings) as http:
            assert http.headers({"x-shared": "manifest", "x-provider": "acme"}) == {
                "x-shared": "user",
                "x-provider": "acme",
                "x-user": "u",
                "authorization": f"Bearer {KEY}",
            }
            assert "authorization" not in http.headers({"x-provider": "acme"}, auth=False)
            assert http.headers(key="sk-other-key")["authorization"] == "Bearer sk-other-key"
            assert http.headers(auth=False, key="sk-other-key") == {"x-shared": "user", "x-user": "u"}
        async with Http(HttpSettings()) as http:
            assert http.headers() == {}
            assert http.headers({"x-provider": "acme"}) == {"x-provider": "acme"}

    asyncio.run(go())


def test_request_body_and_headers_as_sent(router: respx.MockRouter) -> None:
    route = router.post(f"{API}/chat/completions").mock(return_value=httpx.Response(200, json={"id": "c1"}))
    payload = {"model": "acme/coder", "messages": [{"role": "user", "content": "hi"}]}

    async def go() -> Exchange:
        settings = HttpSettings(api_key=KEY, headers={"x-user": "u"})
        async with Http(settings) as http:
            headers = http.headers({"x-provider": "acme"})
            return await http.request("POST", f"{API}/chat/completions", json_body=payload, headers=headers)

    exchange = asyncio.run(go())
    sent = route.calls.last.request
    assert json.loads(sent.content) == payload
    assert sent.headers["content-type"] == "application/json"
    assert sent.headers["authorization"] == f"Bearer {KEY}"
    assert sent.headers["x-provider"] == "acme"
    assert sent.headers["x-user"] == "u"
    assert exchange.request_body == payload
    assert exchange.request_headers["authorization"] == "Bearer ***"  # recorded masked; sent in full (see respx)
    assert exchange.request_headers["x-user"] == "***"
    assert KEY not in repr(exchange)
    assert exchange.json == {"id": "c1"}


def test_auth_false_sends_no_key(router: respx.MockRouter) -> None:
    route = router.get(f"{API}/models").mock(return_value=httpx.Response(200, json={}))

    async def go() -> None:
        async with Http(HttpSettings(api_key=KEY, headers={"x-user": "u"})) as http:
            await http.request("GET", f"{API}/models", headers=http.headers({"x-provider": "acme"}, auth=False))

    asyncio.run(go())
    sent = route.calls.last.request
    assert "authorization" not in sent.headers
    assert KEY not in str(sent.headers)
    assert sent.headers["x-provider"] == "acme"
    assert sent.headers["x-user"] == "u"


def test_raw_content_is_sent_as_is(router: respx.MockRouter) -> None:
    route = router.post(f"{API}/chat/completions").mock(return_value=httpx.Response(400, json={"error": "bad"}))
    exchange = send(
        f"{API}/chat/completions",
        method="POST",
        content=b'{"model": "acme/coder",',
        headers={"content-type": "application/json"},
    )
    assert route.calls.last.request.content == b'{"model": "acme/coder",'
    assert exchange.request_body == '{"model": "acme/coder",'
    assert exchange.status == 400


def test_callers_content_type_is_kept_with_a_json_body(router: respx.MockRouter) -> None:
    route = router.post(f"{API}/chat/completions").mock(return_value=httpx.Response(200, json={}))
    send(f"{API}/chat/completions", method="POST", json_body={}, headers={"content-type": "application/vnd.acme+json"})
    assert route.calls.last.request.headers.get_list("content-type") == ["application/vnd.acme+json"]


def test_callers_content_type_in_another_case_is_kept(router: respx.MockRouter) -> None:
    route = router.post(f"{API}/chat/completions").mock(return_value=httpx.Response(200, json={}))
    send(f"{API}/chat/completions", method="POST", json_body={}, headers={"Content-Type": "application/vnd.acme+json"})
    assert route.calls.last.request.headers.get_list("content-type") == ["application/vnd.acme+json"]


def test_users_header_and_key_replace_manifest_headers_whatever_their_case(router: respx.MockRouter) -> None:
    route = router.get(f"{API}/models").mock(return_value=httpx.Response(200, json={}))

    async def go() -> None:
        async with Http(HttpSettings(api_key=KEY, headers={"x-region": "eu"})) as http:
            headers = http.headers({"X-Region": "us", "Authorization": "Bearer manifest-token"})
            await http.request("GET", f"{API}/models", headers=headers)

    asyncio.run(go())
    sent = route.calls.last.request.headers
    assert sent.get_list("x-region") == ["eu"]
    assert sent.get_list("authorization") == [f"Bearer {KEY}"]


# --- the body-size cap --------------------------------------------------------------------------------------------


def test_body_over_the_cap_is_cut_and_flagged(router: respx.MockRouter) -> None:
    async def body() -> AsyncIterator[bytes]:
        for _ in range(5):
            yield b"abcd"

    router.get(f"{API}/models").mock(side_effect=lambda request: httpx.Response(200, content=body()))
    exchange = send(f"{API}/models", settings=HttpSettings(max_body_bytes=10))
    assert exchange.status == 200
    assert exchange.error is not None
    assert "larger than" in exchange.error
    assert exchange.body == b"abcdabcdab"  # what fits under the cap, no more
    assert not exchange.ended_cleanly
    assert not exchange.ok


def test_body_at_the_cap_is_accepted(router: respx.MockRouter) -> None:
    router.get(f"{API}/models").mock(return_value=httpx.Response(200, content=b"x" * 10))
    exchange = send(f"{API}/models", settings=HttpSettings(max_body_bytes=10))
    assert exchange.error is None
    assert exchange.body == b"x" * 10
    assert exchange.ended_cleanly


def test_one_chunk_over_the_cap_keeps_the_cap(router: respx.MockRouter) -> None:
    router.get(f"{API}/models").mock(return_value=httpx.Response(200, content=b"x" * 11))
    exchange = send(f"{API}/models", settings=HttpSettings(max_body_bytes=10))
    assert exchange.error is not None
    assert exchange.body == b"x" * 10


def test_cap_counts_the_decoded_body(router: respx.MockRouter) -> None:
    packed = gzip.compress(b"\0" * 10_000)
    assert len(packed) < 100
    router.get(f"{API}/models").mock(
        return_value=httpx.Response(200, headers={"content-encoding": "gzip"}, content=packed)
    )
    exchange = send(f"{API}/models", settings=HttpSettings(max_body_bytes=1000))
    assert exchange.error is not None
    assert "larger than" in exchange.error
    assert len(exchange.body) <= 1000


# --- failures become errors ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("side_effect", "words"),
    [
        (httpx.ConnectError("[Errno 111] Connection refused"), ["could not connect", "Connection refused"]),
        (httpx.ConnectError("[Errno -2] Name or service not known"), ["could not connect", "Name or service"]),
        (httpx.ConnectError, ["could not connect"]),
        (httpx.ConnectTimeout, ["the connection timed out"]),
        (httpx.ReadTimeout, ["read timeout"]),
        (httpx.RemoteProtocolError("Server disconnected"), ["the connection broke off", "Server disconnected"]),
        (httpx.ReadError("reset"), ["ReadError", "reset"]),
    ],
)
def test_transport_failures_are_recorded(
    router: respx.MockRouter, side_effect: type[Exception] | Exception, words: list[str]
) -> None:
    router.get(f"{API}/models").mock(side_effect=side_effect)

    async def go() -> tuple[Exchange, list[Exchange]]:
        async with Http(HttpSettings()) as http:
            return await http.request("GET", f"{API}/models"), http.history

    exchange, history = asyncio.run(go())
    assert exchange.status is None
    assert exchange.error is not None
    for word in words:
        assert word in exchange.error
    assert not exchange.ok
    assert not exchange.ended_cleanly
    assert history == [exchange]
    assert exchange.describe(Redactor()).splitlines()[1].strip().startswith("got  no response: ")


def test_a_cross_origin_redirect_drops_every_credential_header(router: respx.MockRouter) -> None:
    router.get(f"{API}/models").mock(
        return_value=httpx.Response(302, headers={"location": "https://elsewhere.example/models"})
    )
    landing = router.get("https://elsewhere.example/models").mock(return_value=httpx.Response(200, json={}))
    settings = HttpSettings(api_key="sk-secret-key", headers={"X-Api-Key": "sk-other-secret", "Cookie": "s=1"})
    headers = {"x-team": "t", "x-api-key": "sk-other-secret", "cookie": "s=1", "authorization": "Bearer sk-secret-key"}
    exchange = send(f"{API}/models", settings=settings, headers=headers)
    assert exchange.ok and exchange.redirects == ["https://elsewhere.example/models"]
    sent = landing.calls.last.request.headers
    assert not {"authorization", "x-api-key", "cookie", "x-team"} & {k.lower() for k in sent}


def test_too_many_redirects_is_recorded(router: respx.MockRouter) -> None:
    router.get(f"{API}/loop").mock(return_value=httpx.Response(302, headers={"location": f"{API}/loop"}))
    exchange = send(f"{API}/loop")
    assert exchange.status == 302
    assert exchange.error == "more than 5 redirects"
    assert exchange.redirects == [f"{API}/loop"] * 6
    assert not exchange.ok


def test_a_body_that_stalls_hits_the_timeout(router: respx.MockRouter) -> None:
    async def body() -> AsyncIterator[bytes]:
        yield b'{"data": '
        await asyncio.sleep(60)  # no clock is read: only the timeout can end the exchange with this error
        yield b"[]}"

    router.get(f"{API}/models").mock(side_effect=lambda request: httpx.Response(200, content=body()))
    exchange = send(f"{API}/models", settings=HttpSettings(timeout_s=0.05))
    assert exchange.status == 200
    assert exchange.error == "the response did not finish within 0.05 s"
    assert not exchange.ended_cleanly
    assert not exchange.ok


# --- 429 and Retry-After ------------------------------------------------------------------------------------------


def test_429_with_retry_after_is_sent_again_after_the_wait(router: respx.MockRouter) -> None:
    route = router.post(f"{API}/chat/completions").mock(
        side_effect=[
            httpx.Response(429, headers={"retry-after": "0"}, json={"error": "slow down"}),
            httpx.Response(200, json={"id": "c1"}),
        ]
    )

    async def go() -> tuple[Exchange, list[Exchange]]:
        async with Http(HttpSettings()) as http:
            exchange = await http.request("POST", f"{API}/chat/completions", json_body={"model": "m"})
            return exchange, http.history

    exchange, history = asyncio.run(go())
    assert route.call_count == 2
    assert json.loads(route.calls[1].request.content) == {"model": "m"}
    assert exchange.status == 200
    assert exchange.json == {"id": "c1"}
    assert exchange.retried_after == [{"status": 429, "retry-after": "0"}]
    assert history == [exchange]


@pytest.mark.parametrize(
    ("retry_after", "wait"),
    [
        (None, 1.0),
        ("0", 0.0),
        ("2", 2.0),
        ("0.5", 0.5),
        ("-3", 0.0),
        ("soon", 1.0),
    ],
)
def test_retry_wait(router: respx.MockRouter, sleeps: SleepLog, retry_after: str | None, wait: float) -> None:
    headers = {} if retry_after is None else {"retry-after": retry_after}
    route = router.get(f"{API}/models").mock(
        side_effect=[httpx.Response(429, headers=headers), httpx.Response(200, json={})]
    )
    exchange = send(f"{API}/models")
    assert sleeps.waits == [wait]
    assert route.call_count == 2
    assert exchange.status == 200
    assert exchange.retried_after == [{"status": 429, "retry-after": retry_after}]


def test_retry_after_as_an_http_date(router: respx.MockRouter, sleeps: SleepLog) -> None:
    when = email.utils.format_datetime(datetime.now(timezone.utc) + timedelta(seconds=4), usegmt=True)
    router.get(f"{API}/models").mock(
        side_effect=[httpx.Response(429, headers={"retry-after": when}), httpx.Response(200, json={})]
    )
    send(f"{API}/models")
    assert len(sleeps.waits) == 1
    assert 2.0 <= sleeps.waits[0] <= 4.0


def test_retry_after_ms_is_read_first(router: respx.MockRouter, sleeps: SleepLog) -> None:
    headers = {"retry-after": "1", "retry-after-ms": "250"}
    router.get(f"{API}/models").mock(side_effect=[httpx.Response(429, headers=headers), httpx.Response(200, json={})])
    assert send(f"{API}/models").status == 200
    assert sleeps.waits == [0.25]


def test_a_429_is_waited_out_again_and_again_but_not_for_ever(router: respx.MockRouter, sleeps: SleepLog) -> None:
    route = router.get(f"{API}/models").mock(return_value=httpx.Response(429, headers={"retry-after": "1"}))
    exchange = send(f"{API}/models")
    assert route.call_count == client.RETRIES_429 + 1
    assert sleeps.waits == [1.0] * client.RETRIES_429
    assert exchange.status == 429
    assert exchange.retried_after == [{"status": 429, "retry-after": "1"}] * client.RETRIES_429
    assert not exchange.ok


@pytest.mark.parametrize(("deadline_in_s", "sent"), [(None, 1), (7200.0, 2)])
def test_a_wait_past_the_deadline_is_not_waited_and_never_cut_short(
    router: respx.MockRouter, sleeps: SleepLog, deadline_in_s: float | None, sent: int
) -> None:
    """Retry-After: 3600 is waited out in full where the run budget leaves room, and not at all where it does not
    (or, with no budget, where it is longer than a minute): a request is never sent again before its time."""
    route = router.get(f"{API}/models").mock(
        side_effect=[httpx.Response(429, headers={"retry-after": "3600"}), httpx.Response(200, json={})]
    )

    async def go() -> Exchange:
        deadline = None if deadline_in_s is None else time.monotonic() + deadline_in_s
        async with Http(HttpSettings(), deadline=deadline) as http:
            return await http.request("GET", f"{API}/models")

    exchange = asyncio.run(go())
    assert route.call_count == sent
    assert sleeps.waits == [3600.0] * (sent - 1)
    assert exchange.status == (429 if sent == 1 else 200)


def test_after_a_429_the_other_requests_wait_too(router: respx.MockRouter, sleeps: SleepLog) -> None:
    """The limit is the provider's: a request sent while another's 429 wait runs waits until it ends."""
    router.get(f"{API}/a").mock(side_effect=[httpx.Response(429, headers={"retry-after": "30"}), httpx.Response(200)])
    router.get(f"{API}/b").mock(return_value=httpx.Response(200))

    async def go() -> None:
        async with Http(HttpSettings()) as http:
            await http.request("GET", f"{API}/a")
            await http.request("GET", f"{API}/b")

    asyncio.run(go())
    assert len(sleeps.waits) == 2 and sleeps.waits[0] == 30.0
    assert 0 < sleeps.waits[1] <= 30.0  # b waits out what is left of a's wait


@pytest.mark.parametrize("status", [500, 503])
def test_other_errors_are_not_retried(router: respx.MockRouter, sleeps: SleepLog, status: int) -> None:
    route = router.get(f"{API}/models").mock(return_value=httpx.Response(status, headers={"retry-after": "1"}))
    exchange = send(f"{API}/models")
    assert route.call_count == 1
    assert sleeps.waits == []
    assert exchange.status == status
    assert exchange.retried_after == []


# --- streams ------------------------------------------------------------------------------------------------------


def test_stream_is_read_as_events(router: respx.MockRouter) -> None:
    parts = (sse('{"n": 0}'), b'event: ping\ndata: {"n": 1}\n\n', sse("[DONE]"))
    router.post(f"{API}/chat/completions").mock(side_effect=streamed(*parts, pause_s=0.01))
    exchange = send(f"{API}/chat/completions", method="POST", json_body={"stream": True}, stream=True)

    assert exchange.status == 200
    assert exchange.content_type == "text/event-stream"
    assert exchange.ok
    assert exchange.ended_cleanly
    assert exchange.error is None
    assert exchange.body == b""
    assert exchange.events is not None
    assert [(e.event, e.data) for e in exchange.events] == [
        ("message", '{"n": 0}'),
        ("ping", '{"n": 1}'),
        ("message", "[DONE]"),
    ]
    times = [e.at_ms for e in exchange.events]
    assert times[0] >= 0
    assert all(b - a >= 9 for a, b in itertools.pairwise(times)), times
    assert exchange.elapsed_ms >= times[-1]


def test_stream_with_a_wrong_content_type_is_still_read(router: respx.MockRouter) -> None:
    router.post(f"{API}/chat/completions").mock(
        return_value=httpx.Response(200, headers={"content-type": "application/json"}, content=sse("a", "b"))
    )
    exchange = send(f"{API}/chat/completions", method="POST", json_body={}, stream=True)
    assert exchange.content_type == "application/json"
    assert exchange.events is not None
    assert [e.data for e in exchange.events] == ["a", "b"]
    assert exchange.ended_cleanly


def test_stream_request_answered_with_an_error_reads_the_body(router: respx.MockRouter) -> None:
    router.post(f"{API}/chat/completions").mock(return_value=httpx.Response(400, json={"error": {"message": "no"}}))
    exchange = send(f"{API}/chat/completions", method="POST", json_body={}, stream=True)
    assert exchange.status == 400
    assert exchange.events is None
    assert exchange.json == {"error": {"message": "no"}}


def test_stream_over_the_event_cap_stops(router: respx.MockRouter) -> None:
    router.post(f"{API}/chat/completions").mock(side_effect=streamed(sse("1", "2", "3", "4", "5")))
    exchange = send(f"{API}/chat/completions", method="POST", stream=True, settings=HttpSettings(max_events=3))
    assert exchange.error is not None
    assert "caps" in exchange.error
    assert exchange.events is not None
    assert [e.data for e in exchange.events] == ["1", "2", "3"]
    assert not exchange.ended_cleanly
    assert not exchange.ok


def test_stream_at_the_event_cap_is_accepted(router: respx.MockRouter) -> None:
    router.post(f"{API}/chat/completions").mock(side_effect=streamed(sse("1", "2", "3")))
    exchange = send(f"{API}/chat/completions", method="POST", stream=True, settings=HttpSettings(max_events=3))
    assert exchange.error is None
    assert exchange.ended_cleanly


def test_stream_over_the_size_cap_stops_keeping_what_fits(router: respx.MockRouter) -> None:
    router.post(f"{API}/chat/completions").mock(side_effect=streamed(sse("abcdef", "abcdef", "abcdef")))
    exchange = send(f"{API}/chat/completions", method="POST", stream=True, settings=HttpSettings(max_body_bytes=10))
    assert exchange.error is not None
    assert exchange.events is not None
    assert [e.data for e in exchange.events] == ["abcdef"]
    assert not exchange.ended_cleanly


def test_stream_that_breaks_off_keeps_what_came(router: respx.MockRouter) -> None:
    router.post(f"{API}/chat/completions").mock(
        side_effect=streamed(sse("1"), then=httpx.RemoteProtocolError("peer closed connection"))
    )
    exchange = send(f"{API}/chat/completions", method="POST", stream=True)
    assert exchange.status == 200
    assert exchange.error == "the connection broke off (peer closed connection)"
    assert exchange.events is not None
    assert [e.data for e in exchange.events] == ["1"]
    assert not exchange.ended_cleanly


def test_stream_that_stalls_hits_the_timeout(router: respx.MockRouter) -> None:
    router.post(f"{API}/chat/completions").mock(side_effect=streamed(sse("1"), pause_s=5))
    exchange = send(f"{API}/chat/completions", method="POST", stream=True, settings=HttpSettings(timeout_s=0.05))
    assert exchange.error == "the response did not finish within 0.05 s"
    assert exchange.events is not None
    assert [e.data for e in exchange.events] == ["1"]
    assert not exchange.ended_cleanly


# --- redirects keep the key to its origin -------------------------------------------------------------------------


def test_cross_origin_redirect_drops_the_key(router: respx.MockRouter) -> None:
    router.get(f"{API}/models").mock(
        return_value=httpx.Response(302, headers={"location": "https://cdn.other.example/models.json"})
    )
    other = router.get("https://cdn.other.example/models.json").mock(return_value=httpx.Response(200, json={}))

    async def go() -> Exchange:
        async with Http(HttpSettings(api_key=KEY)) as http:
            return await http.request("GET", f"{API}/models", headers=http.headers())

    exchange = asyncio.run(go())
    assert [str(call.request.url) for call in router.calls] == [
        f"{API}/models",
        "https://cdn.other.example/models.json",
    ]
    assert router.calls[0].request.headers["authorization"] == f"Bearer {KEY}"
    assert other.call_count == 1
    assert "authorization" not in other.calls.last.request.headers
    assert exchange.status == 200
    assert exchange.url == "https://cdn.other.example/models.json"


def test_other_port_is_another_origin(router: respx.MockRouter) -> None:
    # the :8443 route first: a respx route without a port also matches other ports
    other = router.get("https://api.acme.example:8443/v1/models").mock(return_value=httpx.Response(200, json={}))
    router.get(f"{API}/models").mock(
        return_value=httpx.Response(307, headers={"location": "https://api.acme.example:8443/v1/models"})
    )

    async def go() -> None:
        async with Http(HttpSettings(api_key=KEY)) as http:
            await http.request("GET", f"{API}/models", headers=http.headers())

    asyncio.run(go())
    assert other.call_count == 1
    assert router.calls[0].request.headers["authorization"] == f"Bearer {KEY}"
    assert "authorization" not in other.calls.last.request.headers


def test_same_origin_redirect_keeps_the_key(router: respx.MockRouter) -> None:
    router.get(f"{API}/models").mock(return_value=httpx.Response(301, headers={"location": "/v2/models"}))
    moved = router.get("https://api.acme.example/v2/models").mock(return_value=httpx.Response(200, json={}))

    async def go() -> Exchange:
        async with Http(HttpSettings(api_key=KEY)) as http:
            return await http.request("GET", f"{API}/models", headers=http.headers())

    exchange = asyncio.run(go())
    assert moved.call_count == 1
    assert moved.calls.last.request.headers["authorization"] == f"Bearer {KEY}"
    assert exchange.url == "https://api.acme.example/v2/models"


# --- describe() ---------------------------------------------------------------------------------------------------


ODD_KEY = "sk-acme abc/def+ghi=="
"""A key whose plain, percent-encoded and plus-encoded forms all differ."""


def test_describe_masks_an_echoed_key(router: respx.MockRouter) -> None:
    assert len({ODD_KEY, quote(ODD_KEY, safe=""), quote_plus(ODD_KEY)}) == 3
    echo = {
        "error": f"invalid key {ODD_KEY}",
        "seen": f"https://api.acme.example/v1/models?key={quote(ODD_KEY, safe='')}",
        "form": f"key={quote_plus(ODD_KEY)}",
    }
    router.post(f"{API}/chat/completions").mock(return_value=httpx.Response(401, json=echo))

    async def go() -> Exchange:
        async with Http(HttpSettings(api_key=ODD_KEY)) as http:
            return await http.request(
                "POST", f"{API}/chat/completions", json_body={"k": ODD_KEY}, headers=http.headers()
            )

    exchange = asyncio.run(go())
    shown = exchange.describe(Redactor([ODD_KEY]))
    for form in (ODD_KEY, quote(ODD_KEY, safe=""), quote_plus(ODD_KEY), "abc/def", "abc%2Fdef"):
        assert form not in shown
    assert shown.count(MASK) == 4
    assert shown.startswith(f"sent POST {API}/chat/completions {{")
    assert "got  401 application/json: {" in shown
    assert '{"error":"invalid key ***"' in shown


def test_describe_shows_status_type_and_start_of_body() -> None:
    exchange = Exchange("GET", f"{API}/models", {}, status=500, body=b"x" * 1000)
    shown = exchange.describe(Redactor(), limit=20)
    assert shown == f"sent GET {API}/models\n        got  500 (no content type): {'x' * 20}…"
    exchange = Exchange(
        "POST", API, {}, request_body="y" * 30, status=200, response_headers={"content-type": "text/plain"}
    )
    assert exchange.describe(Redactor(), limit=10) == f"sent POST {API} {'y' * 10}…\n        got  200 text/plain"


def test_describe_a_stream_and_an_error() -> None:
    events = [Event(1.0, f"e{i}") for i in range(10)]
    exchange = Exchange(
        "POST",
        API,
        {},
        status=200,
        response_headers=SSE,
        events=events,
        error="the stream went on past the suite's caps on size and events",
    )
    shown = exchange.describe(Redactor())
    assert "got  200 text/event-stream: data: e0\ndata: e1\n" in shown
    assert "data: e7 [" in shown
    assert "e8" not in shown
    assert shown.endswith("[the stream went on past the suite's caps on size and events]")


def test_describe_masks_a_key_cut_by_the_limit() -> None:
    exchange = Exchange("GET", API, {}, status=401, body=("x" * 290 + KEY + " is not valid").encode())
    shown = exchange.describe(Redactor([KEY]))
    assert KEY[:10] not in shown


# --- history ------------------------------------------------------------------------------------------------------


def test_every_exchange_lands_in_history(router: respx.MockRouter) -> None:
    router.get(f"{API}/models").mock(return_value=httpx.Response(200, json={}))
    router.get(f"{API}/down").mock(side_effect=httpx.ConnectError("refused"))
    router.post(f"{API}/chat/completions").mock(side_effect=streamed(sse("1")))

    async def go() -> tuple[list[Exchange], list[Exchange]]:
        async with Http(HttpSettings()) as http:
            sent = [
                await http.request("GET", f"{API}/models"),
                await http.request("GET", f"{API}/down"),
                await http.request("POST", f"{API}/chat/completions", json_body={}, stream=True),
            ]
            return sent, http.history

    sent, history = asyncio.run(go())
    assert history == sent
    assert [e.status for e in history] == [200, None, 200]


def test_shared_history_across_clients(router: respx.MockRouter) -> None:
    router.get(f"{API}/models").mock(return_value=httpx.Response(200, json={}))
    shared: list[Exchange] = []

    async def one() -> Exchange:
        async with Http(HttpSettings(), history=shared) as http:
            assert http.history is shared
            return await http.request("GET", f"{API}/models")

    first = asyncio.run(one())
    second = asyncio.run(one())
    assert shared == [first, second]
    assert shared[0] is first


def test_concurrency_limits_requests_in_flight(router: respx.MockRouter) -> None:
    active, peak = 0, 0

    def answer(request: httpx.Request) -> httpx.Response:
        nonlocal active, peak
        active += 1
        peak = max(peak, active)

        async def body() -> AsyncIterator[bytes]:
            nonlocal active
            try:
                await asyncio.sleep(0.01)
                yield b"{}"
            finally:
                active -= 1

        return httpx.Response(200, content=body())

    router.get(f"{API}/models").mock(side_effect=answer)

    async def go(concurrency: int) -> list[Exchange]:
        async with Http(HttpSettings(concurrency=concurrency)) as http:
            return list(await asyncio.gather(*(http.request("GET", f"{API}/models") for _ in range(4))))

    assert all(e.ok for e in asyncio.run(go(1)))
    assert peak == 1
    peak = 0
    assert all(e.ok for e in asyncio.run(go(2)))
    assert peak == 2


# --- Redactor -----------------------------------------------------------------------------------------------------


def test_redactor_masks_every_encoded_form() -> None:
    redactor = Redactor([ODD_KEY])
    for form in (ODD_KEY, quote(ODD_KEY, safe=""), quote_plus(ODD_KEY)):
        assert redactor.text(f"key={form}&x=1") == f"key={MASK}&x=1"
    assert redactor.text("nothing secret here") == "nothing secret here"


def test_redactor_masks_nested_data_and_keys() -> None:
    redactor = Redactor([KEY])
    data = {
        KEY: [KEY, ("a", f"Bearer {KEY}"), {"n": 1, "none": None, "flag": True}],
        "url": f"https://x.example/?k={quote(KEY, safe='')}",
        3: 4.5,
    }
    assert redactor.data(data) == {
        MASK: [MASK, ["a", f"Bearer {MASK}"], {"n": 1, "none": None, "flag": True}],
        "url": f"https://x.example/?k={MASK}",
        "3": 4.5,
    }
    assert KEY not in json.dumps(redactor.data(data))
    assert redactor.data(7) == 7


@pytest.mark.parametrize("secrets", [[], [None], [""], ["abc"], [None, "", "ab"]])
def test_redactor_ignores_empty_and_short_secrets(secrets: list[str | None]) -> None:
    redactor = Redactor(secrets)
    assert redactor.text("abc ab a b c") == "abc ab a b c"
    assert redactor.data({"abc": ["ab"]}) == {"abc": ["ab"]}


def test_redactor_masks_the_longer_of_overlapping_secrets() -> None:
    redactor = Redactor(["abcd", "abcdefgh"])
    assert redactor.text("abcdefgh abcd") == f"{MASK} {MASK}"
    assert Redactor(["abcd"]).text("xabcdx") == f"x{MASK}x"


def test_retries_send_again_after_a_network_error_and_say_so(router: respx.MockRouter) -> None:
    router.get(f"{API}/models").mock(side_effect=[httpx.ConnectError("refused"), httpx.Response(200, json={})])
    exchange = send(f"{API}/models", settings=HttpSettings(retries=1))
    assert exchange.ok
    assert len(exchange.retried_errors) == 1 and "could not connect" in exchange.retried_errors[0]
    assert "sent again 1 time(s) after: could not connect" in exchange.describe(Redactor())


def test_without_retries_a_network_error_is_final(router: respx.MockRouter) -> None:
    route = router.get(f"{API}/models").mock(side_effect=[httpx.ConnectError("refused"), httpx.Response(200)])
    exchange = send(f"{API}/models")
    assert exchange.status is None and route.call_count == 1


@given(st.binary(max_size=2048))
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_arbitrary_stream_bytes_never_escape_as_exceptions(router: respx.MockRouter, body: bytes) -> None:
    router.post(f"{API}/chat/completions").mock(side_effect=streamed(body[: len(body) // 2], body[len(body) // 2 :]))
    exchange = send(f"{API}/chat/completions", method="POST", stream=True)
    view = StreamView.of(exchange)
    Sample.of(view)
    assert exchange.events is not None or exchange.error is not None


VALID_STREAM = (
    b"".join(
        b"data: " + json.dumps(chunk).encode() + b"\n\n"
        for chunk in (
            {
                "id": "c",
                "object": "chat.completion.chunk",
                "model": "m",
                "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}],
            },
            {
                "id": "c",
                "object": "chat.completion.chunk",
                "model": "m",
                "choices": [{"index": 0, "delta": {"content": "Hello"}, "finish_reason": None}],
            },
            {
                "id": "c",
                "object": "chat.completion.chunk",
                "model": "m",
                "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}],
            },
            {
                "id": "c",
                "object": "chat.completion.chunk",
                "model": "m",
                "choices": [],
                "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4},
            },
        )
    )
    + b"data: [DONE]\n\n"
)


@given(st.data())
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_mutated_valid_streams_never_escape_as_exceptions(router: respx.MockRouter, data: st.DataObject) -> None:
    body = bytearray(VALID_STREAM)
    for _ in range(data.draw(st.integers(1, 6))):
        at = data.draw(st.integers(0, len(body)))
        action = data.draw(st.sampled_from(["flip", "insert", "delete"]))
        if action == "insert":
            body[at:at] = data.draw(st.binary(min_size=1, max_size=8))
        elif body and at < len(body):
            if action == "flip":
                body[at] ^= data.draw(st.integers(1, 255))
            else:
                del body[at : at + data.draw(st.integers(1, 16))]
    router.post(f"{API}/chat/completions").mock(side_effect=streamed(bytes(body)))
    exchange = send(f"{API}/chat/completions", method="POST", stream=True)
    view = StreamView.of(exchange)
    Sample.of(view)
    view.tool_fragments()
    assert exchange.events is not None or exchange.error is not None


def test_a_request_dropped_unanswered_is_sent_once_more_on_a_new_connection(router: respx.MockRouter) -> None:
    route = router.get(f"{API}/models").mock(
        side_effect=[httpx.RemoteProtocolError("Server disconnected without sending a response."), httpx.Response(200)]
    )
    exchange = send(f"{API}/models")
    assert exchange.ok and route.call_count == 2
    assert exchange.retried_errors == [
        "the connection broke off (Server disconnected without sending a response.), on a new connection"
    ]
    assert "sent again 1 time(s) after: the connection broke off" in exchange.describe(Redactor())


def test_a_refused_connection_is_not_sent_again_without_retries(router: respx.MockRouter) -> None:
    route = router.get(f"{API}/models").mock(side_effect=[httpx.ConnectError("refused"), httpx.Response(200)])
    assert send(f"{API}/models").status is None and route.call_count == 1


def test_an_error_answered_as_an_event_stream_is_read_as_events(router: respx.MockRouter) -> None:
    body = b'event: error\ndata: {"type": "error", "message": "overloaded"}\n\n'
    router.post(f"{API}/responses").mock(return_value=httpx.Response(500, content=body, headers=SSE))
    exchange = send(f"{API}/responses", method="POST", json_body={}, stream=True)
    assert exchange.status == 500
    assert [(e.event, e.json) for e in exchange.events or []] == [("error", {"type": "error", "message": "overloaded"})]


def _stream(count: int, *, clean: bool = True) -> Exchange:
    events = [Event(float(i), f'{{"n": {i}}}') for i in range(count)]
    return Exchange("POST", API, {}, {}, 200, SSE, events=events, ended_cleanly=clean)


def test_describe_at_an_event_shows_it_with_its_position_and_neighbours() -> None:
    shown = _stream(20).describe(Redactor(), at=9)
    assert '> event 9 of 20: data: {"n": 9}' in shown
    assert "  event 8 of 20" in shown and "  event 10 of 20" in shown
    assert "event 7 " not in shown and "event 11 " not in shown and "the stream ends here" not in shown


def test_describe_at_the_end_marks_how_the_stream_ended() -> None:
    assert "> event 19 of 20" in _stream(20).describe(Redactor(), at=-1)
    assert "(the stream ends here, the connection closed)" in _stream(20).describe(Redactor(), at=-1)
    assert "(the stream ends here)" in _stream(3, clean=False).describe(Redactor(), at=-1)


def test_a_reproduce_line_names_the_keys_variable_and_never_the_key(router: respx.MockRouter) -> None:
    router.post(f"{API}/chat/completions").mock(return_value=httpx.Response(400))

    async def go() -> tuple[Exchange, Exchange]:
        async with Http(HttpSettings(api_key=KEY, headers={"X-Team": "secret-team-value"})) as http:
            mine = await http.request(
                "POST", f"{API}/chat/completions", json_body={"q": "it's"}, headers=http.headers()
            )
            wrong = http.headers(key="sk-public-wrong-key")
            return mine, await http.request("POST", f"{API}/chat/completions", json_body={}, headers=wrong)

    mine, wrong = asyncio.run(go())
    command = mine.curl("ACME_KEY")
    assert command.startswith(f"curl -sS -X POST {API}/chat/completions ")
    assert '-H "authorization: Bearer $ACME_KEY"' in command and KEY not in command
    assert "-H 'x-team: ***'" in command and "secret-team-value" not in command
    assert "-H 'content-type: application/json'" in command
    assert command.endswith("""--data-raw '{"q": "it'"'"'s"}'""")
    assert "-H 'authorization: Bearer sk-public-wrong-key'" in wrong.curl("ACME_KEY")


def test_a_reproduce_line_quotes_what_surrounds_the_key_for_the_shell() -> None:
    exchange = Exchange("GET", f"{API}/models", {"x-api-key": 'pre"$***_suffix'})
    header = '"x-api-key: pre\\"\\$${ACME_KEY}_suffix"'
    assert exchange.curl("ACME_KEY") == f"curl -sS -X GET {API}/models -H {header}"
