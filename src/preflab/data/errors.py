"""Data problems: each names the source, the row and the column, and the fix.

A row number counts records from 1, as a person reads the file (a CSV header is not a row). Where the
record starts on another line of a text file (a CSV header, blank lines in JSON Lines, a cell spanning
lines) the line is given too; for an in-memory list the Python index is given too.

>>> p = Problem("data/prefs.jsonl", 11, "rejected", "empty response", location="row 12")
>>> str(p)
"data/prefs.jsonl: row 12, column 'rejected': empty response"
>>> err = DataError.from_problems("data/prefs.jsonl", [p] * 25)
>>> print(str(err).splitlines()[0])
data/prefs.jsonl: 25 problems in 1 row; the first 20:
>>> isinstance(err, ValueError), len(err.problems)
(True, 25)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Optional

from preflab.errors import PreflabError

__all__ = ["DataError", "DataWarning", "Problem", "SHOWN_PROBLEMS"]

SHOWN_PROBLEMS = 20  # how many problems an error message lists before it only counts the rest


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the data.

    ``row`` is the 0-based index of the record in the source (None when the problem concerns the whole
    source), ``location`` how a person finds it (``"row 12"``, ``"row 12 (line 13)"``), ``column`` the
    column (None for the whole row).
    """

    source: str
    row: Optional[int]
    column: Optional[str]
    message: str
    location: str = ""

    def __str__(self) -> str:
        where = [self.location or (f"row {self.row + 1}" if self.row is not None else "")]
        if self.column is not None:
            where.append(f"column {self.column!r}")
        where = ", ".join(w for w in where if w)
        return f"{self.source}: {where}: {self.message}" if where else f"{self.source}: {self.message}"


class DataError(PreflabError, ValueError):
    """Preference data that cannot be used as it is. ``problems`` lists every problem found."""

    def __init__(self, message: str, problems: Iterable[Problem] = ()):
        super().__init__(message)
        self.problems = tuple(problems)

    @classmethod
    def from_problems(cls, source: str, problems: list[Problem], hint: str = "") -> "DataError":
        """One error for many problems: a count, the first ``SHOWN_PROBLEMS``, and ``hint`` (the fix)."""
        return cls(summarize(source, problems) + (f"\n{hint}" if hint else ""), problems)


class DataWarning(UserWarning):
    """Data was usable but not all of it: rows were skipped (``skip_bad_rows=True``)."""


def summarize(source: str, problems: list[Problem], shown: int = SHOWN_PROBLEMS) -> str:
    """A count of problems and bad rows, then the first ``shown`` problems one per line."""
    rows = len({p.row for p in problems})
    head = f"{source}: {_plural(len(problems), 'problem')} in {_plural(rows, 'row')}"
    lines = [head + (f"; the first {shown}:" if len(problems) > shown else ":")]
    lines += [f"  {p}" for p in problems[:shown]]
    if len(problems) > shown:
        lines.append(f"  ... and {len(problems) - shown} more")
    return "\n".join(lines)


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"
