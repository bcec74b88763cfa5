"""Where the data files that ship with the package live: schemas, the fixture corpus, the examples.

In a wheel they sit in ``conformance/_data``; in a source checkout (and an editable install) they are the
top-level folders of the repository, which stay the one copy that is edited.
"""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


def data_dir(name: str) -> Path:
    """The folder ``name`` (``schemas``, ``fixtures`` or ``examples``)."""
    packaged = _PACKAGE / "_data" / name
    return packaged if packaged.is_dir() else _PACKAGE.parent / name
