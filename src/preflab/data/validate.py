"""Row validation: every row is checked before anything is tokenized, and every problem is named.

A row is turned into a :class:`Record` (prompt, K responses, and its preference signal) or into
problems, each a ``(column, message)``. What counts as a problem:

* a missing value, or a value of the wrong type (a prompt or response that is not a string in the
  standard style, not a list of ``{"role", "content"}`` messages in the conversational style);
* an empty response (empty or only whitespace); a pair whose ``chosen`` equals its ``rejected``;
* a list with fewer than 2 responses; ``ranks`` / ``scores`` whose length differs from the responses';
  a rank that is not an int >= 0; a score that is not a finite number;
* a ``label`` that is not a bool;
* a malformed message: not a mapping, no ``role``, ``content`` not a string; a response that does not end
  with an ``assistant`` message.

Listwise ranks come from ``ranks`` when given, else from ``scores``: a response's rank is the number of
responses with a strictly higher score (0 is best; equal scores tie).

>>> records, problems = check_rows({"prompt": ["2+2?", "1+1?"], "chosen": ["4", "2"], "rejected": ["5", " "]},
...                                start=0, kind="pairwise", style="standard")
>>> records[0]
Record(index=0, prompt='2+2?', completions=['4', '5'], ranks=[0, 1], scores=None, labels=None)
>>> problems
[(1, 'rejected', 'empty response (only whitespace)')]
>>> ranks_from_scores([0.1, 0.9, 0.5, 0.9])
[3, 0, 2, 0]
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any, Optional, Union

from .formats import LISTWISE_SIGNALS, PAIR_SCORES, RESPONSE_COLUMNS

__all__ = ["Record", "check_rows", "check_row", "ranks_from_scores"]

Messages = list[dict]
_LIST_COLUMNS = ("responses", "ranks", "scores")  # lists in every style: JSON-encoded in a CSV cell
Text = Union[str, Messages]


@dataclass(frozen=True)
class Record:
    """One valid row: the prompt, its K responses, and the preference signal of ``kind``."""

    index: int
    prompt: Text
    completions: list
    ranks: Optional[list[int]]
    scores: Optional[list[float]]
    labels: Optional[list[int]]


def ranks_from_scores(scores: list[float]) -> list[int]:
    """Rank = number of strictly higher scores: 0 is best, equal scores share a rank."""
    return [sum(other > s for other in scores) for s in scores]


def check_rows(
    columns: dict[str, list], *, start: int, kind: str, style: str, text_cells: bool = False
) -> tuple[list[Record], list[tuple[int, str, str]]]:
    """Check a batch of rows given as columns; ``start`` is the 0-based index of its first row.

    Returns the valid rows as Records and the problems as ``(row index, column, message)``.
    ``text_cells`` (CSV) reads JSON-encoded lists in list columns and ``true`` / ``false`` labels.
    """
    n = len(next(iter(columns.values()))) if columns else 0
    records, problems = [], []
    for i in range(n):
        row = {c: v[i] for c, v in columns.items()}
        record, found = check_row(row, index=start + i, kind=kind, style=style, text_cells=text_cells)
        if found:
            problems += [(start + i, column, message) for column, message in found]
        else:
            records.append(record)
    return records, problems


def check_row(
    row: dict[str, Any], *, index: int, kind: str, style: str, text_cells: bool = False
) -> tuple[Optional[Record], list[tuple[str, str]]]:
    """One row as a Record, or the list of its problems as ``(column, message)``."""
    problems: list[tuple[str, str]] = []
    conversational = style == "conversational"

    def cell(column: str) -> Any:
        value = row.get(column)
        if not text_cells or not (conversational or column in _LIST_COLUMNS):
            return value
        if isinstance(value, str) and value.lstrip().startswith("["):
            try:
                return json.loads(value)
            except json.JSONDecodeError:
                return value
        return value

    prompt, msg = _check_prompt(cell("prompt"), conversational)
    if msg:
        problems.append(("prompt", msg))

    completions: list = []
    ranks = scores = labels = None
    if kind in ("pairwise", "unpaired"):
        for column in RESPONSE_COLUMNS[kind]:
            value, msg = _check_response(cell(column), conversational)
            if msg:
                problems.append((column, msg))
            completions.append(value)
        if kind == "pairwise":
            ranks = [0, 1]
            if not problems and completions[0] == completions[1]:
                problems.append(("rejected", "same as 'chosen'; a pair needs two different responses"))
            if all(c in row for c in PAIR_SCORES):
                raw = [row.get(c) for c in PAIR_SCORES]
                if text_cells:  # CSV cells are text
                    raw = [_number_or_text(v) for v in raw]
                scores, msg = _check_scores(raw, 2)
                if msg:
                    problems.append(("score_chosen", msg.replace("score 1", "score_chosen").replace("score 2", "score_rejected")))
        else:
            labels, msg = _check_label(row.get("label"), text_cells)
            if msg:
                problems.append(("label", msg))
    else:
        completions, msg = _check_responses(cell("responses"), conversational)
        if msg:
            problems.append(("responses", msg))
        k = len(completions) if isinstance(completions, list) else None
        given = {c: cell(c) for c in LISTWISE_SIGNALS if row.get(c) is not None}
        if not given:
            present = [c for c in LISTWISE_SIGNALS if c in row]
            problems.append((present[0] if len(present) == 1 else "ranks", "missing value; a list needs 'ranks' or 'scores'"))
        if "ranks" in given:
            ranks, msg = _check_ranks(given["ranks"], k)
            if msg:
                problems.append(("ranks", msg))
        if "scores" in given:
            scores, msg = _check_scores(given["scores"], k)
            if msg:
                problems.append(("scores", msg))
            elif ranks is None:
                ranks = ranks_from_scores(scores)
    if problems:
        return None, problems
    return Record(index, prompt, completions, ranks, scores, labels), []


# --------------------------------------------------------------------------------------------------
# Cells
# --------------------------------------------------------------------------------------------------


def _type_name(value: Any) -> str:
    """What a value is, for messages: ``a string``, ``a list of messages``, ``3 (a number)``."""
    if isinstance(value, (list, tuple)):
        return "a list of messages" if value and all(isinstance(m, dict) for m in value) else "a list"
    if isinstance(value, bool):
        return f"{value} (a bool)"
    if isinstance(value, (int, float)):
        return f"{value!r} (a number)"
    return {str: "a string", dict: "a mapping", type(None): "null"}.get(type(value), f"a {type(value).__name__}")


def _style_mismatch(value: Any, conversational: bool) -> str:
    want = "a list of {'role', 'content'} messages" if conversational else "a string"
    other_style = isinstance(value, str) if conversational else isinstance(value, (list, tuple))
    if not other_style:
        return f"expected {want}, got {_type_name(value)}"
    style = "conversational" if conversational else "in the standard style"
    return f"expected {want} (the data is {style}), got {_type_name(value)}; every row must use the same style"


def _check_prompt(value: Any, conversational: bool) -> tuple[Any, Optional[str]]:
    if value is None:
        return None, "missing value"
    if conversational:
        if not isinstance(value, (list, tuple)):
            return None, _style_mismatch(value, True)
        if not value:
            return None, "empty conversation; a prompt needs at least one message"
        return _check_messages(value)
    if not isinstance(value, str):
        return None, _style_mismatch(value, False)
    return value, None


def _check_response(value: Any, conversational: bool, what: str = "") -> tuple[Any, Optional[str]]:
    if value is None:
        return None, f"{what}missing value"
    if conversational:
        if not isinstance(value, (list, tuple)):
            return None, what + _style_mismatch(value, True)
        if not value:
            return None, f"{what}empty response (no messages)"
        messages, msg = _check_messages(value)
        if msg:
            return None, what + msg
        last = messages[-1]
        if last["role"] != "assistant":
            return None, (f"{what}message {len(messages)} has role {last['role']!r}; a response ends with an "
                          "'assistant' message")
        if not last["content"].strip():
            return None, f"{what}empty response" + (" (only whitespace)" if last["content"] else "")
        return messages, None
    if not isinstance(value, str):
        return None, what + _style_mismatch(value, False)
    if not value.strip():
        return None, f"{what}empty response" + (" (only whitespace)" if value else "")
    return value, None


def _check_messages(value: Any) -> tuple[Optional[Messages], Optional[str]]:
    """Messages as plain dicts, without the None-valued keys that Arrow adds to fill a struct."""
    out = []
    for j, m in enumerate(value, 1):
        if not isinstance(m, dict):
            return None, f"message {j} is {_type_name(m)}, not a {{'role', 'content'}} mapping"
        role, content = m.get("role"), m.get("content")
        if not isinstance(role, str) or not role:
            return None, f"message {j} has no 'role'" if role is None else f"message {j}: 'role' must be a non-empty string, got {role!r}"
        if content is None:
            return None, f"message {j} has no 'content'"
        if isinstance(content, (list, tuple)):
            return None, (f"message {j}: 'content' is a list of parts; only text content is supported, as one "
                          "string (join the text parts)")
        if not isinstance(content, str):
            return None, f"message {j}: 'content' must be a string, got {_type_name(content)}"
        out.append({k: v for k, v in m.items() if v is not None})
    return out, None


def _check_responses(value: Any, conversational: bool) -> tuple[Any, Optional[str]]:
    if value is None:
        return None, "missing value"
    if not isinstance(value, (list, tuple)) or (conversational and value and isinstance(value[0], dict)):
        want = "a list of responses (each a list of messages)" if conversational else "a list of responses (strings)"
        return None, f"expected {want}, got {_type_name(value)}"
    if len(value) < 2:
        return None, f"a list needs at least 2 responses, got {len(value)}"
    out = []
    for j, v in enumerate(value, 1):
        checked, msg = _check_response(v, conversational, what=f"response {j}: ")
        if msg:
            return None, msg
        out.append(checked)
    return out, None


def _check_ranks(value: Any, k: Optional[int]) -> tuple[Optional[list[int]], Optional[str]]:
    if not isinstance(value, (list, tuple)):
        return None, f"expected a list of ints (0 is best), got {_type_name(value)}"
    if k is not None and len(value) != k:
        return None, f"{len(value)} ranks for {k} responses; give one rank per response"
    out = []
    for j, r in enumerate(value, 1):
        ok = not isinstance(r, bool) and isinstance(r, (int, float)) and math.isfinite(r) and r == int(r) and r >= 0
        if not ok:
            return None, f"rank {j} is {r!r}; ranks are ints >= 0 (0 is best, equal ranks tie)"
        out.append(int(r))
    return out, None


def _check_scores(value: Any, k: Optional[int]) -> tuple[Optional[list[float]], Optional[str]]:
    if not isinstance(value, (list, tuple)):
        return None, f"expected a list of numbers (higher is better), got {_type_name(value)}"
    if k is not None and len(value) != k:
        return None, f"{len(value)} scores for {k} responses; give one score per response"
    out = []
    for j, s in enumerate(value, 1):
        if isinstance(s, bool) or not isinstance(s, (int, float)) or not math.isfinite(s):
            return None, f"score {j} is {s!r}; scores are finite numbers (higher is better)"
        out.append(float(s))
    return out, None


def _number_or_text(value: Any) -> Any:
    try:
        return float(value) if isinstance(value, str) else value
    except ValueError:
        return value


def _check_label(value: Any, text_cells: bool) -> tuple[Optional[list[int]], Optional[str]]:
    if text_cells and isinstance(value, str) and value.strip().lower() in ("true", "false"):
        value = value.strip().lower() == "true"
    if value is None:
        return None, "missing value"
    if not isinstance(value, bool):
        return None, f"label must be true or false (true: a desirable completion), got {value!r}"
    return [1 if value else -1], None
