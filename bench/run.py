"""Benchmarks of the suite: how fast it checks, and how true its clock is.

    python bench/run.py            # the full run, whose table is in the README
    python bench/run.py --quick    # every benchmark, fewer repetitions: well under two minutes

Each figure is the median of several runs; comparisons are ratios taken in the same run. Nothing here is a test:
the suite's own tests never assert on time.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from jsonschema import Draft7Validator

from conformance import loader, runner, schemas
from conformance.client import Http, HttpSettings
from conformance.live import ModelInfo, provider_defined_request
from conformance.metrics import Sample, summary
from conformance.reference.server import REFERENCE_KEY, ReferenceConfig, ReferenceServer
from conformance.streaming import StreamView
from conformance.target import CatalogContext, Part

ROOT = Path(__file__).resolve().parents[1]
API_JSON = ROOT.parent / "shared" / "data" / "models.dev" / "api.json"
Row = tuple[str, str, str, str]


def median_time(action: Callable[[], Any], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        action()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def pytest_time(args: list[str], repeats: int, cwd: Path) -> float:
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args]
    return median_time(lambda: subprocess.run(command, cwd=cwd, capture_output=True, check=False), repeats)


def catalog(repeats: int) -> list[Row]:
    if not API_JSON.exists():
        return [("models.dev catalog", "skipped", "", f"{API_JSON} is absent")]
    value = json.loads(API_JSON.read_text(encoding="utf-8"))
    ours = median_time(lambda: runner.evaluate(CatalogContext.from_catalog(Part(value))), repeats)
    plain = Draft7Validator(schemas.load("models-dev-api"))
    theirs = median_time(lambda: list(plain.iter_errors(value)), max(1, repeats // 2))
    with tempfile.TemporaryDirectory() as empty:
        e2e = pytest_time([f"--models-dev={API_JSON}"], max(1, repeats // 2), Path(empty))
    return [
        (
            "models.dev catalog (147 providers, 5,276 models), every MDV check in-process",
            f"{ours * 1000:.0f} ms",
            "≤ 150 ms",
            f"plain jsonschema validation of the same file: {theirs * 1000:.0f} ms ({theirs / ours:.1f}x ours)",
        ),
        (
            "`pytest --models-dev=api.json`, end to end",
            f"{e2e:.2f} s",
            "≤ 3 s",
            "interpreter and pytest start-up included",
        ),
    ]


def embedded(repeats: int) -> list[Row]:
    model = {
        "name": "M",
        "attachment": False,
        "reasoning": False,
        "temperature": True,
        "tool_call": True,
        "release_date": "2025-01-01",
        "last_updated": "2025-02-01",
        "open_weights": False,
        "modalities": {"input": ["text"], "output": ["text"]},
        "cost": {"input": 1, "output": 2},
        "limit": {"context": 128000, "output": 8192},
    }
    models = {f"acme/m{i}": {**model, "id": f"acme/m{i}"} for i in range(20_000)}
    manifest = {
        "name": "A",
        "website": "https://a.example",
        "baseUrl": "https://api.a.example/v1",
        "models_data_source": "embedded",
    }
    text = json.dumps([manifest, {"models": models}])
    load = median_time(lambda: loader.load_embedded(text), repeats)
    checks = median_time(lambda: runner.evaluate(CatalogContext.from_embedded(text)), repeats)
    return [
        (
            "embedded JSON with 20,000 models: load, then every catalog check (160,019 items)",
            f"{load + checks:.2f} s",
            "≤ 1 s",
            f"load {load:.2f} s, checks {checks:.2f} s",
        )
    ]


def battery(repeats: int) -> list[Row]:
    ttft_ms, samples = 200.0, 3
    with ReferenceServer(ReferenceConfig(ttft_ms=ttft_ms)) as server, tempfile.TemporaryDirectory() as empty:
        env = {**os.environ, "PROVIDER_API_KEY": REFERENCE_KEY}

        def timed(*extra: str) -> float:
            command = [
                sys.executable,
                "-m",
                "pytest",
                "-q",
                "-p",
                "no:cacheprovider",
                f"--provider-url={server.manifest_url}",
                "--all-models",
                f"--latency-samples={samples}",
                "--latency-warmup=0",
                *extra,
            ]
            return median_time(lambda: subprocess.run(command, cwd=empty, env=env, capture_output=True), repeats)

        start_up = timed("-m", "catalog")
        wide, default, serial = timed("--concurrency=16"), timed(), timed("--concurrency=1")
    # the critical path: start-up and the catalog fetch, the slowest request of the concurrent phase, then the
    # latency samples one after another (2 models x 3 samples)
    critical = start_up + ttft_ms / 1000 * (1 + 2 * samples)
    return [
        (
            "live battery, 2 models, 200 ms TTFT, `--all-models --concurrency=16`",
            f"{wide:.2f} s",
            "≤ 1.5x the critical path",
            f"critical path {critical:.2f} s ({wide / critical:.2f}x); default --concurrency=4: {default:.2f} s; "
            f"--concurrency=1: {serial:.2f} s ({serial / wide:.1f}x the wide run)",
        )
    ]


async def _measure(base_url: str, samples: int) -> list[Sample]:
    """``samples`` streamed requests after one warm-up, one at a time, as LAT-002 sends them."""
    out = []
    async with Http(HttpSettings(api_key=REFERENCE_KEY)) as http:
        for _ in range(samples + 1):
            body = provider_defined_request(ModelInfo("reference/mini", max_tokens=64))
            exchange = await http.request(
                "POST", f"{base_url}/chat/completions", json_body=body, headers=http.headers(), stream=True
            )
            out.append(Sample.of(StreamView.of(exchange)))
    return out[1:]


def _serve(ttft_ms: float, token_ms: float) -> tuple[subprocess.Popen[str], str]:
    """The reference provider in a process of its own, so the client's clock shares no interpreter with it."""
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "conformance.cli",
            "serve",
            "--port",
            "0",
            "--ttft-ms",
            str(ttft_ms),
            "--token-ms",
            str(token_ms),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    first = server.stdout.readline() if server.stdout else ""
    return server, first.split(" on ", 1)[1].strip() + "/v1"


