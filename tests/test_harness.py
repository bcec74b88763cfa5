"""The loader harness's parts: running a loader command, the recording server, cases as requests, judging."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from conformance import corpus, schemas, urls
from conformance.errors import UsageError
from conformance.harness import cases, compare, expectations, protocol, reference
from conformance.harness.exchanges import Recorded, RecordingServer, route_key
from tests.conftest import GOOD_MANIFEST

PYTHON = sys.executable
REQUEST = {"kind": "embedded", "raw": "[1, 2]"}
BEHAVIOURS = {
    "hang": "import time; time.sleep(60)",
    "crash": "import sys; sys.stdin.readline(); raise RuntimeError('boom')",
    "non-json": "import sys; sys.stdin.readline(); print('hello, I am not JSON')",
    "nothing": "import sys; sys.stdin.readline()",
    "huge": "import sys; sys.stdin.readline(); sys.stdout.write('x' * 100_000_000 + '\\n')",
    "exit-3": 'import sys; sys.stdin.readline(); print(\'{"ok": false, "error": "no"}\'); sys.exit(3)',
    "not-a-response": "import sys; sys.stdin.readline(); print('{\"ok\": true}')",
}
SAYS = {
    "hang": "it gave no answer within the timeout (0.5 s)",
    "crash": "it printed nothing: it exited with status 1",
    "non-json": "its output is not a protocol response: it is not JSON",
    "nothing": "it printed nothing: it exited with status 0",
    "huge": "its output is over the 8 MiB cap",
    "exit-3": "it exited with status 3",
    "not-a-response": "its output is not a protocol response: 'models' is a required property",
}
STREAM = """
import json, sys
for line in sys.stdin:
    request = json.loads(line)
    if request["raw"] == "crash":
        sys.exit(2)
    print(json.dumps({"ok": False, "error": "refused " + request["raw"]}), flush=True)
