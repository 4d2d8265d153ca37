"""How far to trust a judge: position bias, intransitive verdicts, and agreement with other judges.

- **Position bias** (per judge, pairs judged in both orders): the fraction of pairs whose two verdicts named
  the same *slot* (the judge picked the first, or the second, position both times), from
  :func:`preflab.oracles.position_bias` (its ``followed_position``).
- **Transitivity** (per judge): over the responses to one prompt (a list, or every pair sharing the prompt),
  a triad of responses all three of whose pairs were judged is intransitive when its hard verdicts form a
  cycle (x > y, y > z, z > x); ties break no cycle. Reported as the count and the fraction of complete triads.
- **Agreement** (every pair of judges, over the pairs both judged): the raw agreement rate ``p_o`` of the
  three-way verdict (A, B, tie) and Cohen's kappa ``(p_o - p_e) / (1 - p_e)``, ``p_e = sum_c p1(c) p2(c)``
  from each judge's marginal frequencies (``sklearn.metrics.cohen_kappa_score`` when installed, which
  gives the same number).

>>> round(cohen_kappa(["A", "A", "B", "tie"], ["A", "B", "B", "tie"]), 4)   # p_o = 3/4, p_e = 5/16
0.6364
>>> intransitive_triads({("x", "y"): 1.0, ("y", "z"): 1.0, ("x", "z"): 0.0, ("z", "w"): 1.0})
(1, 1)
"""

from __future__ import annotations

import itertools
import json
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Hashable, Mapping, Optional, Sequence

import numpy as np

from preflab.oracles.position_bias import position_bias

from .judging import PairJudgment

__all__ = ["Comparison", "cohen_kappa", "intransitive_triads", "consistency_report", "ConsistencyReport",
           "format_report"]

VERDICTS = ("A", "B", "tie")


@dataclass(frozen=True)
class Comparison:
    """One judged pair: ``item`` identifies the input (e.g. its line number), ``prompt`` groups it for
    transitivity, ``a`` and ``b`` name the two responses (their texts, or slot indices of a list)."""

    item: Hashable
    prompt: str
    a: Hashable
    b: Hashable
    judgment: PairJudgment


def cohen_kappa(first: Sequence[str], second: Sequence[str], labels: Sequence[str] = VERDICTS) -> float:
    """Cohen's kappa of two raters' labels of the same items: ``(p_o - p_e) / (1 - p_e)``; NaN when
    ``p_e = 1`` (both raters used one and the same label throughout: agreement by chance is certain)."""
    if len(first) != len(second):
        raise ValueError(f"cohen_kappa: the raters labelled {len(first)} and {len(second)} items; they must label "
                         "the same items")
    if not len(first):
        return float("nan")
    unknown = sorted({x for x in list(first) + list(second)} - set(labels), key=str)
    if unknown:
        raise ValueError(f"cohen_kappa: labels {unknown} are not among {list(labels)}")
    try:
        from sklearn.metrics import cohen_kappa_score
    except ImportError:
        cohen_kappa_score = None
    a, b = np.asarray(first, dtype=object), np.asarray(second, dtype=object)
    p_o = float(np.mean(a == b))
    p_e = float(sum(np.mean(a == c) * np.mean(b == c) for c in labels))
    if p_e >= 1.0:
        return float("nan")
    if cohen_kappa_score is not None:
        return float(cohen_kappa_score(list(first), list(second), labels=list(labels)))
    return (p_o - p_e) / (1.0 - p_e)


def intransitive_triads(prefs: Mapping[tuple, float]) -> tuple[int, int]:
    """``(intransitive, complete)``: among triads of items all three of whose pairs appear in ``prefs``
    (``{(x, y): P(x preferred to y)}``; a pair given twice, in either orientation, is averaged), how many
    form a cycle of hard verdicts (P > 1/2 is a win; exactly 1/2 a tie, which breaks any cycle)."""
    sums: dict = defaultdict(float)
    counts: dict = defaultdict(int)
    for (x, y), p in prefs.items():
        if x == y:
            continue
        key, q = ((x, y), p) if (str(type(x)), str(x)) <= (str(type(y)), str(y)) else ((y, x), 1.0 - p)
        sums[key] += float(q)
        counts[key] += 1
    beats: dict = {}
    neighbours: dict = defaultdict(set)
    for (x, y), s in sums.items():
        p = s / counts[(x, y)]
        beats[(x, y)] = 1 if p > 0.5 else -1 if p < 0.5 else 0
        beats[(y, x)] = -beats[(x, y)]
        neighbours[x].add(y)
        neighbours[y].add(x)
    nodes = sorted(neighbours, key=lambda n: (str(type(n)), str(n)))
    order = {n: i for i, n in enumerate(nodes)}
    intransitive = complete = 0
    for x in nodes:
        later = sorted((n for n in neighbours[x] if order[n] > order[x]), key=order.get)
        for y, z in itertools.combinations(later, 2):
            if z not in neighbours[y]:
                continue
            complete += 1
            cycle = beats[(x, y)] + beats[(y, z)] + beats[(z, x)]
            if abs(cycle) == 3:
                intransitive += 1
    return intransitive, complete


