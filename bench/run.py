"""Benchmarks of the suite: how fast it checks, and how true its clock is.

    python bench/run.py            # the full run, whose table is in the README
    python bench/run.py --quick    # every benchmark, fewer repetitions: well under two minutes

Each figure is the median of several runs; comparisons are ratios taken in the same run. Nothing here is a test:
the suite's own tests never assert on time. The TTFT rows capture loopback traffic with tcpdump, as root
(``apt-get install -y tcpdump`` on Debian); without it they skip, saying so.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import wire
from jsonschema import Draft7Validator

from conformance import loader, runner, schemas
from conformance.client import Event, Exchange, Http, HttpSettings
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


PEAK = (
    "import os, subprocess, sys, time\n"
    "start = time.perf_counter()\n"
    "child = subprocess.Popen(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)\n"
    "usage = os.wait4(child.pid, 0)[2]\n"
    "print(time.perf_counter() - start, usage.ru_maxrss)\n"
)
"""Runs a command and prints its wall time and peak memory. A child's peak (``ru_maxrss``) starts from the memory
of the process it was forked from, so the command is started from this small one, not from the benchmark."""


def process(command: list[str], cwd: Path, env: dict[str, str] | None = None) -> tuple[float, float]:
    """One whole process as a user runs it: its wall time (s) and its own peak memory (MiB)."""
    said = subprocess.run(
        [sys.executable, "-c", PEAK, *command], cwd=cwd, env=env, capture_output=True, text=True, check=True
    )
    wall, kib = said.stdout.split()
    return float(wall), int(kib) / 1024


def paired(a: list[str], b: list[str], repeats: int, cwd: Path, env: dict[str, str] | None = None) -> dict[str, float]:
    """Two commands run A B A B …: the median of each, of the ratios b/a (a busier machine favours neither), and
    each one's peak memory."""
    runs = [(process(a, cwd, env), process(b, cwd, env)) for _ in range(repeats)]
    return {
        "a": statistics.median(r[0][0] for r in runs),
        "b": statistics.median(r[1][0] for r in runs),
        "ratio": statistics.median(r[1][0] / r[0][0] for r in runs),
        "a_mib": max(r[0][1] for r in runs),
        "b_mib": max(r[1][1] for r in runs),
    }


def pytest_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args]


def no_bytecode(folder: Path) -> dict[str, str]:
    """An environment for whole-process runs in which the plugin's modules, and those pytest rewrites, are compiled
    afresh each run (a copy of the package in ``folder`` with no bytecode cache, ``PYTHONDONTWRITEBYTECODE`` set;
    the libraries read what their install compiled), as on this machine before anything wrote a cache."""
    copy = folder / "fresh"
    shutil.copytree(
        ROOT / "conformance", copy / "conformance", ignore=shutil.ignore_patterns("__pycache__", "node_modules")
    )
    for data in ("schemas", "fixtures", "examples"):
        (copy / data).symlink_to(ROOT / data)
    return {**os.environ, "PYTHONDONTWRITEBYTECODE": "1", "PYTHONPATH": str(copy)}


def bytecode(folder: Path) -> dict[str, str]:
    """An environment for whole-process runs with Python's default, a bytecode cache (kept in ``folder``, out of
    the repository and the venv: the caller's first run fills it)."""
    cached = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    cached["PYTHONPYCACHEPREFIX"] = str(folder / "pycache")
    return cached


