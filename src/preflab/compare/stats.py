"""Statistics over seeds: the mean with a percentile-bootstrap interval, and paired differences between methods.

For values x_1..x_n (one per seed), the bootstrap draws ``resamples`` index vectors i* uniform on {1..n}^n
(seeded), and the interval is the (1-level)/2 and (1+level)/2 quantiles of the resampled means
``mean(x[i*])`` (numpy's linear quantile). A paired difference is the same on d_s = x_s(a) - x_s(b) over the
seeds both methods ran: runs of one seed share the SFT policy and see the same prompts in every round, so the
pairing removes what the seed does to both.

With one seed there is nothing to resample: the interval is the point (lo = hi = mean) and a ``note`` says so.

>>> r = bootstrap_mean([0.0, 1.0], resamples=10000, seed=0)
>>> r["mean"], r["lo"], r["hi"], r["n"]
(0.5, 0.0, 1.0, 2)
>>> bootstrap_mean([0.25])
{'mean': 0.25, 'lo': 0.25, 'hi': 0.25, 'n': 1, 'note': 'one seed: no interval (lo = hi = mean)'}
>>> d = paired_difference({0: 0.6, 1: 0.7, 2: 0.8}, {0: 0.5, 1: 0.6, 2: 0.7})
>>> round(d["mean"], 6), round(d["lo"], 6), round(d["hi"], 6), d["seeds"]
(0.1, 0.1, 0.1, [0, 1, 2])
"""

from __future__ import annotations

from typing import Dict, Mapping, Optional, Sequence

import numpy as np

__all__ = ["bootstrap_mean", "bootstrap_means", "paired_difference", "ONE_SEED"]

ONE_SEED = "one seed: no interval (lo = hi = mean)"


def bootstrap_means(values: Sequence[float], resamples: int = 10000, seed: int = 0) -> np.ndarray:
    """[resamples] means of ``values`` resampled with replacement (rows of seeded uniform indices)."""
    x = np.asarray(values, dtype=float)
    idx = np.random.default_rng(seed).integers(0, x.size, size=(resamples, x.size))
    return x[idx].mean(axis=1)


def bootstrap_mean(values: Sequence[float], resamples: int = 10000, level: float = 0.95,
                   seed: int = 0) -> Optional[dict]:
    """``{mean, lo, hi, n}``: the mean of ``values`` and its percentile-bootstrap interval at ``level``; one
    value gives lo = hi = mean and a ``note``; no values give None."""
    x = np.asarray(values, dtype=float)
    if x.size == 0:
        return None
    mean = float(x.mean())
    if x.size == 1:
        return {"mean": mean, "lo": mean, "hi": mean, "n": 1, "note": ONE_SEED}
    lo, hi = np.quantile(bootstrap_means(x, resamples, seed), [(1 - level) / 2, (1 + level) / 2])
    return {"mean": mean, "lo": float(lo), "hi": float(hi), "n": int(x.size)}


def paired_difference(a: Mapping[int, float], b: Mapping[int, float], resamples: int = 10000,
                      level: float = 0.95, seed: int = 0) -> Optional[dict]:
    """``{mean, lo, hi, n, seeds}`` of d_s = a[s] - b[s] over the seeds in both (``a``, ``b``: seed -> value)."""
    seeds = sorted(set(a) & set(b))
    out = bootstrap_mean([a[s] - b[s] for s in seeds], resamples, level, seed)
    if out is not None:
        out["seeds"] = seeds
    return out


def summary_by_round(runs: Dict[int, list], key: str, resamples: int, level: float, seed: int) -> list:
    """Per round: ``{round, mean, lo, hi, min, max, n}`` of ``key`` over the seeds that reached that round
    (``runs``: seed -> that run's rows)."""
    rounds = sorted({row["round"] for rows in runs.values() for row in rows if key in row})
    out = []
    for r in rounds:
        vals = [row[key] for rows in runs.values() for row in rows if row["round"] == r and key in row]
        s = bootstrap_mean(vals, resamples, level, seed)
        s.update(round=r, min=float(np.min(vals)), max=float(np.max(vals)))
        out.append(s)
    return out
