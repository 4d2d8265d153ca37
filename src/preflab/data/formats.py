"""The three kinds of preference data and the two styles, with TRL's column names.

========== ================================================ ===========================================
kind       columns                                          preference signal
========== ================================================ ===========================================
pairwise   ``prompt``, ``chosen``, ``rejected``; optional    chosen beats rejected (ranks ``[0, 1]``);
           ``score_chosen`` and ``score_rejected``          the scores a reward model gave each, if any
unpaired   ``prompt``, ``completion``, ``label``            ``label`` true: desirable (+1), false (-1)
listwise   ``prompt``, ``responses`` and ``ranks`` and/or   ``ranks``: ints, 0 is best, ties allowed;
           ``scores``                                       ``scores``: floats, higher is better
========== ================================================ ===========================================

A row is **standard** when the prompt and the responses are strings, **conversational** when they are
lists of ``{"role", "content"}`` messages: the prompt is the conversation so far, each response the
assistant turn(s) that follow it.

>>> detect_kind(["prompt", "chosen", "rejected", "source"], source="prefs.jsonl")
'pairwise'
>>> detect_kind(["prompt", "responses", "scores"], source="prefs.jsonl")
'listwise'
>>> detect_style("Why is the sky blue?"), detect_style([{"role": "user", "content": "Why?"}])
('standard', 'conversational')
>>> detect_kind(["question", "answer"], source="prefs.jsonl")
Traceback (most recent call last):
...
preflab.data.errors.DataError: prefs.jsonl: cannot tell the kind of preference data from its columns ['question', 'answer']: pairwise data has 'prompt', 'chosen', 'rejected'; unpaired has 'prompt', 'completion', 'label'; listwise has 'prompt', 'responses' and 'ranks' or 'scores'. Rename the columns (datasets' Dataset.rename_column) or pass kind=...
"""

from __future__ import annotations

from typing import Any, Optional, Sequence

from .errors import DataError

__all__ = [
    "KINDS", "STYLES", "COLUMNS", "RESPONSE_COLUMNS", "PAIR_SCORES", "normalize_kind", "normalize_style", "detect_kind",
    "detect_style", "required_columns",
]

KINDS = ("pairwise", "listwise", "unpaired")
STYLES = ("standard", "conversational")
_KIND_ALIASES = {"paired": "pairwise", "pairs": "pairwise", "pair": "pairwise", "list": "listwise",
                 "binary": "unpaired", "kto": "unpaired"}

# The columns each kind reads; for listwise at least one of ranks / scores must be present as well.
COLUMNS = {
    "pairwise": ("prompt", "chosen", "rejected"),
    "unpaired": ("prompt", "completion", "label"),
    "listwise": ("prompt", "responses"),
}
LISTWISE_SIGNALS = ("ranks", "scores")
PAIR_SCORES = ("score_chosen", "score_rejected")  # optional reward-model scores of a pair (UltraFeedback's names)
# The columns that hold responses (strings, or assistant messages in the conversational style).
RESPONSE_COLUMNS = {"pairwise": ("chosen", "rejected"), "unpaired": ("completion",), "listwise": ("responses",)}

_DESCRIPTION = (
    "pairwise data has 'prompt', 'chosen', 'rejected'; unpaired has 'prompt', 'completion', 'label'; "
    "listwise has 'prompt', 'responses' and 'ranks' or 'scores'"
)
_FIX = "Rename the columns (datasets' Dataset.rename_column) or pass kind=..."


def normalize_kind(kind: Optional[str]) -> Optional[str]:
    """``kind`` as one of ``KINDS`` (``"paired"`` is accepted for pairwise), or None to detect it."""
    if kind is None:
        return None
    name = _KIND_ALIASES.get(str(kind).lower(), str(kind).lower())
    if name not in KINDS:
        raise DataError(f"kind={kind!r} is not one of {list(KINDS)} (or None to detect it from the columns)")
    return name


def normalize_style(style: Optional[str]) -> Optional[str]:
    """``style`` as one of ``STYLES``, or None to detect it from the data."""
    if style is None:
        return None
    name = str(style).lower()
    if name not in STYLES:
        raise DataError(f"style={style!r} is not one of {list(STYLES)} (or None to detect it from the data)")
    return name


def detect_kind(columns: Sequence[str], *, source: str) -> str:
    """The kind whose columns are all present; pairwise, then unpaired, then listwise when several fit."""
    have = set(columns)
    for kind in ("pairwise", "unpaired", "listwise"):
        if set(COLUMNS[kind]) <= have and (kind != "listwise" or have & set(LISTWISE_SIGNALS)):
            return kind
    raise DataError(
        f"{source}: cannot tell the kind of preference data from its columns {list(columns)}: {_DESCRIPTION}. {_FIX}"
    )


def required_columns(kind: str, columns: Sequence[str], *, source: str) -> tuple[str, ...]:
    """The columns ``kind`` reads from this source; a DataError names any that are missing."""
    need = COLUMNS[kind]
    missing = [c for c in need if c not in columns]
    signals = tuple(c for c in LISTWISE_SIGNALS if c in columns) if kind == "listwise" else ()
    if kind == "pairwise" and all(c in columns for c in PAIR_SCORES):
        signals = PAIR_SCORES
    if kind == "listwise" and not signals:
        missing.append("ranks' or 'scores")
    if missing:
        names = ", ".join(f"'{c}'" for c in missing)
        raise DataError(
            f"{source}: {kind} data needs the column{'s' if len(missing) > 1 else ''} {names}, but the columns "
            f"are {list(columns)} ({_DESCRIPTION}). {_FIX}"
        )
    return need + signals


def detect_style(value: Any) -> Optional[str]:
    """``"standard"`` for a string, ``"conversational"`` for a list of messages, None when it cannot tell."""
    if isinstance(value, str):
        return "standard"
    if isinstance(value, (list, tuple)) and value and isinstance(value[0], dict):
        return "conversational"
    return None
