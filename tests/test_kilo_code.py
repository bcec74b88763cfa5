"""Shipping Kilo Code v7: model discovery and the models.dev mapping, and the harness's kilo-code profile."""

from __future__ import annotations

import json
import re
import shlex
import sys
from typing import Any

import pytest

from conformance import corpus, kilo_code
from conformance.errors import LoaderError

pytest_plugins = ["pytester"]
KILO_CODE_CASES = [c for c in corpus.cases() if c.input["kind"] in ("discover", "catalog")]
V7_LOADER = """
import sys
from conformance import kilo_code
from conformance.harness import protocol, reference

fetch = reference.Fetcher()


def answer(request):
    if request["kind"] == "models_dev":
        status, body = fetch.raw(request["catalog_url"], {})
        import json
        from conformance.errors import LoaderError
        try:
            return protocol.accepted(kilo_code.models_dev_models(json.loads(body), request["provider_id"]))
        except LoaderError as exc:
            return protocol.refused(str(exc), exc.code, exc.stage)
    return reference.answer(request, fetch)


protocol.serve(answer, sys.stdin.buffer, sys.stdout)
"""


@pytest.mark.parametrize(
    ("base", "url"),
    [
        ("https://api.lumen.example/v1", "https://api.lumen.example/v1/models"),
        ("https://api.lumen.example/v1/", "https://api.lumen.example/v1/models"),
        ("https://api.lumen.example/v1?region=eu", "https://api.lumen.example/models"),
        ("not a url", None),
    ],
)
def test_discovery_resolves_models_against_the_base_url_with_a_slash(base: str, url: str | None) -> None:
    assert kilo_code.discovery_url(base) == url


def test_the_key_is_sent_unless_the_headers_name_authorization() -> None:
    assert kilo_code.discovery_headers({"X-Team": "red"}, "sk-1") == {"X-Team": "red", "Authorization": "Bearer sk-1"}
    assert kilo_code.discovery_headers({"authorization": "Token t"}, "sk-1") == {"authorization": "Token t"}
    assert kilo_code.discovery_headers({}, None) == {}


@pytest.mark.parametrize(
    ("status", "body", "ids"),
    [
        (200, {"object": "list", "data": [{"id": "a"}, {"id": "b"}]}, ["a", "b"]),
        (200, {"data": [{"id": 1}, {"id": ""}, "c", {"id": "d"}]}, ["d"]),
        (200, [{"id": "a"}], []),
        (200, {"models": {"a": {}}}, []),
        (401, {"data": [{"id": "a"}]}, []),
    ],
)
def test_discovery_reads_only_string_ids_of_a_2xx_data_array(status: int, body: Any, ids: list[str]) -> None:
    found = kilo_code.discovered(status, json.dumps(body))
    assert list(found) == ids
    assert all(m == {**m, "contextWindow": 0, "maxTokens": 0, "inputPrice": 0} for m in found.values())


def test_a_body_that_is_not_json_gives_no_model() -> None:
    assert kilo_code.discovered(200, b"<html>") == {}


@pytest.mark.parametrize(
    ("modalities", "images"),
    [
        ({"input": ["text", "image"]}, True),
        ({"input": ["Image"]}, False),
        ({"input": "text,image"}, True),
        (None, False),
    ],
)
def test_images_are_read_with_includes_as_kilo_reads_them(modalities: Any, images: bool) -> None:
    entry = {"limit": {"context": 1, "output": 1}, "modalities": modalities}
    assert kilo_code.map_models_dev_model(entry)["supportsImages"] is images


@pytest.mark.parametrize(
    ("entry", "code"),
    [
        (None, "model-not-object"),
        ({"name": "no limit"}, "model-type"),
        ({"limit": {"context": 1}, "modalities": {"input": {"image": True}}}, "model-type"),
        ({"limit": {"context": 1}, "cost": {"tiers": {"a": 1}}}, "model-type"),
    ],
)
def test_an_entry_kilos_mapping_throws_on_is_refused(entry: Any, code: str) -> None:
    with pytest.raises(LoaderError) as raised:
        kilo_code.models_dev_models({"p": {"id": "p", "name": "P", "env": [], "models": {"m": entry}}}, "p")
    assert raised.value.code == code and raised.value.stage == "schema"


def test_a_broken_provider_elsewhere_in_the_catalog_refuses_them_all() -> None:
    catalog = {"p": {"models": {"m": {"limit": {"context": 1}}}}, "q": None}
    with pytest.raises(LoaderError, match="a provider of the catalog is not an object"):
        kilo_code.models_dev_models(catalog, "p")


def test_each_experimental_mode_is_one_more_model() -> None:
    entry = {"id": "m", "name": "M", "limit": {"context": 1}, "cost": {"input": 2, "output": 4}}
    entry["experimental"] = {"modes": {"fast": {"cost": {"input": 5}}, "slow": {}}}
    models = kilo_code.models_dev_models({"p": {"models": {"m": entry}}}, "p")
    assert models["m-fast"] == {**models["m"], "displayName": "M Fast", "inputPrice": 5, "outputPrice": 0}
    assert models["m-slow"] == {**models["m"], "displayName": "M Slow"}


def test_the_models_dev_mapping_takes_limits_as_given_prices_default_zero_and_exact_image() -> None:
    shown = kilo_code.map_models_dev_model(
        {"limit": {"context": 1000, "output": 0}, "modalities": {"input": ["Image"]}, "attachment": True}
    )
    assert shown == {"contextWindow": 1000, "maxTokens": 0, "supportsImages": False, "inputPrice": 0, "outputPrice": 0}


def test_the_corpus_has_cases_for_shipping_kilo() -> None:
    kinds = {c.input["kind"] for c in KILO_CODE_CASES}
    assert kinds == {"discover", "catalog"}


def _failed(result: pytest.RunResult) -> set[str]:
    return {m.group(1) for line in result.outlines if (m := re.match(r"FAILED loader::(\S+)", line))}


def test_a_loader_written_from_the_v7_rules_passes_the_kilo_code_profile(pytester: pytest.Pytester) -> None:
    path = pytester.path / "v7.py"
    path.write_text(V7_LOADER)
    command = f"{shlex.quote(sys.executable)} {path}"
    result = pytester.runpytest(f"--loader-cmd={command}", "--loader-jsonl", "--loader-profile=kilo-code")
    result.assert_outcomes(passed=len(KILO_CODE_CASES))
    result.stdout.fnmatch_lines(["loader: * (one process, JSON Lines; profile kilo-code; 10 s)"])


def test_the_provider_defined_loader_is_not_shipping_kilo(pytester: pytest.Pytester) -> None:
    """The Provider Defined reference maps models.dev its own way: the kilo-code profile tells them apart."""
    command = f"{shlex.quote(sys.executable)} -m conformance.loader"
    result = pytester.runpytest(f"--loader-cmd={command}", "--loader-jsonl", "--loader-profile=kilo-code")
    assert {"catalog-models-dev/no-output-fallback", "catalog-models-dev/deprecated-dropped"} <= _failed(result)
    assert not any(case.startswith("discover-") for case in _failed(result))


def test_fuzzing_does_not_go_with_the_kilo_code_profile(pytester: pytest.Pytester) -> None:
    command = f"{shlex.quote(sys.executable)} -m conformance.loader"
    result = pytester.runpytest(f"--loader-cmd={command}", "--loader-profile=kilo-code", "--loader-fuzz=5")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
