"""The offline proposer: evolutionary search over loss expressions, no LLM needed.

Generation 0 is the losses of the literature (DPO, IPO, SLiC's hinge, DiscoPOP's LRML) and random trees;
each later generation breeds from the scored candidates in the archive: a parent by tournament selection
(the fittest of ``tournament`` drawn at random), with probability ``p_crossover`` a subtree of a second
parent swapped in, then a mutation (subtree replace, constant perturb, operator swap). Children are
deduplicated by their canonical hash against the archive and each other, and kept only if small and
per-example (:func:`~preflab.discover.expressions.well_formed`). Every draw comes from
``numpy.random.default_rng([seed, generation])``, so a resumed run proposes what an uninterrupted one would.

>>> search = ProgramSearch(seed=0)
>>> first = search.propose([], 6, generation=0)
>>> [p.name for p in first[:4]]
['dpo', 'ipo', 'slic_hinge', 'discopop']
>>> first[0].meta["expr"]
'(neg (logsigmoid (mul beta rho)))'
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from preflab.discover.expressions import (canonical, crossover, evaluate, expr_hash, formula, mutate, parse,
                                          random_expr, render, seed_losses, well_formed)
from preflab.discover.proposal import Proposal

__all__ = ["ProgramSearch", "plausible"]


def plausible(tree, beta: float = 0.1, seed: int = 0) -> bool:
    """A cheap screen before the sandbox, on the tree itself (data, evaluated by our own interpreter, never
    code): finite losses on a random batch of 64 pairs, and a mean loss that falls when the chosen response's
    log-ratio rises by 0.5 / beta (the validator's margin check on one batch instead of eight)."""
    import torch

    from preflab.discover.validate import random_pairs

    b = random_pairs(64, seed + 1000, torch.float64, beta)
    rho_w = b.policy_logps[:, 0] - b.ref_logps[:, 0]
    rho_l = b.policy_logps[:, 1] - b.ref_logps[:, 1]
    with torch.no_grad():
        before = evaluate(tree, rho_w - rho_l, rho_w, rho_l, beta)
        after = evaluate(tree, rho_w + 0.5 / beta - rho_l, rho_w + 0.5 / beta, rho_l, beta)
    if before.shape != (64,) or not bool(torch.isfinite(before).all() and torch.isfinite(after).all()):
        return False
    return float(before.mean() - after.mean()) > 1e-9


class ProgramSearch:
    """Propose ``n`` new expressions per generation from the archive's scored records (``fidelity`` fitness)."""

    name = "program"

    def __init__(self, seed: int = 0, tournament: int = 3, p_crossover: float = 0.3, fidelity: str = "games",
                 include_seeds: bool = True, max_tries: int = 400, screen: bool = True):
        if tournament < 1:
            raise ValueError(f"tournament must be >= 1, got {tournament}")
        if not 0 <= p_crossover <= 1:
            raise ValueError(f"p_crossover must lie in [0, 1], got {p_crossover}")
        self.seed, self.tournament, self.p_crossover = seed, tournament, p_crossover
        self.fidelity, self.include_seeds, self.max_tries = fidelity, include_seeds, max_tries
        self.screen = screen

    def _proposal(self, tree, name, thought, parents=()) -> Proposal:
        tree = canonical(tree)
        return Proposal(code=render(tree, name), name=name, proposer=self.name, thought=thought,
                        parents=tuple(parents), meta={"expr": str(tree), "formula": formula(tree)})

    def propose(self, history: Sequence, n: int, generation: int) -> list:
        """Up to ``n`` proposals new to ``history`` (archive records: ``meta["expr"]``, ``fitness``)."""
        rng = np.random.default_rng([self.seed, generation])
        seen = {expr_hash(parse(r.meta["expr"])) for r in history if r.meta.get("expr")}
        out = []

        def fresh(tree) -> bool:
            h = expr_hash(tree)
            if h in seen or not well_formed(tree) or (self.screen and not plausible(tree)):
                return False
            seen.add(h)
            return True

        if self.include_seeds:
            for name, tree in seed_losses().items():
                if len(out) < n and fresh(tree):
                    out.append(self._proposal(tree, name, f"{name} from the literature, as an expression"))
        pool = [(r, canonical(parse(r.meta["expr"]))) for r in history
                if r.meta.get("expr") and self.fidelity in r.fitness]
        tries = 0
        while len(out) < n and tries < self.max_tries:
            tries += 1
            if len(pool) < 2:
                tree = random_expr(rng, max_depth=4)
                if fresh(tree):
                    out.append(self._proposal(tree, f"rand_g{generation}_{len(out)}", "a random expression"))
                continue
            a_rec, a = self._select(pool, rng)
            parents, how = [a_rec.hash], "mutation"
            child = a
            if rng.random() < self.p_crossover:
                b_rec, b = self._select(pool, rng)
                child = crossover(a, b, rng)
                parents.append(b_rec.hash)
                how = "crossover + mutation"
            child = mutate(child, rng)
            if fresh(child):
                out.append(self._proposal(child, f"evo_g{generation}_{len(out)}",
                                          f"{how} of {a_rec.name} (fitness {a_rec.fitness[self.fidelity]:.4f})",
                                          parents))
        return out

    def _select(self, pool, rng):
        """Tournament selection: the fittest of ``tournament`` records drawn with replacement."""
        picks = rng.integers(len(pool), size=self.tournament)
        best = max(picks, key=lambda i: pool[i][0].fitness[self.fidelity])
        return pool[int(best)]
