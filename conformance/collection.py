"""What a run that brings its own items does to pytest's collection: the battery and the loader harness alike."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import pytest


class OwnItems:
    """A plugin mixin: the run's collector joins the session's top-level collectors, and with no paths given on
    the command line only its items run (not the project's own tests)."""

    collector: ClassVar[type[pytest.Collector]]
    collector_name: ClassVar[str]

    def pytest_ignore_collect(self, collection_path: Path, config: pytest.Config) -> bool | None:
        return True if config.args_source is not pytest.Config.ArgsSource.ARGS else None

    @pytest.hookimpl(wrapper=True)
    def pytest_make_collect_report(self, collector: pytest.Collector) -> Any:
        collected = yield
        if isinstance(collector, pytest.Session) and collected.passed:
            name = self.collector_name
            collected.result.append(self.collector.from_parent(collector, name=name, nodeid=name))
        return collected
