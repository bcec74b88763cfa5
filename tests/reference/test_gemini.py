"""The reference provider's Gemini API driven by the real ``google-genai`` SDK, the way kosong's ``GoogleGenAI``
(Kimi Code CLI's ``gemini`` and ``vertexai`` provider types) drives it: a custom base URL, the key in
``x-goog-api-key``, tools as ``parameters_json_schema``, thoughts asked for with ``include_thoughts``. Clean, the
SDK reads everything; with the ``gemini-*`` faults, what the SDK does is measured, not assumed."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from conformance.reference import gemini
from conformance.reference.chat import REASONING_TEXT, REPLY_TEXT
from conformance.reference.server import REFERENCE_KEY, ReferenceConfig, ReferenceServer

SCHEMA = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}


@pytest.fixture(scope="module")
def genai() -> Any:
    """The SDK, imported by the tests that drive it: at collection it would cost every xdist worker 1.4 s of CPU."""
    return pytest.importorskip("google.genai")


def tool_config(genai: Any) -> Any:
    """Tools as kosong sends them (``parameters_json_schema``), with the SDK's automatic calling off."""
    types = genai.types
    declaration = types.FunctionDeclaration(name="get_weather", description="Weather", parameters_json_schema=SCHEMA)
    return types.GenerateContentConfig(
        tools=[types.Tool(function_declarations=[declaration])],
        automatic_function_calling=types.AutomaticFunctionCallingConfig(disable=True),
    )


def thoughts(genai: Any) -> Any:
    return genai.types.GenerateContentConfig(thinking_config=genai.types.ThinkingConfig(include_thoughts=True))


@pytest.fixture(scope="module")
def server() -> Iterator[ReferenceServer]:
    with ReferenceServer() as running:
        yield running


def client(genai: Any, server: ReferenceServer, key: str = REFERENCE_KEY) -> Any:
    """A client as kosong builds it: ``genai.Client(http_options=HttpOptions(base_url=…), api_key=…)``."""
    options = genai.types.HttpOptions(base_url=server.origin, api_version="v1beta")
    return genai.Client(api_key=key, http_options=options)


def serving(*faults: str) -> ReferenceServer:
    return ReferenceServer(ReferenceConfig(faults=frozenset(faults)))


def answer(chunks: list[Any]) -> tuple[str, str]:
    """(thought text, answer text) of a stream, as kosong splits them: by ``part.thought``."""
    parts = [p for c in chunks for p in (c.candidates[0].content.parts or [])]
    return "".join(p.text for p in parts if p.thought), "".join(p.text or "" for p in parts if not p.thought)


def test_the_sdk_reads_a_reply_with_its_finish_reason_and_usage(genai: Any, server: ReferenceServer) -> None:
    sdk = client(genai, server)  # held: the SDK closes its HTTP client when the Client object is collected
    reply = sdk.models.generate_content(model="reference/coder", contents="Say hello.")
    assert reply.text == REPLY_TEXT
    assert reply.candidates[0].finish_reason == genai.types.FinishReason.STOP
    usage = reply.usage_metadata
    assert usage.candidates_token_count == len(REPLY_TEXT.split())
    assert usage.total_token_count == usage.prompt_token_count + usage.candidates_token_count


def test_the_sdk_streams_thoughts_then_text_with_the_usage_on_the_last_chunk(
    genai: Any, server: ReferenceServer
) -> None:
    sdk = client(genai, server)
    chunks = list(sdk.models.generate_content_stream(model="reference/coder", contents="Hi", config=thoughts(genai)))
    assert answer(chunks) == (REASONING_TEXT, REPLY_TEXT)
    assert [c.usage_metadata is not None for c in chunks] == [False] * (len(chunks) - 1) + [True]
    assert chunks[-1].usage_metadata.thoughts_token_count == len(REASONING_TEXT.split())
    assert [c.candidates[0].finish_reason for c in chunks][-1] == genai.types.FinishReason.STOP


def test_a_function_call_and_its_response_make_a_round_trip(genai: Any, server: ReferenceServer) -> None:
    sdk = client(genai, server)
    config = tool_config(genai)
    types = genai.types
    asked = types.Content(role="user", parts=[types.Part.from_text(text="Weather in Paris? Use the tool.")])
    first = sdk.models.generate_content(model="reference/mini", contents=[asked], config=config)
    (call,) = first.function_calls
    assert (call.name, call.args) == ("get_weather", {"city": "Paris"})  # the place the question names
    result = types.Part(function_response=types.FunctionResponse(name=call.name, response={"output": "Sunny"}))
    history = [asked, first.candidates[0].content, types.Content(role="user", parts=[result])]
    second = sdk.models.generate_content(model="reference/mini", contents=history, config=config)
    assert second.text == f'The tool returned {{"output": "Sunny"}} {REPLY_TEXT}'  # the result read back


