"""Length-controlled (LC) win rate against a baseline, as AlpacaEval 2 computes it (Dubois et al. 2024,
arXiv:2404.04475; ``alpaca_eval/metrics/glm_winrate.py`` of the package alpaca-eval 0.6.6).

For each model m, one GLM over its battles with the baseline b predicts the judge's preference
p = P(m's answer preferred to b's) in [0, 1] (a tie is 1/2):

    logit p = phi tanh(std_delta_len) + psi gamma_x + theta        (AlpacaEval's formula
              "np.tanh(std_delta_len) + instruction_difficulty + not_gamed_baseline - 1")

with ``std_delta_len = (chars(baseline answer) - chars(m's answer)) / sd`` (lengths in **characters**, the
sample standard deviation over m's battles; AlpacaEval's ``output_1`` is the baseline, so its sign is baseline
minus model) and gamma_x the instruction's difficulty. The fit is scikit-learn's L1-penalised logistic
regression, ``LogisticRegressionCV(penalty="l1", solver="liblinear", fit_intercept=False, random_state=123)``
over its 10 default values of C, chosen by 5-fold ``GroupKFold`` on the continuous log loss; the probabilistic
labels are fitted by duplicating each battle as label 1 with weight p and label 0 with weight 1 - p (a
battle's two copies share a fold). The LC win rate is the mean prediction with the length term set to 0:
LC = mean_x sigmoid(psi gamma_x + theta) (AlpacaEval reports 100 x this; here it is a fraction).

Two things AlpacaEval downloads at run time (``df_gamed.csv`` from the hub) cannot be had offline:

* **the instruction difficulty** gamma_x, which AlpacaEval fitted per instruction over its leaderboard's
  models. Pass it as ``difficulty`` (a mapping instruction -> gamma, or the path of a CSV with columns
  ``instruction`` (or ``prompt``) and ``instruction_difficulty`` (or ``difficulty``)); otherwise it is
  *estimated* per instruction from the battles themselves (:func:`estimate_instruction_difficulty`: one joint
  logistic fit, a per-model quality and length term plus one ridge-shrunk offset per instruction), for each
  model from the *other* models' battles with the baseline (``difficulty_from`` lists them; none: gamma = 0).
  A model's own verdicts are left out because an offset fitted on them explains them: with one battle per
  instruction the GLM then leans on gamma instead of length (a model that won only by being longer kept an
  LC of 0.73 against its raw 0.77, truth 0.50). AlpacaEval's difficulty comes from a fit over its whole
  leaderboard, where one model weighs little. Every result says which in ``difficulty_source`` ("given" or
  "estimated"). An LC number on estimated difficulty is computed the AlpacaEval way but is not AlpacaEval's
  number, and is not comparable with the published leaderboard.
* **the "gamed baseline" rows** (the baseline made verbose or concise, weighted 0.2 / 2), which regularise phi
  and psi toward the baseline in AlpacaEval's default GLM ``length_controlled_v1``. They are not used here, so
  the GLM is AlpacaEval's ``length_controlled_noreg`` (``glm`` in the result says so); with the difficulty
  given, the LC win rate equals alpaca_eval's for that GLM.

``length_coef`` in the result is -phi: positive when the judge favours the longer answer.

>>> battles = [{"model_a": "m", "model_b": "base", "winner": "model_a" if i % 4 else "model_b", "prompt": str(i),
...             "response_a": "word " * (5 + (i % 4)), "response_b": "word " * 5} for i in range(40)]
>>> lc = length_controlled_win_rate(battles, baseline="base")
>>> r = lc["m"]
>>> round(r["win_rate"], 3), r["lc_win_rate"] < 0.75, r["length_coef"] > 0, r["difficulty_source"]
(0.75, True, True, 'estimated')
"""

from __future__ import annotations

import csv
import inspect
import math
import os
import sys
from collections import defaultdict
from contextlib import contextmanager
from typing import Callable, Mapping, Optional, Sequence, Union

import numpy as np
from scipy.optimize import minimize
from scipy.special import expit, log_expit

from .store import Battle, battle_from_record

__all__ = ["glm_lc_win_rate", "length_controlled_win_rate", "estimate_instruction_difficulty",
           "read_instruction_difficulty", "GLM_NAME"]

GLM_NAME = "length_controlled_noreg"       # AlpacaEval's name for its GLM without the gamed-baseline rows
N_SPLITS = 5                               # AlpacaEval's GroupKFold folds
RANDOM_STATE = 123                         # AlpacaEval's liblinear seed
DIFFICULTY_RIDGE = 1.0                     # prior precision of an estimated instruction offset (logit scale)