def catalog(repeats: int) -> list[Row]:
    if not API_JSON.exists():
        return [("models.dev catalog", "skipped", "", f"{API_JSON} is absent")]
    value = json.loads(API_JSON.read_text(encoding="utf-8"))
    ours = median_time(lambda: runner.evaluate(CatalogContext.from_catalog(Part(value))), repeats)
    plain = Draft7Validator(schemas.load("models-dev-api"))
    theirs = median_time(lambda: list(plain.iter_errors(value)), max(1, repeats // 2))
    with tempfile.TemporaryDirectory() as empty:
        tiny = Path(empty, "tiny.json")
        tiny.write_text(json.dumps({"p": {"id": "p", "name": "P", "npm": "x", "env": ["K"], "doc": "d", "models": {}}}))
        tiny_run, whole_run = pytest_command(f"--models-dev={tiny}"), pytest_command(f"--models-dev={API_JSON}")
        fresh, warm = no_bytecode(Path(empty)), bytecode(Path(empty))
        e2e = paired(tiny_run, whole_run, max(1, repeats // 2), Path(empty), fresh)
        process(whole_run, Path(empty), warm)
        cached = paired(tiny_run, whole_run, max(1, repeats // 2), Path(empty), warm)
    return [
        (
            "models.dev catalog (147 providers, 5,276 models), every MDV check in-process",
            f"{ours * 1000:.0f} ms",
            "≤ 150 ms",
            f"plain jsonschema validation of the same file: {theirs * 1000:.0f} ms ({theirs / ours:.1f}x ours)",
        ),
        (
            "`pytest --models-dev=api.json`, the whole process",
            f"{e2e['b']:.2f} s, {e2e['b_mib']:.0f} MiB",
            "≤ 3 s",
            f"{e2e['ratio']:.2f}x a one-provider catalog in the same run ({e2e['a']:.2f} s, {e2e['a_mib']:.0f} MiB); "
            f"{e2e['b'] / ours:.0f}x the in-process figure: interpreter, imports and pytest start-up, every module "
            "of the plugin compiled afresh each run (no bytecode cache of its own); with "
            f"Python's bytecode cache {cached['b']:.2f} s ({cached['ratio']:.2f}x a one-provider catalog)",
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
    with tempfile.TemporaryDirectory() as folder:
        Path(folder, "large.json").write_text(text)
        Path(folder, "two.json").write_text(json.dumps([manifest, {"models": dict(list(models.items())[:2])}]))
        two = pytest_command("--offline", "--provider-json=two.json", "--conformance-report=two-report.json")
        warm = bytecode(Path(folder))
        process(two, Path(folder), warm)
        whole = paired(
            two,
            pytest_command("--offline", "--provider-json=large.json", "--conformance-report=large-report.json"),
            repeats,
            Path(folder),
            warm,
        )
    return [
        (
            "embedded JSON with 20,000 models in-process: load, then every catalog check (200,059 results)",
            f"{load + checks:.2f} s",
            "≤ 1 s",
            f"load {load:.2f} s, checks {checks:.2f} s",
        ),
        (
            "`pytest --offline --provider-json=` 20,000 models `--conformance-report=`, the whole process",
            f"{whole['ratio']:.2f}x a two-model payload, {whole['b_mib']:.0f} MiB",
            "≤ 4x, ≤ 500 MiB",
            f"{whole['b']:.2f} s against {whole['a']:.2f} s ({whole['a_mib']:.0f} MiB), A B A B in the same run, "
            f"with a bytecode cache; {whole['b'] / (load + checks):.1f}x the in-process figure",
        ),
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
    # the critical path: start-up and the catalog fetch, the slowest request of the concurrent phase, then each
    # model's latency samples one after another (the two models side by side)
    critical = start_up + ttft_ms / 1000 * (1 + samples)
    return [
        (
            "live battery, 2 models, 200 ms TTFT, `--all-models --concurrency=16`",
            f"{wide:.2f} s",
            "≤ 1.5x the critical path",
            f"critical path {critical:.2f} s ({wide / critical:.2f}x); default --concurrency=4: {default:.2f} s; "
            f"--concurrency=1: {serial:.2f} s ({serial / wide:.1f}x the wide run)",
        )
    ]


def _cpu_s(who: int) -> float:
    """CPU seconds (user and system) used so far by this process, or by its children that have ended."""
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


def gateway(repeats: int) -> list[Row]:
    """``--all-models`` over a gateway of 300 models with a rate limit, as a whole process, against its critical
    path: the start-up (the same command with ``-m catalog``: interpreter, fetch, collection, catalog checks,
    report), then every reply the run asked for, ``concurrency`` at a time, each the injected TTFT long, as if
    no slot were ever idle. Phase barriers (the preflight, the battery, the latency samples) are real waits the
    ideal leaves out."""
    models, ttft_ms, concurrency = 300, 100.0, 16
    config = ReferenceConfig(models=models, ttft_ms=ttft_ms, max_in_flight=concurrency)
    with ReferenceServer(config) as server, tempfile.TemporaryDirectory() as empty:
        env = {**os.environ, "PROVIDER_API_KEY": REFERENCE_KEY}
        command = pytest_command(
            f"--provider-url={server.manifest_url}",
            "--all-models",
            f"--concurrency={concurrency}",
            "--latency-samples=1",
            "--latency-warmup=0",
            "--conformance-report=report.json",
        )
        start_up = statistics.median(process([*command, "-m", "catalog"], Path(empty), env)[0] for _ in range(repeats))
        before, cpu = server.replies, (_cpu_s(resource.RUSAGE_CHILDREN), _cpu_s(resource.RUSAGE_SELF))
        runs = [process(command, Path(empty), env) for _ in range(repeats)]
        replies = (server.replies - before) // repeats
        suite_cpu = (_cpu_s(resource.RUSAGE_CHILDREN) - cpu[0]) / repeats
        provider_cpu = (_cpu_s(resource.RUSAGE_SELF) - cpu[1]) / repeats
        stats = server.limit_stats
        results = json.loads(Path(empty, "report.json").read_text(encoding="utf-8"))["results"]
    assert stats is not None
    wall, mib = statistics.median(r[0] for r in runs), max(r[1] for r in runs)
    critical = start_up + math.ceil(replies / concurrency) * ttft_ms / 1000
    return [
        (
            f"`pytest --provider-url= --all-models --concurrency={concurrency}`, a gateway of {models} models, "
            f"{ttft_ms:.0f} ms TTFT, at most {concurrency} in flight, the whole process",
            f"{wall:.1f} s, {mib:.0f} MiB, {wall / critical:.2f}x the critical path",
            "≤ 1.2x the critical path",
            f"critical path {critical:.1f} s: start-up {start_up:.1f} s, then {replies} replies {concurrency} at a "
            f"time; {len(results)} results, {sum(r['outcome'] == 'failed' for r in results)} failed; the provider "
            f"saw at most {stats.peak} in flight and refused {stats.refused}; CPU: the suite {suite_cpu:.1f} s, "
            f"the provider {provider_cpu:.1f} s, on {os.cpu_count()} cores",
        )
    ]


async def _measure(base_url: str, samples: int) -> list[tuple[float, Sample]]:
    """``samples`` streamed requests after one warm-up, one at a time, as LAT-002 sends them: each with the
    wall-clock time it was handed to the client (packet times are wall-clock too)."""
    out = []
    async with Http(HttpSettings(api_key=REFERENCE_KEY)) as http:
        for _ in range(samples + 1):
            body = provider_defined_request(ModelInfo("reference/mini", max_tokens=64))
            started = time.time()
            exchange = await http.request(
                "POST", f"{base_url}/chat/completions", json_body=body, headers=http.headers(), stream=True
            )
            out.append((started, Sample.of(StreamView.of(exchange))))
    return out[1:]


def _serve(ttft_ms: float, token_ms: float) -> tuple[subprocess.Popen[str], str, int]:
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
        stderr=subprocess.DEVNULL,
        text=True,
    )
    first = server.stdout.readline() if server.stdout else ""
    origin = first.split(" on ", 1)[1].strip()
    return server, origin + "/v1", int(origin.rsplit(":", 1)[1])


def _on_the_wire(exchange: wire.Exchange) -> Sample:
    """The figures of one streamed response read off the wire: t0 is the request's first byte on loopback."""
    events = [Event((at - exchange.request_first) * 1000, data) for at, data in exchange.events()]
    return Sample.of(StreamView.of(Exchange("POST", "", {}, events=events)))


def _ttft(delay: float, samples: int) -> list[dict[str, float]]:
    """Each sample's TTFT as the suite measured it and as the wire shows it, and where the difference lies."""
    server, base_url, port = _serve(delay, 5)
    try:
        with tempfile.TemporaryDirectory() as folder:
            capture = Path(folder, "capture.pcap")
            with wire.capture(port, capture):
                measured = asyncio.run(_measure(base_url, samples))
            seen = wire.exchanges(capture, port)[1:]
    finally:
        server.terminate()
        server.wait()
    if len(seen) != len(measured):
        raise RuntimeError(f"the capture holds {len(seen)} exchanges for {len(measured)} requests: packets were lost")
    out = []
    for (started, suite), exchange in zip(measured, seen, strict=True):
        truth = _on_the_wire(exchange)
        if suite.ttft_ms is None or truth.ttft_ms is None:
            continue
        first_token = exchange.request_first + truth.ttft_ms / 1000
        out.append(
            {
                "error": abs(suite.ttft_ms - truth.ttft_ms),
                "send": (exchange.request_first - started) * 1000,
                "receive": (started + suite.ttft_ms / 1000 - first_token) * 1000,
                "provider": (first_token - exchange.request_last) * 1000 - delay,
                "injected": abs(suite.ttft_ms - delay),
                "itl": abs(suite.itl_ms - truth.itl_ms) if suite.itl_ms and truth.itl_ms else 0.0,
            }
        )
    return out


def accuracy(samples: int) -> list[Row]:
    """TTFT as the suite measures it against the same TTFT read off the wire: packet times on loopback, captured
    by tcpdump, so neither the reference provider's sleep nor the client's own clock is the truth."""
    why = wire.unavailable()
    if why:
        return [("TTFT against packet times on loopback", "skipped", "≤ 2 ms median, ≤ 5 ms p95", why)]
    rows = []
    for delay in (50, 200, 1000):
        measured = _ttft(delay, samples)
        figures = {key: summary([m[key] for m in measured]) for key in measured[0]}
        error, provider = figures["error"], figures["provider"]
        rows.append(
            (
                f"TTFT with a {delay} ms delay, against packet times on loopback",
                f"median error {error['p50']:.2f} ms",
                "≤ 2 ms median, ≤ 5 ms p95",
                f"p95 {error['p95']:.2f} ms (n={len(measured)}); of the median, {figures['send']['p50']:.2f} ms from "
                f"handing the request over to its first byte on the wire, {figures['receive']['p50']:.2f} ms from the "
                f"first token on the wire to the suite; the reference provider sends its first token "
                f"{provider['p50']:.2f} ms after the injected delay (median; p95 {provider['p95']:.2f}) counted from "
                f"the whole request on the wire; against the injected delay itself, median error "
                f"{figures['injected']['p50']:.2f} ms; ITL against the wire: median error "
                f"{figures['itl']['p50']:.2f} ms",
            )
        )
    return rows


def idle_overhead(repeats: int) -> list[Row]:
    """Whole processes with and without the plugin, paired (A B A B …): the median of the ratios."""
    with tempfile.TemporaryDirectory() as folder:
        Path(folder, "test_many.py").write_text(
            "".join(f"def test_{i}():\n    assert {i} == {i}\n" for i in range(2000))
        )
        runs = paired(pytest_command("-p", "no:conformance"), pytest_command(), repeats, Path(folder))
    return [
        (
            "an unrelated 2,000-test suite, plugin installed, no target",
            f"{(runs['ratio'] - 1) * 100:+.1f} %",
            "≤ 3 % slower",
            f"median of {repeats} paired ratios; {runs['b']:.2f} s with, {runs['a']:.2f} s with -p no:conformance",
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
    parser.add_argument("--only", action="append", metavar="NAME", help="run only this benchmark (repeatable)")
    options = parser.parse_args()
    quick = options.quick
    repeats = 3 if quick else 7
    benches: dict[str, Callable[[], list[Row]]] = {
        "catalog": lambda: catalog(repeats),
        "embedded": lambda: embedded(2 if quick else 5),
        "battery": lambda: battery(1 if quick else 3),
        "gateway": lambda: gateway(1 if quick else 3),
        "accuracy": lambda: accuracy(10 if quick else 40),
        "idle": lambda: idle_overhead(repeats if quick else 15),
        "fuzzing": lambda: fuzzing(5 if quick else 20),
    }
    unknown = set(options.only or ()) - benches.keys()
    if unknown:
        parser.error(f"no benchmark {', '.join(sorted(unknown))}; there are: {', '.join(benches)}")
    rows: list[Row] = []
    for name, bench in benches.items():
        if not options.only or name in options.only:
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
