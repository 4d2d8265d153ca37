"""Expressions: the literature's losses as trees equal the registered objectives; canonical hashing; surgery."""

import numpy as np
import torch

from preflab.discover.expressions import (canonical, crossover, evaluate, expr_hash, formula, mutate, parse, render,
                                          seed_losses, well_formed, ExpressionError)
from preflab.objectives import ScoreBatch, get_objective

REGISTERED = {"dpo": ("dpo", {}), "ipo": ("ipo_sum", {}), "slic_hinge": ("hinge", {}), "discopop": ("discopop", {"tau": 0.05})}


def _batch():
    g = torch.Generator().manual_seed(0)
    ref = -10 - 5 * torch.rand(16, 2, generator=g, dtype=torch.float64)
    return ScoreBatch(policy_logps=ref + 3 * torch.randn(16, 2, generator=g, dtype=torch.float64), ref_logps=ref,
                      lengths=torch.ones(16, 2, dtype=torch.long))


def _run_rendered(code, name):
    space = {}
    exec(compile(code, "<rendered>", "exec"), space)     # our own rendered code, not a candidate's
    return space[name]


def test_seed_losses_equal_registered_objectives():
    b = _batch()
    rho_w = b.policy_logps[:, 0] - b.ref_logps[:, 0]
    rho_l = b.policy_logps[:, 1] - b.ref_logps[:, 1]
    for key, tree in seed_losses().items():
        name, extra = REGISTERED[key]
        for beta in (0.05, 0.1, 0.5):
            want = get_objective(name, beta=beta, **extra)(b).per_example
            got = _run_rendered(render(tree, key), key)(b, beta)
            assert torch.allclose(got, want, rtol=1e-6, atol=1e-9), (key, beta)
            assert torch.allclose(evaluate(tree, rho_w - rho_l, rho_w, rho_l, beta), want, rtol=1e-6, atol=1e-9)


def test_canonical_form_and_hash():
    a = parse("(add (mul rho beta) (neg (neg 0.123456)))")
    b = parse("(add 0.1235 (mul beta rho))")
    assert str(canonical(a)) == "(add (mul beta rho) 0.123)"
    assert expr_hash(a) == expr_hash(b)
    assert parse(str(canonical(a))) == canonical(a)
    assert formula(parse("(neg (logsigmoid (mul beta rho)))")) == "-logsig(beta * rho)"


def test_parse_errors_name_the_token():
    for text, word in (("(frob rho)", "unknown operator 'frob'"), ("(neg rho", "ends early"),
                       ("(neg rhoo)", "unknown leaf 'rhoo'"), ("(add rho)", "too few arguments"), ("(neg rho rho)", "takes 1 argument")):
        try:
            parse(text)
        except ExpressionError as err:
            assert word in str(err), (text, str(err))
        else:
            raise AssertionError(text)


def test_mutation_and_crossover_are_seeded_and_change_the_tree():
    dpo, ipo = seed_losses()["dpo"], seed_losses()["ipo"]
    kids = [mutate(dpo, np.random.default_rng(s)) for s in range(20)]
    again = [mutate(dpo, np.random.default_rng(s)) for s in range(20)]
    assert kids == again
    assert sum(expr_hash(k) != expr_hash(dpo) for k in kids) >= 15
    x = crossover(dpo, ipo, np.random.default_rng(3))
    assert x == crossover(dpo, ipo, np.random.default_rng(3))
    assert not well_formed(parse("(bmean rho)")) and well_formed(parse("(sub rho (bmean rho))"))
