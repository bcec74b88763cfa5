"""The loader harness as a pytest plugin: ``--loader-cmd`` runs the fixture corpus, and ``--loader-fuzz``
differential fuzzing, against a client's loader.

Thin, like ``conformance.plugin``: the harness modules decide, this one only speaks pytest. Without
``--loader-cmd`` it registers its options and nothing else. With it, it adds one collector, ``loader``, with an
item per corpus case (``loader::embedded-strict-json/nan``) and ``loader::fuzz``; failures print what the loader
returned against what the reference concludes, never a traceback; and it writes no file.
"""

from __future__ import annotations

import pytest

from conformance.errors import UsageError

DEFAULT_TIMEOUT_S = 10.0
OPTIONS = ("cmd", "jsonl", "timeout", "profile", "expectations", "fuzz")
"""The harness's options (``--loader-…``): with none of them given, it imports nothing and does nothing."""


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("conformance-loader", "client loader harness (provider-conformance)")
    add = group.addoption
    add(
        "--loader-cmd",
        dest="loader_cmd",
        metavar="CMD",
        help="run the fixture corpus against a client's loader: CMD reads a loader-protocol request on stdin and "
        "writes the response on stdout (schemas/loader-io.schema.json)",
    )
    add(
        "--loader-jsonl",
        dest="loader_jsonl",
        action="store_true",
        default=False,
        help="start CMD once and send it every request as a JSON line (default: once per request)",
    )
    add(
        "--loader-timeout",
        dest="loader_timeout",
        metavar="S",
        help=f"seconds the loader may take per request (default {DEFAULT_TIMEOUT_S:g})",
    )
    add(
        "--loader-profile",
        dest="loader_profile",
        metavar="NAME",
        help="what to compare: kilo-provider-defined (default: the Provider Defined loader of Kilo Code PR #2670, "
        "never released; 'kilo' is an alias), portable (without its maxTokens and prompt-caching quirks) or "
        "kilo-code (shipping Kilo Code v7: model discovery and models.dev)",
    )
    add(
        "--loader-expectations",
        dest="loader_expectations",
        metavar="FILE",
        help="the loader's known, deliberate divergences, each with a reason (JSON)",
    )
    add(
        "--loader-fuzz",
        dest="loader_fuzz",
        metavar="N",
        help="also put N generated inputs to the loader and the reference and report the first disagreement, "
        "shrunk, as a corpus case (seed: --hypothesis-seed)",
    )


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    """Before the battery's plugin, so that a battery target given with --loader-cmd is refused before any
    provider is fetched or started."""
    if not any(config.getoption(f"loader_{name}", None) for name in OPTIONS):
        return
    from conformance import corpus
    from conformance.harness.session import RUN, LoaderOptions, LoaderRun

    try:
        found = corpus.cases() if config.getoption("loader_cmd", None) else ()
        options = LoaderOptions.from_config(config, [case.id for case in found])
    except UsageError as exc:
        raise pytest.UsageError(str(exc)) from None
    if options is not None:
        config.pluginmanager.register(LoaderRun(config, options, found), RUN)