Difficulty = Union[None, Mapping[str, float], str, "os.PathLike[str]"]


def _chars(text: str) -> int:
    return len(text)


def read_instruction_difficulty(path) -> dict:
    """instruction -> difficulty from a CSV with an ``instruction`` (or ``prompt``) column and an
    ``instruction_difficulty`` (or ``difficulty``) column."""
    if not os.path.exists(path):
        raise ValueError(f"instruction difficulty {path}: no such file")
    with open(path, newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        cols = reader.fieldnames or []
        key = next((c for c in ("instruction", "prompt") if c in cols), None)
        val = next((c for c in ("instruction_difficulty", "difficulty") if c in cols), None)
        if key is None or val is None:
            raise ValueError(f"instruction difficulty {path}: expected columns 'instruction' (or 'prompt') and "
                             f"'instruction_difficulty' (or 'difficulty'), found {cols}")
        out = {}
        for lineno, row in enumerate(reader, 2):
            try:
                out[row[key]] = float(row[val])
            except (TypeError, ValueError):
                raise ValueError(f"{path}:{lineno}: {val} {row[val]!r} is not a number") from None
    return out


def _std_delta_len(model_len: np.ndarray, baseline_len: np.ndarray) -> np.ndarray:
    """AlpacaEval's ``std_delta_len``: (baseline - model) / its sample sd; 0 where the lengths never vary."""
    d = baseline_len - model_len
    sd = float(np.std(d, ddof=1)) if len(d) > 1 else 0.0
    return d / sd if sd > 0 and math.isfinite(sd) else np.zeros_like(d)


def _check_rows(preference, output, baseline_output, difficulty, length) -> tuple:
    p = np.asarray(preference, dtype=float)
    if p.ndim != 1:
        raise ValueError(f"preference: expected one number per battle, got shape {p.shape}")
    n = len(p)
    for name, seq in (("output", output), ("baseline_output", baseline_output), ("instruction_difficulty", difficulty)):
        if len(seq) != n:
            raise ValueError(f"{name} has {len(seq)} entries but preference has {n}; give one per battle")
    bad = np.flatnonzero(~np.isfinite(p) | (p < 0) | (p > 1))
    if len(bad):
        raise ValueError(f"preference[{bad[0]}] = {float(p[bad[0]])!r} is not in [0, 1] (P(model preferred to the "
                         f"baseline); a tie is 0.5)")
    gamma = np.asarray(difficulty, dtype=float)
    bad = np.flatnonzero(~np.isfinite(gamma))
    if len(bad):
        raise ValueError(f"instruction_difficulty[{bad[0]}] = {float(gamma[bad[0]])!r} is not a finite number")

    def lens(name, seq):
        out = np.empty(n)
        for i, v in enumerate(seq):
            if isinstance(v, str):
                out[i] = length(v)
            elif isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool) and v >= 0:
                out[i] = float(v)                                  # a length given directly
            else:
                raise ValueError(f"{name}[{i}]: expected the answer's text (or its length), got {v!r}")
        return out

    return p, lens("output", output), lens("baseline_output", baseline_output), gamma


def _l1_logistic_cv(folds):
    """AlpacaEval's ``LogisticRegressionCV`` (L1, liblinear, no intercept, seed 123), spelled for the installed
    scikit-learn (1.8 deprecated ``penalty`` for ``l1_ratios``)."""
    from sklearn.linear_model import LogisticRegressionCV

    params = inspect.signature(LogisticRegressionCV).parameters
    kw = dict(cv=folds, scoring=_continuous_log_loss_score, solver="liblinear", fit_intercept=False,
              dual=False, random_state=RANDOM_STATE)
    if params["penalty"].default == "deprecated":
        kw["l1_ratios"] = (1.0,)
    else:
        kw["penalty"] = "l1"
    if "use_legacy_attributes" in params:
        kw["use_legacy_attributes"] = False
    return LogisticRegressionCV(**kw)


