"""Length-controlled win rate against a baseline, in the manner of AlpacaEval 2 (Dubois et al. 2024,
arXiv:2404.04475): a GLM per model predicts the judge's preference for the model over the baseline,

    logit P(model beats baseline on x) = theta_m + phi_m tanh(delta_len / sd(delta_len)) + psi_m gamma_x,

(delta_len = words of the model's answer minus the baseline's; gamma_x the instruction's difficulty), and
the length-controlled win rate is the model's average predicted preference with the length term zeroed:
LC = mean_x sigmoid(theta_m + psi_m gamma_x). The raw win rate counts ties half. gamma_x is the centred
logit of the baseline's smoothed win rate on x against the *other* models (leave-one-model-out, so a model's
own verdicts never explain themselves; 0 when no other model met the baseline on x). phi and psi carry a
small ridge (``ridge``), as AlpacaEval regularizes its GLM.

>>> battles = [{"model_a": "m", "model_b": "base", "winner": "model_a" if i % 4 else "model_b", "prompt": str(i),
...             "response_a": "word " * (5 + (i % 4)), "response_b": "word " * 5} for i in range(40)]
>>> lc = length_controlled_win_rate(battles, baseline="base")
>>> round(lc["m"]["win_rate"], 3), lc["m"]["lc_win_rate"] < 0.75         # it wins when it is longer
(0.75, True)
"""

from __future__ import annotations

from collections import defaultdict
from typing import Callable, Optional

import numpy as np
from scipy.special import expit, logit

from .logistic import fit_logistic
from .store import Battle, battle_from_record

__all__ = ["length_controlled_win_rate"]


def _words(text: str) -> int:
    return len(text.split())


def length_controlled_win_rate(battles, baseline: str, length: Optional[Callable[[str], float]] = None,
                               ridge: float = 1.0) -> dict:
    """model -> {"win_rate", "lc_win_rate", "length_coef", "battles"} (fractions in [0, 1]) for every model
    that met ``baseline``; ``length`` measures a response (default: words)."""
    length = length or _words
    rows = defaultdict(list)        # model -> [(prompt, y, delta_len)]
    for k, raw in enumerate(battles):
        try:
            b = raw.validate() if isinstance(raw, Battle) else battle_from_record(raw)
        except (ValueError, TypeError) as err:
            raise ValueError(f"battle {k}: {err}") from None
        if baseline not in (b.model_a, b.model_b):
            continue
        y = {"model_a": 1.0, "model_b": 0.0}.get(b.winner, 0.5)
        if b.model_a == baseline:
            model, y, delta = b.model_b, 1.0 - y, length(b.response_b) - length(b.response_a)
        else:
            model, delta = b.model_a, length(b.response_a) - length(b.response_b)
        rows[model].append((b.prompt, y, float(delta)))
    if not rows:
        raise ValueError(f"no battle involves the baseline {baseline!r}; name a model that met the others")
    # the baseline's record per prompt and model, for the leave-one-model-out difficulty
    per_prompt = defaultdict(lambda: defaultdict(lambda: [0.0, 0]))
    for model, rs in rows.items():
        for prompt, y, _ in rs:
            cell = per_prompt[prompt][model]
            cell[0] += 1.0 - y
            cell[1] += 1
    out = {}
    for model, rs in sorted(rows.items()):
        prompts = [p for p, _, _ in rs]
        y = np.array([v for _, v, _ in rs])
        delta = np.array([d for _, _, d in rs])
        gamma = np.zeros(len(rs))
        for i, p in enumerate(prompts):
            others = [c for m, c in per_prompt[p].items() if m != model]
            if others:
                won, n = sum(c[0] for c in others), sum(c[1] for c in others)
                gamma[i] = logit((won + 0.5) / (n + 1.0))
        if np.any(gamma):
            gamma = gamma - gamma.mean()
        sd = delta.std()
        t = np.tanh(delta / sd) if sd > 0 else np.zeros_like(delta)
        X = np.column_stack([np.ones(len(y)), t, gamma])
        beta = fit_logistic(X, y, ridge=ridge, ridged=np.array([0.0, 1.0, 1.0]))
        lc = float(np.mean(expit(beta[0] + beta[2] * gamma)))
        out[model] = {"win_rate": float(y.mean()), "lc_win_rate": lc, "length_coef": float(beta[1]),
                      "battles": len(rs)}
    return out
