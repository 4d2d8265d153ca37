"""One hand-made batch and hyperparameters per registered objective, and the batch's independent answer.

``CASES[name] = Case(shape, hparams, reference)``: ``shape`` is how ``make_fields`` builds the batch
(K, ragged), ``hparams`` avoid defaults where a default would hide a term (a label smoothing of 0, say).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from preflab.objectives import ScoreBatch

from . import reference_math as R

FIELDS = ("policy_logps", "ref_logps", "lengths", "mask", "ranks", "rewards", "prefs", "labels", "opponent_logps",
          "token_logps", "token_mask", "ref_token_logps", "old_token_logps", "token_log_sq_mass", "extra_ref_logps",
          "kl_policy_logps", "kl_ref_logps", "values")


@dataclass
class Case:
    K: int = 2
    hparams: dict = field(default_factory=dict)
    ragged: bool = False
    drop: tuple = ()          # fields to leave out of the batch (to select a code path)
    B: int = 4
    reference: object = None  # defaults to reference_math.ref_<name>
    # inputs whose gradient is checked by finite differences; objectives with a deliberate stop-gradient
    # leave out the input that only feeds it (and pin that gradient in test_gradients.py instead)
    grad_inputs: tuple = ("policy_logps", "token_logps", "values")


def to_batch(f: dict, drop=(), dtype=torch.float64, requires_grad=()) -> ScoreBatch:
    kwargs = {}
    for name in FIELDS:
        if name in drop:
            continue
        value = f[name]
        if value.dtype == bool:
            t = torch.tensor(value)
        elif name in ("lengths", "ranks", "labels"):
            t = torch.tensor(value, dtype=torch.long)
        else:
            t = torch.tensor(value, dtype=dtype, requires_grad=name in requires_grad)
        kwargs[name] = t
    return ScoreBatch(**kwargs)


CASES = {
    "dpo": Case(hparams=dict(beta=0.3, label_smoothing=0.0)),
    "cdpo": Case(hparams=dict(beta=0.3, label_smoothing=0.2)),
    "robust_dpo": Case(hparams=dict(beta=0.3, label_smoothing=0.2)),
    "ipo": Case(hparams=dict(beta=0.5)),
    "ipo_sum": Case(hparams=dict(beta=0.5)),
    "hinge": Case(hparams=dict(beta=0.2)),
    "exo_pair": Case(hparams=dict(beta=0.3, label_smoothing=0.05)),
    "nca_pair": Case(hparams=dict(beta=0.3)),
    "bco_pair": Case(hparams=dict(beta=0.3)),
    "apo_zero": Case(hparams=dict(beta=0.3)),
    "apo_down": Case(hparams=dict(beta=0.3)),
    "sppo_hard": Case(hparams=dict(beta=0.5)),
    "rpo": Case(hparams=dict(beta=0.3, alpha=0.7)),
    "sft": Case(),
    "aot": Case(hparams=dict(beta=0.3, label_smoothing=0.1), B=6),
    "aot_unpaired": Case(hparams=dict(beta=0.3, label_smoothing=0.1), B=6),
    "fdpo_forward_kl": Case(hparams=dict(beta=0.3)),
    "fdpo_js": Case(hparams=dict(beta=0.3)),
    "fdpo_alpha": Case(hparams=dict(beta=0.3, alpha=0.4)),
    "h_dpo": Case(hparams=dict(beta=0.3, alpha=0.8)),
    "wpo": Case(hparams=dict(beta=0.3), grad_inputs=("policy_logps",)),
    "ld_dpo": Case(hparams=dict(beta=0.3, alpha=0.4)),
    "mappo": Case(hparams=dict(beta=0.3)),
    "irepo": Case(hparams=dict(beta=0.3, clip=0.01)),
    "rso": Case(K=5, hparams=dict(beta=0.3, loss="hinge"), ragged=True, drop=("prefs",)),
    "mrpo": Case(hparams=dict(beta=0.3, eta=0.1, alpha=-1.0)),
    "pre_dpo": Case(hparams=dict(beta=0.3)),
    "simpo": Case(hparams=dict(beta=2.0, gamma_beta_ratio=0.3, label_smoothing=0.1)),
    "cpo": Case(hparams=dict(beta=0.3, alpha=0.7)),
    "orpo": Case(hparams=dict(beta=0.3)),
    "asft": Case(hparams=dict(beta=0.3)),
    "discopop": Case(hparams=dict(beta=0.05, tau=0.05)),
    "padll": Case(hparams=dict(beta=0.3)),
    "cell": Case(hparams=dict(beta=0.3)),
    "pfl": Case(hparams=dict(beta=0.3), B=8),
    "aqfl": Case(hparams=dict(beta=0.05), B=6),
    "aql": Case(hparams=dict(beta=0.05), B=6),
    "dbaql": Case(hparams=dict(beta=0.05), B=6),
    "kto": Case(K=1, B=6, hparams=dict(beta=0.3, desirable_weight=1.2, undesirable_weight=0.8,
                                       reference_point="mismatched")),
    "bco": Case(K=3, hparams=dict(beta=0.3), ragged=True),
    "npo": Case(K=3, hparams=dict(beta=0.3)),
    "simnpo": Case(K=3, hparams=dict(beta=2.5, gamma=0.2)),
    "d2o": Case(K=5, hparams=dict(beta=0.3, alpha=0.2)),
    "dro": Case(K=3, hparams=dict(tau=0.7), ragged=True),
    "plackett_luce": Case(K=5, hparams=dict(beta=0.3), ragged=True),
    "listnet": Case(K=5, hparams=dict(beta=0.3, target="normalize"), ragged=True),
    "lipo_lambda": Case(K=5, hparams=dict(beta=0.3), ragged=True),
    "mpo": Case(K=5, hparams=dict(beta=0.3, alpha=0.8), ragged=True),
    "sppo": Case(K=4, hparams=dict(beta=0.05), ragged=True),
    "inpo": Case(hparams=dict(eta=0.2, tau=0.05, average_logps=False, beta=10.0)),
    "mnpo": Case(hparams=dict(eta=0.2, ratio=0.3, weights=(2.0, 1.0), average_logps=True, beta=10.0)),
    "dno": Case(K=4, hparams=dict(beta=0.3, hard=False, margin=0.0), ragged=True),
    "online_ipo": Case(hparams=dict(beta=0.3)),
    "egpo": Case(K=4, hparams=dict(beta=0.3)),
    "nash_md": Case(hparams=dict(beta=0.3), grad_inputs=()),
    "reinforce": Case(K=4, hparams=dict(baseline=0.2, beta=0.1), ragged=True),
    "rloo": Case(K=4, hparams=dict(beta=0.1, epsilon=0.2), ragged=True),
    "grpo": Case(K=4, hparams=dict(epsilon=0.2, epsilon_high=0.28, beta=0.04, scale_rewards=True), ragged=True),
    "dr_grpo": Case(K=4, hparams=dict(epsilon=0.2, epsilon_high=None, beta=0.04, max_completion_length=8), ragged=True),
    "gpg": Case(K=4, hparams=dict(scale_rewards=False, adjust_gradient=True), ragged=True),
    "gvpo": Case(K=4, hparams=dict(beta=0.1), ragged=True),
    "bnpo": Case(K=4, hparams=dict(epsilon=0.2, epsilon_high=None, beta=0.04, reward_min=0.0, reward_max=1.0), ragged=True),
}


def fields_for(name: str, seed: int = 0) -> dict:
    case = CASES[name]
    f = R.make_fields(seed, B=case.B, K=case.K, ragged=case.ragged)
    if name == "inpo":  # one opponent (pi_t)
        f["opponent_logps"] = f["opponent_logps"][:, :, :1]
    if name == "pfl":   # both branches of PFL: flip the policy order in half of the rows
        f["policy_logps"][::2] = f["policy_logps"][::2, ::-1]
    if name == "gpg":   # one group with equal rewards, so alpha = B / (B - M) is not 1
        f["rewards"][0] = 0.5
    if name == "mpo":   # a group with all rewards equal: no positive set
        f["rewards"][1] = 0.4
    return f


def expected(name: str, f: dict):
    case = CASES[name]
    fn = case.reference or getattr(R, f"ref_{name}")
    return fn(f, **case.hparams)


def batch_for(name: str, f: dict, **kw) -> ScoreBatch:
    return to_batch(f, drop=CASES[name].drop, **kw)


def fresh(name: str) -> tuple[dict, ScoreBatch, float, np.ndarray | None]:
    f = fields_for(name)
    return f, batch_for(name, f), *expected(name, f)