@contextmanager
def _quiet_stderr(on: bool):
    if not on:
        yield
        return
    sys.stderr.flush()
    saved, null = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(null, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(null)


def _continuous_log_loss_score(estimator, X, y, sample_weight=None) -> float:
    """Minus the log loss against the continuous target p on a fold of the duplicated rows, as AlpacaEval
    scores its folds: a row's copies are (label 1, weight p) and (label 0, weight 1 - p), so p is recovered
    from either copy."""
    if sample_weight is None:
        raise RuntimeError("scikit-learn did not pass sample weights to the CV scorer; install scikit-learn>=1.5")
    w = np.asarray(sample_weight, dtype=float)
    p = np.where(np.asarray(y) == 1, w, 1.0 - w)
    q = np.clip(estimator.predict_proba(X)[:, 1], 1e-15, 1 - 1e-15)
    return float(np.mean(p * np.log(q) + (1 - p) * np.log(1 - q)))


def glm_lc_win_rate(preference: Sequence[float], output: Sequence, baseline_output: Sequence,
                    instruction_difficulty: Sequence[float], length: Optional[Callable[[str], float]] = None,
                    n_splits: int = N_SPLITS) -> dict:
    """AlpacaEval 2's LC GLM for one model against the baseline (see the module docstring).

    ``preference[i]`` in [0, 1] is P(the model's answer ``output[i]`` preferred to ``baseline_output[i]``);
    answers are texts (measured by ``length``, default characters) or lengths; ``instruction_difficulty[i]``
    is gamma of battle i's instruction. Returns ``win_rate`` (the mean preference), ``lc_win_rate``,
    ``lc_standard_error`` (fractions), ``length_coef`` (-phi), ``difficulty_coef`` (psi), ``quality_coef``
    (theta), ``C`` (the chosen inverse L1 strength), ``battles`` and ``glm``."""
    p, lm, lb, gamma = _check_rows(preference, output, baseline_output, instruction_difficulty, length or _chars)
    n = len(p)
    if n < n_splits:
        raise ValueError(f"{n} battles against the baseline: the GLM's {n_splits}-fold cross-validation needs at "
                         f"least {n_splits}")
    from sklearn.model_selection import GroupKFold

    X = np.column_stack([np.tanh(_std_delta_len(lm, lb)), gamma, np.ones(n)])
    X2 = np.vstack([X, X])
    y2 = np.concatenate([np.ones(n, dtype=int), np.zeros(n, dtype=int)])
    w2 = np.concatenate([p, 1.0 - p])
    groups = np.concatenate([np.arange(n), np.arange(n)])
    folds = list(GroupKFold(n_splits=n_splits).split(X2, y2, groups))
    # liblinear drops zero-weight rows and prints a C-level warning per fit when a class is left empty (a fold,
    # or the whole set, where the model won or lost every battle): harmless, so kept off stderr
    one_sided = any(min(w2[tr][y2[tr] == 1].sum(), w2[tr][y2[tr] == 0].sum()) == 0
                    for tr in [np.arange(2 * n)] + [tr for tr, _ in folds])
    with _quiet_stderr(one_sided):
        model = _l1_logistic_cv(folds).fit(X2, y2, sample_weight=w2)
    coef = np.asarray(model.coef_, dtype=float).ravel()
    X_test = X.copy()
    X_test[:, 0] = 0.0                                            # no length difference
    pred = expit(X_test @ coef)
    return {"win_rate": float(p.mean()), "lc_win_rate": float(pred.mean()),
            "lc_standard_error": float(pred.std(ddof=1) / math.sqrt(n)),
            "length_coef": float(-coef[0]), "difficulty_coef": float(coef[1]), "quality_coef": float(coef[2]),
            "C": float(np.ravel(model.C_)[0]), "battles": n, "glm": GLM_NAME}


def _rows_against(battles, baseline: str, length: Callable[[str], float]) -> dict:
    """model -> [(instruction, p, model chars, baseline chars)] over the battles with ``baseline``."""
    rows = defaultdict(list)
    for k, raw in enumerate(battles):
        try:
            b = raw.validate() if isinstance(raw, Battle) else battle_from_record(raw)
        except (ValueError, TypeError) as err:
            raise ValueError(f"battle {k}: {err}") from None
        if baseline not in (b.model_a, b.model_b):
            continue
        y = {"model_a": 1.0, "model_b": 0.0}.get(b.winner, 0.5)
        if b.model_a == baseline:
            rows[b.model_b].append((b.prompt, 1.0 - y, length(b.response_b), length(b.response_a)))
        else:
            rows[b.model_a].append((b.prompt, y, length(b.response_a), length(b.response_b)))
    if not rows:
        raise ValueError(f"no battle involves the baseline {baseline!r}; name a model that met the others")
    return rows


def _estimate(rows: dict, ridge: float, exclude: Optional[str] = None) -> dict:
    models = sorted(m for m in rows if m != exclude)
    if not models:
        return {}
    prompts = sorted({r[0] for m in models for r in rows[m]})
    pidx = {x: j for j, x in enumerate(prompts)}
    mi, xi, y, t = [], [], [], []
    for k, m in enumerate(models):
        rs = rows[m]
        s = _std_delta_len(np.array([r[2] for r in rs], float), np.array([r[3] for r in rs], float))
        mi += [k] * len(rs)
        xi += [pidx[r[0]] for r in rs]
        y += [r[1] for r in rs]
        t.append(np.tanh(s))
    mi, xi, y, t = np.array(mi), np.array(xi), np.array(y), np.concatenate(t)
    M, P = len(models), len(prompts)

    def f(v):                                                     # v = [a (M), b (M), g (P)]
        a, b, g = v[:M], v[M:2 * M], v[2 * M:]
        z = a[mi] + b[mi] * t + g[xi]
        r = expit(z) - y
        nll = -np.sum(y * log_expit(z) + (1 - y) * log_expit(-z)) + 0.5 * ridge * g @ g
        grad = np.concatenate([np.bincount(mi, r, M), np.bincount(mi, r * t, M), np.bincount(xi, r, P) + ridge * g])
        return nll, grad

    res = minimize(f, np.zeros(2 * M + P), jac=True, method="L-BFGS-B",
                   options={"gtol": 1e-10, "ftol": 1e-15, "maxiter": 10000})
    g = res.x[2 * M:]
    return {x: float(-g[j]) for x, j in pidx.items()}             # higher: the baseline wins more often


def estimate_instruction_difficulty(battles, baseline: str, exclude: Optional[str] = None,
                                    length: Optional[Callable[[str], float]] = None,
                                    ridge: float = DIFFICULTY_RIDGE) -> dict:
    """instruction -> estimated difficulty gamma_x from the battles with ``baseline``: one logistic fit over
    every model m that met the baseline (but ``exclude``), ``logit p = a_m + b_m tanh(std_delta_len) - gamma_x``
    (the GLM's own length feature, per model), with an L2 penalty ``ridge / 2 * sum gamma^2`` (a N(0, 1/ridge)
    prior) that keeps an instruction seen once finite. It stands in for AlpacaEval's fit over its leaderboard.
    An instruction no included model was asked is absent (the GLM reads it as 0). To rate model m, exclude m
    (as :func:`length_controlled_win_rate` does): an offset fitted on m's own verdicts explains them."""
    return _estimate(_rows_against(battles, baseline, length or _chars), ridge, exclude)


def length_controlled_win_rate(battles, baseline: str, difficulty: Difficulty = None,
                               length: Optional[Callable[[str], float]] = None) -> dict:
    """model -> AlpacaEval 2 LC result (:func:`glm_lc_win_rate`'s fields, fractions in [0, 1], plus
    ``difficulty_source``: "given" or "estimated") for every model that met ``baseline``; instructions are the
    battles' prompts. ``difficulty`` is a mapping instruction -> gamma or a CSV path
    (:func:`read_instruction_difficulty`); None estimates it for each model from the other models' battles
    (:func:`estimate_instruction_difficulty`; ``difficulty_from`` names them).
    ``length`` measures an answer (default: characters, as AlpacaEval). A model with fewer than 5 battles
    against the baseline gets ``lc_win_rate`` None and a ``note``."""
    length = length or _chars
    rows = _rows_against(battles, baseline, length)
    if difficulty is None:
        source, gamma = "estimated", None
    else:
        source = "given"
        gamma = read_instruction_difficulty(difficulty) if isinstance(difficulty, (str, os.PathLike)) else difficulty
        if not isinstance(gamma, Mapping):
            raise ValueError(f"difficulty: expected a mapping instruction -> number or a CSV path, got "
                             f"{type(difficulty).__name__}")
        missing = sorted({r[0] for rs in rows.values() for r in rs if r[0] not in gamma})
        if missing:
            raise ValueError(f"difficulty: no value for {len(missing)} instruction(s) of the battles, e.g. "
                             f"{missing[0][:80]!r}")
    out = {}
    for model, rs in sorted(rows.items()):
        p = [r[1] for r in rs]
        extra = {"difficulty_source": source}
        if source == "estimated":
            extra["difficulty_from"] = sorted(m for m in rows if m != model)
        if len(rs) < N_SPLITS:
            out[model] = {"win_rate": float(np.mean(p)), "lc_win_rate": None, "battles": len(rs), "glm": GLM_NAME,
                          **extra, "note": f"{len(rs)} battles against the baseline; the GLM needs at least {N_SPLITS}"}
            continue
        g = _estimate(rows, DIFFICULTY_RIDGE, exclude=model) if gamma is None else gamma
        res = glm_lc_win_rate(p, [r[2] for r in rs], [r[3] for r in rs], [g.get(r[0], 0.0) for r in rs])
        out[model] = {**res, **extra}
    return out
