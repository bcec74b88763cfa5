"""How pytest-xdist spreads a live run over its workers: every live item of one subject (a model, the endpoint, the
run) goes to the same worker, which then runs them together, concurrently, as one process would; other items
are spread one by one, as xdist's own ``load`` does. Imported only under xdist."""

from __future__ import annotations

import re
from collections.abc import Collection
from typing import Any

import pytest
from xdist.scheduler import LoadScopeScheduling

_ITEM = re.compile(r"^conformance::(?P<check>[^\[]+)\[(?P<subject>.*)\]$")


def share(concurrency: int, workers: int, index: int) -> int:
    """Worker ``index``'s part of ``--concurrency``: the parts add up to it, so the workers together never have
    more requests in flight than one process would."""
    return concurrency // workers + (1 if index < concurrency % workers else 0)


class BySubject(LoadScopeScheduling):
    """xdist's ``loadscope`` with one scope per live subject; every other item is a scope of its own."""

    def __init__(self, config: pytest.Config, log: Any = None, *, live: Collection[str]) -> None:
        super().__init__(config, log)
        self.live = frozenset(live)

    def _split_scope(self, nodeid: str) -> str:
        match = _ITEM.match(nodeid)
        if match and match["check"] in self.live:
            return f"conformance::{match['subject']}"
        return nodeid
