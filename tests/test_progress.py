"""Progress while a live run waits, and each item charged its own time: as a user at a terminal sees it."""

from __future__ import annotations

import os
import pty
import re
import subprocess
import sys
import xml.etree.ElementTree as ElementTree
from pathlib import Path

import pytest

from conformance.reference.server import ReferenceConfig, ReferenceServer

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def at_a_terminal(folder: Path, *args: str) -> str:
    """Everything pytest wrote to a pseudo-terminal (stdout and stderr both, as a user's terminal shows them)."""
    leader, follower = pty.openpty()
    env = {**os.environ, "COLUMNS": "120", "LINES": "40", "TERM": "xterm"}
    env.pop("PROVIDER_API_KEY", None)
    process = subprocess.Popen(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args],
        cwd=folder,
        stdin=subprocess.DEVNULL,
        stdout=follower,
        stderr=follower,
        env=env,
    )
    os.close(follower)
    chunks = []
    while True:
        try:
            data = os.read(leader, 65536)
        except OSError:  # the other end has closed
            break
        if not data:
            break
        chunks.append(data)
    os.close(leader)
    process.wait(timeout=600)
    return b"".join(chunks).decode("utf-8", errors="replace")


def screen(raw: str) -> list[str]:
    """The lines a terminal ends up showing for ``raw``: backspaces step back, later text overwrites."""
    lines, line, cursor = [], [], 0
    for char in ANSI.sub("", raw).replace("\r\n", "\n"):
        if char == "\n":
            lines.append("".join(line).rstrip())
            line, cursor = [], 0
        elif char == "\r":
            cursor = 0
        elif char == "\b":
            cursor = max(cursor - 1, 0)
        else:
            line[cursor : cursor + 1] = [char]
            cursor += 1
    return [*lines, "".join(line).rstrip()]


def test_a_live_run_says_what_it_waits_for_and_leaves_no_trace(tmp_path: Path) -> None:
    raw = at_a_terminal(tmp_path, "--reference-provider", "--latency-samples=3")
    assert "reference/coder: latency 3/3" in raw and "reference/coder: latency warm-up 1/1" in raw
    assert re.search(r"live checks \d+/\d+ done", raw)
    shown = screen(raw)
    assert not any("latency 3/3" in line or "live checks" in line for line in shown)
    progress = [line for line in shown if line.startswith("conformance ")]
    assert progress and all(re.fullmatch(r"conformance [.sF]+\s+\[\s*\d+%\]", line) for line in progress)


def test_quiet_means_quiet(tmp_path: Path) -> None:
    raw = at_a_terminal(tmp_path, "--reference-provider", "--latency-samples=2", "-q")
    assert "latency" not in raw.split("provider conformance")[0]
    assert "live checks" not in raw


def test_a_log_gets_no_status_line(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--reference-provider", "--latency-samples=2")
    assert "latency 2/2" not in result.stdout.str() + result.stderr.str()


def test_each_live_item_is_charged_its_own_time(pytester: pytest.Pytester) -> None:
    """The first live item runs the batch; its duration is still its own requests', and LAT-002 carries the
    latency samples."""
    result = pytester.runpytest("--reference-provider", "--latency-samples=20", "--junitxml=junit.xml")
    assert result.ret == 0
    times = {
        case.get("name"): float(case.get("time", "0"))
        for case in ElementTree.parse(pytester.path / "junit.xml").iter("testcase")
    }
    latency, listing = times["LAT-002[reference/coder]"], times["LST-001[endpoint]"]
    assert latency > 0 and listing > 0
    # twenty-one streamed requests take longer than one GET of the model list, on any machine
    assert latency > listing


def test_the_fetches_before_collection_are_seen_and_leave_no_trace(tmp_path: Path) -> None:
    """Before pytest collects, the run fetches the manifest and the model list: a user at a terminal sees which
    one it waits on, and the line is gone once they are fetched."""
    with ReferenceServer(ReferenceConfig(faults=frozenset())) as server:
        raw = at_a_terminal(tmp_path, f"--provider-url={server.manifest_url}", "-m", "catalog")
    assert f"fetching the manifest {server.manifest_url}" in raw
    assert "fetching the model list" in raw
    assert not any("fetching the" in line for line in screen(raw))


def test_quiet_fetches_quietly(tmp_path: Path) -> None:
    with ReferenceServer(ReferenceConfig(faults=frozenset())) as server:
        raw = at_a_terminal(tmp_path, f"--provider-url={server.manifest_url}", "-m", "catalog", "-q")
    assert "fetching the" not in raw