def _ttft(delay: float, samples: int) -> list[Sample]:
    server, base_url = _serve(delay, 5)
    try:
        return asyncio.run(_measure(base_url, samples))
    finally:
        server.terminate()
        server.wait()


def accuracy(samples: int) -> list[Row]:
    """TTFT against injected delays, net of what the same request costs with no delay at all (parsing the request,
    planning the reply, the loopback round trip: real time to the first token, not the clock's error)."""
    base = statistics.median(s.ttft_ms for s in _ttft(0, samples) if s.ttft_ms is not None)
    rows = []
    for delay in (50, 200, 1000):
        measured = _ttft(delay, samples)
        errors = [abs(s.ttft_ms - base - delay) for s in measured if s.ttft_ms is not None]
        itl_errors = [abs(s.itl_ms - 5) for s in measured if s.itl_ms is not None]
        figures = summary(errors)
        rows.append(
            (
                f"TTFT against an injected {delay} ms delay",
                f"median error {figures['p50']:.2f} ms",
                "≤ 2 ms median, ≤ 5 ms p95",
                f"p95 {figures['p95']:.2f} ms, net of the {base:.2f} ms a request "
                f"takes with no delay; ITL against 5 ms per token: median error "
                f"{statistics.median(itl_errors):.2f} ms (n={len(errors)})",
            )
        )
    return rows


def idle_overhead(repeats: int) -> list[Row]:
    """Runs with and without the plugin alternate, so a machine that gets busier favours neither."""
    with tempfile.TemporaryDirectory() as folder:
        Path(folder, "test_many.py").write_text(
            "".join(f"def test_{i}():\n    assert {i} == {i}\n" for i in range(2000))
        )
        pairs = [
            (pytest_time([], 1, Path(folder)), pytest_time(["-p", "no:conformance"], 1, Path(folder)))
            for _ in range(repeats)
        ]
    with_plugin, without = statistics.median(p[0] for p in pairs), statistics.median(p[1] for p in pairs)
    return [
        (
            "an unrelated 2,000-test suite, plugin installed, no target",
            f"{with_plugin:.2f} s",
            "≤ 3 % slower",
            f"with -p no:conformance {without:.2f} s: {(with_plugin / without - 1) * 100:+.1f} %",
        )
    ]


def fuzzing(seconds: float) -> list[Row]:
    from hypothesis import given, settings
    from hypothesis import strategies as st

    count = 0
    leaves = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8)
    values = st.recursive(
        leaves, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    )

    @settings(max_examples=10**6, deadline=None, database=None)
    @given(values)
    def once(value: Any) -> None:
        nonlocal count
        count += 1
        text = json.dumps(value)
        with contextlib.suppress(loader.LoaderError):
            loader.load_embedded(text)
        runner.evaluate(CatalogContext.from_embedded(text))
        if time.perf_counter() > stop:
            raise TimeoutError

    stop = time.perf_counter() + seconds
    with contextlib.suppress(TimeoutError):
        once()
    return [
        (
            "fuzzing: arbitrary JSON through the loader and every catalog check",
            f"{count / seconds:.0f} examples/s",
            "(reported)",
            f"{count} examples in {seconds:g} s",
        )
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer repetitions: every benchmark in under two minutes")
    quick = parser.parse_args().quick
    repeats = 3 if quick else 7
    rows: list[Row] = []
    for bench in (
        lambda: catalog(repeats),
        lambda: embedded(2 if quick else 5),
        lambda: battery(1 if quick else 3),
        lambda: accuracy(10 if quick else 40),
        lambda: idle_overhead(repeats),
        lambda: fuzzing(5 if quick else 20),
    ):
        rows += bench()
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    print(
        f"machine: {os.cpu_count()} cores, {cpu}, Python {platform.python_version()}, "
        f"{'quick' if quick else 'full'} run"
    )
    print("| benchmark | result | target | detail |\n|---|---|---|---|")
    for row in rows:
        print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
