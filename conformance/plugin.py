"""The pytest plugin: options, one item per (check, subject), findings instead of tracebacks, summary, reports.

Thin by design: the engine (settings, resolve, runner, report) decides, and the run itself lives in
``conformance.battery``, imported only when a target is given; this module only declares options.
Without a target option it registers nothing beyond its options, so a user's own tests run as if it were not
installed.
"""

from __future__ import annotations

import pytest

from conformance import clients, cmdline, settings
from conformance.errors import UsageError


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("conformance", "provider conformance (provider-conformance)")
    add = group.addoption
    add(
        "--provider-url",
        dest="provider_url",
        metavar="URL",
        action="append",
        help="check a hosted manifest (…/v1/models?provider=true), then its endpoint",
    )
    add(
        "--provider-json",
        dest="provider_json",
        metavar="PATH",
        action="append",
        help="check embedded provider JSON from PATH ('-' reads stdin), then its endpoint unless --offline",
    )
    add(
        "--base-url",
        dest="base_url",
        metavar="URL",
        action="append",
        help="check a plain OpenAI-compatible endpoint (a full …/chat/completions URL is accepted)",
    )
    add(
        "--reference-provider",
        dest="reference_provider",
        metavar="FAULT,…",
        nargs="?",
        const="",
        action="append",
        help="start the bundled reference provider and check it; with faults, its broken variant",
    )
    add(
        "--models-dev-provider",
        dest="models_dev_provider",
        metavar="ID",
        help="with --models-dev: check only this provider of the catalog",
    )
    add(
        "--models-dev",
        dest="models_dev",
        metavar="PATH_OR_URL",
        help="validate a models.dev api.json catalog (a target of its own), or, with --provider-url, the catalog a "
        f"models_dev manifest is read from (default {settings.MODELS_DEV_URL})",
    )
    add("--offline", action="store_true", default=False, help="catalog checks only; nothing is sent over the network")
    add(
        "--api-key-env",
        dest="api_key_env",
        metavar="NAME",
        help=f"environment variable holding the API key (default {settings.DEFAULT_API_KEY_ENV})",
    )
    add(
        "--api-key-cmd",
        dest="api_key_cmd",
        metavar='"CMD ARGS"',
        help="run CMD (no shell) and send its trimmed output as the bearer token, as Codex's auth.command does",
    )
    add(
        "--api-key-cmd-timeout",
        dest="api_key_cmd_timeout",
        metavar="S",
        help="seconds the key command may take (default 5)",
    )
    add(
        "--api-key-cmd-refresh",
        dest="api_key_cmd_refresh",
        metavar="S",
        help="run the key command again once its token is S seconds old (default 300; 0 never)",
    )
    add(
        "--models-dev-key-env",
        dest="models_dev_key_env",
        metavar="NAME",
        help="environment variable holding a bearer token for a private --models-dev URL (sent to its origin only)",
    )
    add(
        "--provider-header",
        dest="provider_header",
        metavar='"Name: value"',
        action="append",
        help="a header sent with every request (repeatable)",
    )
    add("--model", dest="model", metavar="ID", action="append", help="a model for the live checks (repeatable)")
    add(
        "--wire-api",
        dest="wire_api",
        metavar="API",
        action="append",
        help="the API the live checks speak: chat (default), responses, messages, gemini (repeatable)",
    )
    add(
        "--client",
        dest="client",
        metavar="PROFILE",
        action="append",
        help="narrow the run to the checks that speak about one client (repeatable): " + ", ".join(clients.NAMES),
    )
    add(
        "--all-models",
        dest="all_models",
        action="store_true",
        default=False,
        help="run the live checks on every catalog model (default: the first)",
    )
    add("--concurrency", dest="concurrency", metavar="N", help="requests in flight at once (default 4)")
    add("--request-timeout", dest="request_timeout", metavar="S", help="seconds per request (default 60)")
    add(
        "--retries",
        dest="retries",
        metavar="N",
        help="send a request again up to N times after a network error (default 0); findings say so",
    )
    add(
        "--run-budget-s",
        dest="run_budget_s",
        metavar="S",
        help="seconds the live battery may take in all (default 900); checks left then skip, saying so",
    )
    add("--latency-samples", dest="latency_samples", metavar="N", help="streamed requests measured (default 5)")
    add("--latency-warmup", dest="latency_warmup", metavar="N", help="requests sent first and not measured (1)")
    add("--ttft-budget-ms", dest="ttft_budget_ms", metavar="MS", help="fail when TTFT p95 is above MS")
    add("--e2e-budget-ms", dest="e2e_budget_ms", metavar="MS", help="fail when end-to-end p95 is above MS")
    add("--fetch-budget-ms", dest="fetch_budget_ms", metavar="MS", help="fail when catalog fetch p95 is above MS")
    add(
        "--max-body-mb",
        dest="max_body_mb",
        metavar="N",
        default=None,
        help=f"refuse documents and bodies larger than N MiB (default {settings.DEFAULT_MAX_BODY_MB:g})",
    )
    add(
        "--real-clients",
        dest="real_clients",
        action="store_true",
        default=False,
        help="with a live target, also drive each installed client's real library against it (one agent turn; "
        "only the --client profiles', when given) and report what it did beside the suite's verdict (install "
        "them: provider-conformance clients install)",
    )
    add("--conformance-report", dest="conformance_report", metavar="PATH", help="write the JSON report to PATH")
    add(
        "--conformance-markdown",
        dest="conformance_markdown",
        metavar="PATH",
        help="write the report as Markdown to PATH (e.g. $GITHUB_STEP_SUMMARY)",
    )
    add(
        "--conformance-html",
        dest="conformance_html",
        metavar="PATH",
        help="write the report as one self-contained HTML page to PATH",
    )
    add(
        "--conformance-badge",
        dest="conformance_badge",
        metavar="PATH",
        help="write a shields.io endpoint badge (JSON) to PATH: one profile's verdict with --client, else all",
    )


@pytest.hookimpl(wrapper=True)
def pytest_load_initial_conftests(early_config: pytest.Config, parser: pytest.Parser, args: list[str]) -> object:
    """Refuse unrecognized options before pytest does: its error echoes each value, so ``--api-key=sk-…``
    would reach the CI log; ours names the option only, and suggests the one that was meant."""
    result = yield
    _, unknown = parser.parse_known_and_unknown_args(args)
    problem = cmdline.unknown_options_error(
        unknown, parser.optparser._option_string_actions, key_env=settings.DEFAULT_API_KEY_ENV
    )
    if problem:
        raise pytest.UsageError(problem)
    return result


def pytest_configure(config: pytest.Config) -> None:
    try:
        run_settings = settings.from_options(config.getoption, strict=bool(config.getini("strict")))
        if not run_settings.active:
            return
        from conformance.battery import ConformanceRun

        session = ConformanceRun(config, run_settings)
    except UsageError as exc:
        raise pytest.UsageError(str(exc)) from None
    for severity in ("must", "should", "info"):
        config.addinivalue_line("markers", f"{severity}: conformance checks of severity {severity.upper()}")
    config.addinivalue_line("markers", "catalog: conformance checks of published catalog data (offline)")
    config.addinivalue_line("markers", "live: conformance checks that talk to the endpoint")
    config.pluginmanager.register(session, "conformance-run")