def test_the_sdk_lists_and_gets_the_models(genai: Any, server: ReferenceServer) -> None:
    sdk = client(genai, server)
    assert [m.name for m in sdk.models.list()] == ["models/reference/coder", "models/reference/mini"]
    model = sdk.models.get(model="reference/mini")
    assert (model.display_name, model.output_token_limit) == ("Reference Mini", 4096)


def kosong_like(genai: Any, server: ReferenceServer) -> Any:
    """The client as kosong's ``GoogleGenAI`` builds it: a base URL and no ``api_version``, so the SDK's default."""
    return genai.Client(api_key=REFERENCE_KEY, http_options=genai.types.HttpOptions(base_url=server.origin))


def test_the_sdks_default_version_path_is_served(genai: Any, server: ReferenceServer) -> None:
    sdk = kosong_like(genai, server)
    chunks = list(sdk.models.generate_content_stream(model="reference/mini", contents="Hi"))
    assert answer(chunks) == ("", REPLY_TEXT)


def test_a_v1beta_only_server_breaks_the_sdks_default_path(genai: Any) -> None:
    with serving("gemini-v1beta-only") as broken, pytest.raises(genai.errors.ClientError) as raised:
        sdk = kosong_like(genai, broken)
        list(sdk.models.generate_content_stream(model="reference/mini", contents="Hi"))
    assert raised.value.code == 404
    assert "/v1/models/reference/mini:streamGenerateContent" in raised.value.message


def test_a_vertex_client_reaches_the_same_api(genai: Any, server: ReferenceServer) -> None:
    options = genai.types.HttpOptions(base_url=server.origin)
    vertex = genai.Client(vertexai=True, api_key=REFERENCE_KEY, http_options=options)
    assert vertex.models.generate_content(model="reference/coder", contents="Hi").text == REPLY_TEXT


def test_a_wrong_key_is_a_google_error_the_sdk_reads(genai: Any, server: ReferenceServer) -> None:
    sdk = client(genai, server, key="not-the-key")
    with pytest.raises(genai.errors.ClientError) as raised:
        sdk.models.generate_content(model="reference/coder", contents="Hi")
    assert (raised.value.code, raised.value.status) == (400, "INVALID_ARGUMENT")
    assert "API key not valid" in raised.value.message


def test_the_sdk_breaks_on_a_done_marker(genai: Any) -> None:
    with serving("gemini-stream-done-marker") as broken, pytest.raises(genai.errors.UnknownApiResponseError):
        sdk = client(genai, broken)
        list(sdk.models.generate_content_stream(model="reference/coder", contents="Hi"))


def test_the_sdk_silently_loses_a_stream_that_is_one_json_array(genai: Any) -> None:
    with serving("gemini-no-alt-sse") as broken:
        sdk = client(genai, broken)
        chunks = list(sdk.models.generate_content_stream(model="reference/coder", contents="Hi"))
    assert [(c.candidates, c.text) for c in chunks] == [(None, None)]


def test_the_sdk_breaks_on_arguments_sent_as_a_string(genai: Any) -> None:
    config = tool_config(genai)
    with serving("gemini-args-string") as broken, pytest.raises(ValueError, match=r"functionCall\.args"):
        sdk = client(genai, broken)
        sdk.models.generate_content(model="reference/mini", contents="Use the tool.", config=config)


def test_the_sdk_is_degraded_by_thoughts_without_their_flag_and_by_missing_usage(genai: Any) -> None:
    with serving("gemini-thoughts-as-text", "gemini-no-usage") as broken:
        sdk = client(genai, broken)
        stream = sdk.models.generate_content_stream(model="reference/coder", contents="Hi", config=thoughts(genai))
        chunks = list(stream)
    assert answer(chunks) == ("", REASONING_TEXT + REPLY_TEXT)
    assert all(c.usage_metadata is None for c in chunks)


@pytest.mark.parametrize(
    ("path", "model", "method", "vertex"),
    [
        ("models", None, None, False),
        ("models/reference/coder", "reference/coder", None, False),
        ("models/reference/coder:streamGenerateContent", "reference/coder", "streamGenerateContent", False),
        ("publishers/reference/models/coder:generateContent", "reference/coder", "generateContent", True),
        (
            "projects/p/locations/global/publishers/google/models/reference/mini:generateContent",
            "reference/mini",
            "generateContent",
            True,
        ),
    ],
)
def test_paths_name_the_model_and_method(path: str, model: str | None, method: str | None, vertex: bool) -> None:
    assert gemini.route(path) == gemini.Route(model, method, vertex)


@pytest.mark.parametrize("path", ["tunedModels/x", "models:generateContent", "projects/p/models/x"])
def test_other_paths_are_not_gemini_routes(path: str) -> None:
    assert gemini.route(path) is None
