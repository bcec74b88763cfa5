"""``provider-conformance clients install``: the drivers' dependencies, from the lock files shipped in the package,
into ``drivers.home()`` (never into the package, which may be a read-only wheel install).

- Python drivers: a venv made with an interpreter >= 3.12 (kosong needs it), found on PATH or under pyenv, then
  ``pip install -r requirements.lock``; the lock is copied beside the venv last, as the mark of a finished install.
- Node drivers: the driver folder copied over, then ``npm ci`` in the copy; the copy's lock file is the mark.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from conformance.clients import drivers

PYTHON_MIN = (3, 12)
NODE_MIN = 20
TAIL_CHARS = 2000
INSTALL_TIMEOUT_S = 1800


@dataclass(frozen=True)
class Outcome:
    runtime: str
    ok: bool
    message: str


def _version(argv: list[str]) -> str:
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return done.stdout.strip() if done.returncode == 0 else ""


def _python_candidates() -> Iterator[str]:
    yield sys.executable
    for name in ("python3.14", "python3.13", "python3.12", "python3"):
        found = shutil.which(name)
        if found:
            yield found
    pyenv_root = os.environ.get("PYENV_ROOT") or str(Path.home() / ".pyenv")
    versions = Path(pyenv_root) / "versions"
    if versions.is_dir():
        for entry in sorted(versions.iterdir()):
            yield str(entry / "bin" / "python")


def find_python() -> tuple[str, str] | None:
    """The oldest interpreter new enough for every Python driver (the lock is made with it), and its version."""
    found: list[tuple[tuple[int, int, int], str, str]] = []
    for candidate in dict.fromkeys(_python_candidates()):
        if not Path(candidate).is_file():
            continue
        said = _version([candidate, "-c", "import sys; print('%d.%d.%d' % sys.version_info[:3])"])
        match = re.fullmatch(r"(\d+)\.(\d+)\.(\d+)", said)
        if match and (int(match[1]), int(match[2])) >= PYTHON_MIN:
            found.append(((int(match[1]), int(match[2]), int(match[3])), candidate, said))
    return min(found)[1:] if found else None


def _run(argv: list[str], cwd: Path | None = None) -> str | None:
    """None when ``argv`` succeeded, else the end of what it printed."""
    try:
        done = subprocess.run(
            argv, cwd=cwd, capture_output=True, text=True, timeout=INSTALL_TIMEOUT_S, check=False, env=_env()
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"{argv[0]}: {exc}"
    if done.returncode == 0:
        return None
    return (done.stdout + done.stderr).strip()[-TAIL_CHARS:] or f"exit status {done.returncode}"


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}


def install_python(where: Path) -> Outcome:
    found = find_python()
    if found is None:
        need = f"{PYTHON_MIN[0]}.{PYTHON_MIN[1]}"
        return Outcome("python", False, f"no Python >= {need} on PATH or under pyenv (kosong needs it)")
    python, version = found
    folder = where / "python"
    mark = folder / drivers.PYTHON_LOCK
    lock = drivers.HERE / "python" / drivers.PYTHON_LOCK
    if drivers.venv_python(where).is_file() and mark.is_file() and mark.read_bytes() == lock.read_bytes():
        return Outcome("python", True, f"Python drivers already installed as locked, in {folder / 'venv'}")
    mark.unlink(missing_ok=True)
    shutil.rmtree(folder / "venv", ignore_errors=True)
    folder.mkdir(parents=True, exist_ok=True)
    venv_python = str(drivers.venv_python(where))
    failed = _run([python, "-m", "venv", str(folder / "venv")]) or _run(
        [venv_python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "-r", str(lock)]
    )
    if failed:
        return Outcome("python", False, f"the Python drivers' venv could not be set up:\n{failed}")
    shutil.copyfile(lock, mark)
    return Outcome("python", True, f"Python drivers ready: Python {version} ({python}), venv in {folder / 'venv'}")


def install_node(where: Path) -> Outcome:
    source = drivers.HERE / "node"
    if not (source / drivers.NODE_LOCK).is_file():
        return Outcome("node", True, "this installation has no Node drivers; nothing to install")
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        return Outcome("node", False, "Node.js is not installed (node and npm on PATH are needed)")
    said = _version([node, "--version"])
    major = re.match(r"v(\d+)", said)
    if not major or int(major[1]) < NODE_MIN:
        return Outcome("node", False, f"Node.js >= {NODE_MIN} is needed; {node} is {said or 'of unknown version'}")
    copy = where / "node"
    ignore = shutil.ignore_patterns("node_modules", drivers.NODE_LOCK)
    mark = copy / drivers.NODE_LOCK
    if (copy / "node_modules").is_dir() and mark.is_file() and mark.read_bytes() == (source / mark.name).read_bytes():
        shutil.copytree(source, copy, ignore=ignore, dirs_exist_ok=True)
        return Outcome("node", True, f"Node drivers already installed as locked, in {copy} (driver files refreshed)")
    mark.unlink(missing_ok=True)
    shutil.copytree(source, copy, ignore=ignore, dirs_exist_ok=True)
    shutil.copyfile(source / drivers.NODE_LOCK, copy / drivers.NODE_LOCK)
    failed = _run([npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=copy)
    if failed:
        (copy / drivers.NODE_LOCK).unlink(missing_ok=True)
        return Outcome("node", False, f"npm ci failed in {copy}:\n{failed}")
    return Outcome("node", True, f"Node drivers ready: Node.js {said} ({node}), packages in {copy / 'node_modules'}")


RUNTIMES: dict[str, Callable[[Path], Outcome]] = {"python": install_python, "node": install_node}


def install(where: Path, runtimes: tuple[str, ...] = tuple(RUNTIMES)) -> list[Outcome]:
    """Set up each runtime's drivers in ``where``; one runtime failing does not stop the others."""
    return [RUNTIMES[name](where) for name in runtimes]