@dataclass
class ConsistencyReport:
    """``judges``: per judge, ``n_pairs``, ``position_bias`` (a dict of
    :class:`~preflab.oracles.PositionBias` fields, None when one order was judged; its ``followed_position``
    is the position-bias rate) and ``transitivity`` (``triads``, ``intransitive``, ``fraction``);
    ``agreement``: per pair of judges, ``n``, ``agreement`` (raw) and ``kappa``."""

    judges: dict = field(default_factory=dict)
    agreement: list = field(default_factory=list)

    def as_dict(self) -> dict:
        return {"judges": self.judges, "agreement": self.agreement}

    def to_json(self) -> str:
        return json.dumps(self.as_dict(), indent=2, allow_nan=True)


def consistency_report(comparisons: Mapping[str, Sequence[Comparison]]) -> ConsistencyReport:
    """The report over ``{judge name: [Comparison, ...]}``."""
    report = ConsistencyReport()
    verdicts: dict = {}
    for judge, items in comparisons.items():
        both = [c.judgment for c in items if c.judgment.p_ba is not None]
        bias = None
        if both and len(both) == len(items):
            bias = position_bias([j.p_ab for j in both], [j.p_ba for j in both]).as_dict()
        groups: dict = defaultdict(dict)
        for c in items:
            groups[c.prompt][(c.a, c.b)] = c.judgment.p
        bad = total = 0
        for prefs in groups.values():
            i, t = intransitive_triads(prefs)
            bad, total = bad + i, total + t
        report.judges[judge] = {
            "n_pairs": len(items),
            "position_bias": bias,
            "position_bias_rate": None if bias is None else bias["followed_position"],
            "transitivity": {"triads": total, "intransitive": bad, "fraction": bad / total if total else None},
        }
        verdicts[judge] = {(c.item, c.a, c.b): c.judgment.verdict.winner for c in items}
    for j1, j2 in itertools.combinations(list(comparisons), 2):
        shared = [k for k in verdicts[j1] if k in verdicts[j2]]
        v1, v2 = [verdicts[j1][k] for k in shared], [verdicts[j2][k] for k in shared]
        kappa = cohen_kappa(v1, v2) if shared else float("nan")
        agree = float(np.mean([x == y for x, y in zip(v1, v2)])) if shared else None
        report.agreement.append({"judges": [j1, j2], "n": len(shared), "agreement": agree,
                                 "kappa": None if np.isnan(kappa) else kappa})
    return report


def _fmt(x: Optional[float], digits: int = 3) -> str:
    return "-" if x is None else f"{x:.{digits}f}"


def format_report(report: ConsistencyReport) -> str:
    """The report as two plain-text tables: one row a judge, one row a pair of judges."""
    rows = [("judge", "pairs", "position bias", "first-slot rate", "intransitive triads", "fraction")]
    for judge, r in report.judges.items():
        bias, tr = r["position_bias"], r["transitivity"]
        rows.append((judge, str(r["n_pairs"]), _fmt(r["position_bias_rate"]),
                     _fmt(bias["first_position_win_rate"]) if bias else "-",
                     f"{tr['intransitive']}/{tr['triads']}", _fmt(tr["fraction"])))
    lines = _table(rows)
    if report.agreement:
        rows = [("judge 1", "judge 2", "pairs", "agreement", "Cohen's kappa")]
        rows += [(a["judges"][0], a["judges"][1], str(a["n"]), _fmt(a["agreement"]), _fmt(a["kappa"]))
                 for a in report.agreement]
        lines += [""] + _table(rows)
    return "\n".join(lines)


def _table(rows: list) -> list:
    widths = [max(len(r[c]) for r in rows) for c in range(len(rows[0]))]
    out = ["  ".join(cell.ljust(w) for cell, w in zip(r, widths)).rstrip() for r in rows]
    out.insert(1, "  ".join("-" * w for w in widths))
    return out