"""


def script(tmp_path: Path, name: str, source: str) -> list[str]:
    path = tmp_path / f"{name}.py"
    path.write_text(source)
    return [PYTHON, str(path)]


@pytest.mark.parametrize("behaviour", sorted(BEHAVIOURS))
def test_a_misbehaving_loader_is_a_reply_that_says_what_it_did(tmp_path: Path, behaviour: str) -> None:
    timeout = 0.5 if behaviour == "hang" else 60  # the others end by themselves, however loaded the machine
    command = protocol.LoaderCommand(script(tmp_path, behaviour, BEHAVIOURS[behaviour]), timeout_s=timeout, lines=False)
    reply = command.ask(REQUEST)  # a hang not cut at its timeout would end in 60 s saying something else
    assert reply.response is None
    assert reply.problem is not None and reply.problem.startswith(SAYS[behaviour]), reply.problem
    if behaviour == "crash":
        assert "RuntimeError: boom" in reply.stderr
    if behaviour in ("non-json", "huge"):
        assert reply.output and len(reply.output) <= protocol.SHOWN_OUTPUT_CHARS + 1


def test_a_stream_answers_in_order_and_is_restarted_after_a_problem(tmp_path: Path) -> None:
    command = protocol.LoaderCommand(script(tmp_path, "stream", STREAM), timeout_s=5, lines=True)
    try:
        first = command.ask({"kind": "embedded", "raw": "a"})
        process = command._stream
        second = command.ask({"kind": "embedded", "raw": "b"})
        assert command._stream is process  # one process for both
        crashed = command.ask({"kind": "embedded", "raw": "crash"})
        after = command.ask({"kind": "embedded", "raw": "c"})
    finally:
        command.close()
    assert [r.response and r.response["error"] for r in (first, second, after)] == [
        "refused a",
        "refused b",
        "refused c",
    ]
    assert crashed.problem == "it exited with status 2 after answering 2 request(s), instead of reading this one"


@pytest.mark.parametrize(
    ("value", "says"),
    [
        ("", "--loader-cmd needs a command"),
        ("'open", "cannot split it into words"),
        ("no-such-loader-7f3e --x", "no such command: no-such-loader-7f3e"),
        ("./missing/loader.sh", "./missing/loader.sh is not an executable file"),
    ],
)
def test_a_command_that_cannot_run_is_a_usage_error(value: str, says: str) -> None:
    with pytest.raises(UsageError, match=says):
        protocol.command(value)


@pytest.mark.parametrize(
    ("data", "says"),
    [
        (b"\xff", "not UTF-8"),
        (b"  ", "it is empty"),
        (b"[]", "not an object"),
        (b'{"ok": NaN}', "not JSON"),
        (b'{"ok": "yes"}', 'no "ok"'),
        (b'{"ok": false}', "'error' is a required property"),
        (b'{"ok": true, "models": {"m": {"contextwindow": 1}}}', "Additional properties"),
        (b'{"ok": true, "models": {"m": {"maxTokens": "8192"}}}', "is not of type 'number'"),
    ],
)
def test_responses_are_held_to_the_schema(data: bytes, says: str) -> None:
    with pytest.raises(protocol.ProtocolError, match=says):
        protocol.parse_message(data, "/definitions/response")


def test_the_reference_answers_bad_request_lines_and_goes_on(tmp_path: Path) -> None:
    lines = b'not json\n\n{"kind": "embedded", "raw": "NaN"}\n{"kind": "nope"}\n'
    (tmp_path / "in").write_bytes(lines)
    with (tmp_path / "in").open("rb") as stdin, (tmp_path / "out").open("w") as stdout:
        protocol.serve(lambda request: reference.answer(request, reference.Fetcher()), stdin, stdout)
    answers = [json.loads(line) for line in (tmp_path / "out").read_text().splitlines()]
    assert [a.get("code") for a in answers] == ["bad-request", "non-finite-number", "bad-request"]
    assert all(schemas.validator("loader-io").is_valid(a) for a in answers)


def test_the_server_serves_routes_by_port_path_and_query_in_any_order_and_records_every_request() -> None:
    with RecordingServer(ports=2) as server:
        first, second = server.ports
        routes = {f"http://127.0.0.1:{first}/v1/models?region=eu&extended=true": b'{"models": {}}'}
        with server.serving(routes) as recorded, httpx.Client() as client:
            found = client.get(f"http://127.0.0.1:{first}/v1/models?extended=true&region=eu", headers={"X-Team": "red"})
            missing = client.get(f"http://127.0.0.1:{second}/v1/models?extended=true&region=eu")
        with server.serving({}) as later, httpx.Client() as client:
            stale = client.get(f"http://127.0.0.1:{first}/v1/models?extended=true&region=eu")
    assert (found.status_code, found.json()) == (200, {"models": {}})
    assert missing.status_code == 404 and "nothing is served at GET /v1/models" in missing.text
    assert stale.status_code == 404
    assert [(r.status, r.headers.get("x-team")) for r in recorded] == [
        (200, "red"),
        (404, None),
    ]
    assert len(later) == 1
    assert route_key("http://127.0.0.1:9/a%20b/?b=2&a=1") == (9, "/a b/", (("a", "1"), ("b", "2")))


def test_every_corpus_case_is_a_plan_and_recorded_exchanges_follow_the_documented_rules() -> None:
    """A case that records its exchanges says what the derivation rules say, so runners in other languages can
    trust either; and every case of a kind the harness knows becomes a request."""
    recorded = 0
    for case in corpus.cases():
        plan = cases.plan(case)
        assert plan is not None, case.id
        if "exchanges" in case.input:
            recorded += 1
            derived = cases.derive_exchanges(
                case.input["manifest"],
                case.input.get("manifest_url", cases.MANIFEST_URL),
                case.input.get("api_key", cases.API_KEY),
                case.input.get("headers", {}),
            )
            assert list(plan.exchanges) == derived, case.id
    assert recorded >= 25


def test_staging_maps_each_origin_to_its_own_port_and_keeps_paths_queries_and_relative_references() -> None:
    manifest = {
        "name": "Lumen",
        "website": "https://lumen.example",
        "baseUrl": "https://api.lumen.example/v1/?region=eu",
        "models_data_source": "endpoint",
        "models_endpoint": "//catalog.lumen.example/extended.json",
    }
    case_input = {
        "kind": "hosted",
        "manifest": manifest,
        "extended": {"models": {}},
        "manifest_url": "https://lumen.example/p.json",
    }
    plan = cases.from_input("x/y", "d", case_input, cases.Expected(True, models={}))
    staged = cases.stage(plan, [1001, 1002, 1003, 1004])
    served = json.loads(staged.routes[staged.request["manifest_url"]])
    site, api = urlsplit(staged.request["manifest_url"]).port, urlsplit(served["baseUrl"]).port
    catalog, models_dev = urlsplit(served["models_endpoint"]).port, urlsplit(staged.request["models_dev_url"]).port
    assert len({site, api, catalog, models_dev}) == 4
    assert staged.request["manifest_url"] == f"http://127.0.0.1:{site}/p.json"
    assert served["baseUrl"] == f"http://127.0.0.1:{api}/v1/?region=eu"
    assert served["models_endpoint"] == f"//127.0.0.1:{catalog}/extended.json"
    assert [e.url for e in staged.exchanges] == [
        f"http://127.0.0.1:{site}/p.json",
        f"http://127.0.0.1:{catalog}/extended.json?extended=true",
    ]
    assert staged.exchanges[1].headers == {"authorization": f"Bearer {cases.API_KEY}"}


@pytest.mark.parametrize(
    ("base_url", "served"),
    [
        ("https:api.lumen.example/v1", "http:127.0.0.1:{port}/v1"),  # new URL() reads it as https://api.lumen…
        ("https://${LUMEN_HOST}/v1", "http://127.0.0.1:{port}/v1"),  # a host no DNS name can be: nothing served
        (" https://api.lumen.example/v1 ", " http://127.0.0.1:{port}/v1 "),
        ("ftp://api.lumen.example/v1", "ftp://api.lumen.example/v1"),  # no client fetches it: left as it is
    ],
)
def test_every_url_a_client_would_fetch_is_put_on_loopback_as_it_was_written(base_url: str, served: str) -> None:
    manifest = {"name": "L", "website": "https://l.example", "baseUrl": base_url, "models_data_source": "endpoint"}
    plan = cases.from_input("x/y", "d", {"kind": "manifest", "json": manifest}, cases.Expected(True))
    staged = cases.stage(plan, [1001, 1002, 1003])
    sent = json.loads(staged.routes[staged.request["manifest_url"]])["baseUrl"]
    assert sent in {served.format(port=port) for port in (1001, 1002, 1003)}
    if urls.fetch_problem(urls.js_trim(base_url)):  # the reference client fails at the fetch: nothing answers
        assert [e.response for e in staged.exchanges] == ["manifest"]
        assert all("extended" not in url for url in staged.routes)


def test_an_authorization_header_of_the_user_or_the_manifest_replaces_the_key() -> None:
    manifest = {**GOOD_MANIFEST, "models_data_source": "endpoint", "headers": {"Authorization": "Token abc"}}
    derived = cases.derive_exchanges(manifest, cases.MANIFEST_URL, "sk-x", {})
    assert derived[1].headers == {"authorization": "Token abc"}
    derived = cases.derive_exchanges({**manifest, "headers": {}}, cases.MANIFEST_URL, "sk-x", {"authorization": "U"})
    assert [e.headers.get("authorization") for e in derived] == ["U", "U"]
    assert [e.absent_headers for e in derived] == [(), ()]


def test_a_manifest_the_reference_refuses_still_has_its_list_served_so_a_careless_loader_is_caught() -> None:
    manifest = {"website": "https://a.example", "baseUrl": "https://api.a.example/v1", "models_data_source": "endpoint"}
    plan = cases.from_input("x/y", "d", {"kind": "manifest", "json": manifest}, cases.Expected(False, "manifest-name"))
    staged = cases.stage(plan, [1001, 1002, 1003])
    assert [e.response for e in staged.exchanges] == ["manifest"]
    assert any(urlsplit(url).path == "/v1/models" for url in staged.routes)


MODEL = {"contextWindow": 128000, "maxTokens": 8192, "supportsImages": False, "displayName": "M"}


def _reply(response: dict | None, problem: str | None = None) -> protocol.Reply:
    return protocol.Reply(response, problem)


@pytest.mark.parametrize(
    ("models", "problems"),
    [
        ({"m": {**MODEL, "contextWindow": 128000.0}}, []),
        ({"m": {"displayName": "M"}}, []),
        ({"m": {**MODEL, "supportsImages": 0}}, ["model 'm': supportsImages is 0, the reference shows false"]),
        ({"m": {**MODEL, "maxTokens": 4096}}, ["model 'm': maxTokens is 4096, the reference shows 8192"]),
        ({"m": {**MODEL, "inputPrice": 1}}, ["model 'm': inputPrice is 1; the input gives no value, leave it out"]),
        ({}, ["it does not show 1 model(s) the reference shows: m"]),
        ({"m": MODEL, "n": {}}, ["it shows 1 model(s) the reference does not: n"]),
    ],
)
def test_models_compare_as_json_values_and_only_where_the_loader_produces_a_field(
    models: dict, problems: list[str]
) -> None:
    judgement = compare.judge(cases.Expected(True, models={"m": MODEL}), _reply({"ok": True, "models": models}))
    assert list(judgement.problems) == problems
    assert bool(judgement.diff) == bool(problems)


def test_acceptance_and_codes_are_compared_but_messages_are_not() -> None:
    refused = cases.Expected(False, "manifest-name")
    assert compare.judge(refused, _reply({"ok": False, "error": "anything at all"})).problems == ()
    assert compare.judge(refused, _reply({"ok": False, "error": "x", "code": "manifest-name"})).problems == ()
    wrong_code = compare.judge(refused, _reply({"ok": False, "error": "x", "code": "manifest-base-url"}))
    assert wrong_code.problems == ("it refused with code 'manifest-base-url'; the reference's code is 'manifest-name'",)
    assert "the reference refuses it" in compare.judge(refused, _reply({"ok": True, "models": {}})).problems[0]
    portable = compare.PROFILES["portable"]
    assert (
        compare.judge(
            cases.Expected(True, models={"m": MODEL}),
            _reply({"ok": True, "models": {"m": {**MODEL, "maxTokens": 1}}}),
            compared=portable,
        ).problems
        == ()
    )
    assert compare.judge(refused, _reply(None, "it hung")).problems == ("no usable answer: it hung",)


def test_requests_are_checked_for_url_headers_and_where_the_key_goes() -> None:
    exchanges = [
        cases.Exchange("http://127.0.0.1:9/p?provider=true", "manifest", {"x-team": "red"}, ("authorization",)),
        cases.Exchange("http://127.0.0.1:9/v1/models?extended=true", "extended", {"authorization": "Bearer k"}),
    ]
    leaky = [
        Recorded("GET", "http://127.0.0.1:9/p?provider=true", {"x-team": "red", "x-api-key": "k"}, 200),
        Recorded("GET", "http://127.0.0.1:9/v1/models", {"authorization": "Bearer k"}, 404),
    ]
    judgement = compare.judge(
        cases.Expected(False, "fetch"),
        _reply({"ok": False, "error": "x"}),
        recorded=leaky,
        exchanges=exchanges,
        api_key="k",
    )
    assert judgement.problems[0] == "it sent the API key to the manifest URL (http://127.0.0.1:9/p?provider=true)"
    assert judgement.problems[1].startswith("it did not request GET http://127.0.0.1:9/v1/models?extended=true")
    good = [
        Recorded("GET", "http://127.0.0.1:9/p?provider=true", {"x-team": "red"}, 200),
        Recorded("GET", "http://127.0.0.1:9/v1/models?extended=true", {"authorization": "Bearer k"}, 200),
    ]
    ok = compare.judge(
        cases.Expected(False), _reply({"ok": False, "error": "x"}), recorded=good, exchanges=exchanges, api_key="k"
    )
    assert ok.problems == ()
    unchecked = frozenset(compare.FIELDS)
    assert (
        compare.judge(
            cases.Expected(False),
            _reply({"ok": False, "error": "x"}),
            recorded=leaky,
            exchanges=exchanges,
            api_key="k",
            compared=unchecked,
        ).problems
        == ()
    )


def test_expectations_are_read_checked_and_matched(tmp_path: Path) -> None:
    path = tmp_path / "expectations.json"
    ids = ["embedded-strict-json/nan", "extended-attachment/true-text-only", "extended-attachment/false"]
    path.write_text(
        json.dumps(
            {
                "divergences": [
                    {"case": "embedded-strict-json/nan", "reason": "JSON5 on purpose"},
                    {"case": "extended-attachment/*", "fields": ["supportsPromptCache"], "reason": "cache_read"},
                    {"case": "*", "fields": ["displayName"], "reason": "we trim names"},
                ]
            }
        )
    )
    read = expectations.read(path, ids)
    assert read.expected_failure("embedded-strict-json/nan") is not None
    assert read.expected_failure("extended-attachment/false") is None
    assert read.ignored("extended-attachment/false") == (
        frozenset({"supportsPromptCache", "displayName"}),
        ("cache_read", "we trim names"),
    )
    assert read.ignored_everywhere() == {"displayName"}
    path.write_text(json.dumps({"divergences": [{"case": "embeded-*", "reason": "typo"}]}))
    with pytest.raises(UsageError, match=r"divergence 0 \('embeded-\*'\) matches no corpus case"):
        expectations.read(path, ids)
    path.write_text(json.dumps({"divergences": [{"case": "x", "reason": "r", "fields": ["maxtokens"]}]}))
    with pytest.raises(UsageError, match="is not one of"):
        expectations.read(path, ids)


def test_the_fixture_format_takes_exchanges_on_hosted_inputs_only() -> None:
    exchange = {"url": "https://api.a.example/v1/models?provider=true", "response": "manifest"}
    expected = {"valid": True, "violations": []}
    hosted = {"kind": "hosted", "manifest": {}, "extended": {}, "exchanges": [exchange], "api_key": "k"}
    embedded = {"kind": "embedded", "raw": "[]", "exchanges": [exchange]}
    valid = schemas.validator("fixture-case").is_valid
    assert valid([{"id": "hosted-x/a", "description": "d", "input": hosted, "expected": expected}])
    assert not valid([{"id": "embedded-x/a", "description": "d", "input": embedded, "expected": expected}])
    assert not valid(
        [
            {
                "id": "hosted-x/a",
                "description": "d",
                "input": {**hosted, "exchanges": [{"url": "u"}]},
                "expected": expected,
            }
        ]
    )
