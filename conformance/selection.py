"""``-k`` and ``-m`` applied to the subjects inside a grouped item, with pytest's own expression language and
matching rules (a ``-k`` word matches a substring of a name, case-insensitively; a ``-m`` word names a marker), so
a subject is chosen exactly when its own item would have been."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest
from _pytest.mark.expression import Expression

COLLECTOR = "conformance"
"""The name of the items' parent, which pytest's ``-k`` matches as well as the item's own name."""


@dataclass(frozen=True)
class Chooser:
    """The run's ``-k`` and ``-m`` expressions; calling it says whether an item of that name and markers is chosen."""

    keyword: Expression | None
    marks: Expression | None

    @classmethod
    def of(cls, config: pytest.Config) -> Chooser | None:
        """The chooser of this run, or None when it chooses nothing (or an expression is bad: pytest says so)."""
        try:
            keyword, marks = (
                Expression.compile(text) if text else None
                for text in (config.option.keyword.strip(), config.option.markexpr.strip())
            )
        except SyntaxError:
            return None
        return cls(keyword, marks) if keyword or marks else None

    def __call__(self, name: str, marks: tuple[str, ...]) -> bool:
        names = (COLLECTOR, name.lower(), *marks)
        if self.keyword and not self.keyword.evaluate(_words(names)):
            return False
        return not self.marks or self.marks.evaluate(lambda mark, **kwargs: not kwargs and mark in marks)


def _words(names: tuple[str, ...]) -> Callable[..., bool]:
    def matches(word: str, /, **kwargs: object) -> bool:
        word = word.lower()
        return not kwargs and any(word in name for name in names)

    return matches
