"""What an objective needs from a training step, read off the registry, and whether the data can give it.

>>> from preflab.objectives import get_objective
>>> n = needs_of(get_objective("dpo + 0.1*sft"))
>>> n.reference, n.tokens, n.opponents
(True, False, False)
>>> needs_of(get_objective("ld_dpo")).ref_tokens
True
>>> needs_of(get_objective("grpo", beta=0.04)).reference      # GRPO's KL penalty needs the reference
True
"""

from dataclasses import dataclass

from preflab.objectives import CompositeObjective

__all__ = ["Needs", "needs_of", "check_data"]


@dataclass(frozen=True)
class Needs:
    reference: bool = False      # ref_logps
    ref_tokens: bool = False     # ref_token_logps
    tokens: bool = False         # token_logps / token_mask
    sq_mass: bool = False        # token_log_sq_mass (WPO)
    extra_refs: bool = False     # extra_ref_logps (MRPO, Pre-DPO)
    opponents: bool = False      # opponent_logps
    kl_pairs: bool = False       # kl_policy_logps / kl_ref_logps (KTO, mismatched pairs)
    values: bool = False         # values (DRO's value head)
    prefs: bool = False          # prefs, with no alternative
    rewards: bool = False        # rewards, with no alternative
    labels: bool = False
    win_rates: bool = False      # prefs or rewards
    grouped: bool = False        # unpaired rows gathered by prompt (D2O contrasts a prompt's responses)


def _spec_needs(obj) -> Needs:
    spec, hp = obj.spec, obj.hparams
    req = set(r for r in spec.requires if isinstance(r, str))
    alts = [set(r) for r in spec.requires if isinstance(r, tuple)]
    # the policy-gradient family's KL penalty (beta > 0) reads the reference's per-token log-probs
    pg_kl = spec.data == "policy_gradient" and hp.get("beta", 0) > 0 and "token_logps" in req
    return Needs(
        reference="ref_logps" in req or "ref_token_logps" in req or pg_kl or (spec.name == "reinforce" and hp["beta"] > 0),
        ref_tokens="ref_token_logps" in req or pg_kl,
        tokens="token_logps" in req,
        sq_mass="token_log_sq_mass" in req,
        extra_refs="extra_ref_logps" in req,
        opponents="opponent_logps" in req,
        kl_pairs=spec.name == "kto" and hp.get("reference_point") == "mismatched",
        values="values" in req,
        prefs="prefs" in req,
        rewards="rewards" in req,
        labels="labels" in req,
        win_rates={"prefs", "rewards"} in alts,
        grouped=spec.name == "d2o",
    )


def needs_of(objective) -> Needs:
    """The union of what every term of ``objective`` reads."""
    terms = [o for _, o in objective.terms] if isinstance(objective, CompositeObjective) else [objective]
    merged = {}
    for t in terms:
        for k, v in _spec_needs(t).__dict__.items():
            merged[k] = bool(merged.get(k, False) or v)
    return Needs(**merged)


def check_data(objective, kind: str, has_scores: bool = False, has_prefs: bool = False) -> None:
    """Raise a clear error when ``kind`` data (with per-response scores, or an oracle's preference matrices,
    or neither) cannot feed ``objective``."""
    n = needs_of(objective)
    name = getattr(objective, "name", str(objective))
    # a pair also reads as one desirable and one undesirable response (TRL unpairs preference data so for KTO / BCO)
    provides = {"pairwise": {"ranks", "labels"}, "listwise": {"ranks"}, "unpaired": {"labels"}}[kind]
    if has_scores:
        provides = provides | {"rewards"}
    if has_prefs:
        provides = provides | {"prefs"}
    problems = []
    if n.prefs and "prefs" not in provides:
        problems.append("pairwise preference probabilities (prefs), which come from an oracle: train it with "
                        "`preflab online`")
    if n.rewards and "rewards" not in provides:
        problems.append("scores per response (rewards): give listwise data `scores`, or pairs `score_chosen` "
                        "and `score_rejected`")
    if n.win_rates and not provides & {"rewards", "prefs"}:
        problems.append("win rates (prefs or rewards in [0, 1]): use listwise data with `scores` in [0, 1]")
    if n.labels and "labels" not in provides:
        problems.append(f"desirable/undesirable labels: use unpaired data (prompt/completion/label), not {kind} data")
    spec_data = {t.spec.data for _, t in getattr(objective, "terms", [(1, objective)])}
    if "pairwise" in spec_data and kind != "pairwise":
        problems.append(f"exactly two responses per prompt (pairwise data), not {kind} data")
    if problems:
        raise ValueError(f"objective '{name}' cannot train on {kind} data: it needs " + "; and ".join(problems))
