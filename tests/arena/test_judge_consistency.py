"""Judge-consistency figures against hand computations: Cohen's kappa, intransitive triads, position bias."""

import json
import math

import numpy as np
import pytest

from preflab.arena.consistency import (Comparison, cohen_kappa, consistency_report, format_report,
                                       intransitive_triads)
from preflab.arena.judging import PairJudgment, judge_list, judge_pairs
from preflab.oracles import CallableOracle


def test_cohen_kappa_by_hand():
    j1 = ["A", "A", "A", "B", "B", "tie", "tie", "A"]
    j2 = ["A", "A", "B", "B", "tie", "tie", "A", "A"]
    # p_o = 5/8; marginals are A 1/2, B 1/4, tie 1/4 for both: p_e = 1/4 + 1/16 + 1/16 = 3/8
    assert cohen_kappa(j1, j2) == pytest.approx((5 / 8 - 3 / 8) / (1 - 3 / 8), abs=1e-12)   # 0.4
    assert cohen_kappa(j1, j1) == pytest.approx(1.0)
    # disagreeing on everything with marginals 1/2, 1/2: p_o = 0, p_e = 1/2 -> -1
    assert cohen_kappa(["A", "B"], ["B", "A"]) == pytest.approx(-1.0)
    assert math.isnan(cohen_kappa(["A", "A"], ["A", "A"]))          # chance agreement is certain
    with pytest.raises(ValueError, match="labels \\['C'\\] are not among"):
        cohen_kappa(["A", "C"], ["A", "B"])
    with pytest.raises(ValueError, match="labelled 2 and 1 items"):
        cohen_kappa(["A", "B"], ["A"])


def test_intransitive_triads():
    cycle = {("x", "y"): 0.9, ("y", "z"): 0.8, ("z", "x"): 0.7}
    assert intransitive_triads(cycle) == (1, 1)
    assert intransitive_triads({**cycle, ("z", "x"): 0.3}) == (0, 1)          # x > z: transitive
    assert intransitive_triads({**cycle, ("z", "x"): 0.5}) == (0, 1)          # a tie breaks the cycle
    assert intransitive_triads({**cycle, ("x", "z"): 0.9}) == (0, 1)          # same pair twice: mean 0.5 -> tie
    # 4 items, all 6 pairs: w beats everyone, x > y > z > x: of the 4 triads only (x, y, z) is a cycle
    four = {**cycle, ("w", "x"): 1.0, ("w", "y"): 1.0, ("z", "w"): 0.0}
    assert intransitive_triads(four) == (1, 4)
    assert intransitive_triads({("x", "y"): 1.0, ("y", "z"): 1.0}) == (0, 0)  # no complete triad


def test_report_of_a_first_slot_judge_and_a_fair_one():
    first_slot = CallableOracle(compare_fn=lambda x, a, b: 0.75, name="first-slot")
    longer = CallableOracle(compare_fn=lambda x, a, b: 1.0 if len(a) > len(b) else 0.0 if len(a) < len(b) else 0.5,
                            name="longer")
    a, b = ["aaa", "b", "cc", "dd"], ["a", "bbbb", "c", "ee"]
    comparisons = {}
    for oracle in (first_slot, longer):
        judged = judge_pairs(oracle, ["q"] * 4, a, b)
        comparisons[oracle.name] = [Comparison(i, "q", x, y, jd) for i, (x, y, jd) in enumerate(zip(a, b, judged))]
    report = consistency_report(comparisons)
    fs, lo = report.judges["first-slot"], report.judges["longer"]
    assert fs["position_bias_rate"] == 1.0 and fs["position_bias"]["followed_first"] == 1.0
    assert fs["position_bias"]["first_position_win_rate"] == 0.75
    assert lo["position_bias_rate"] == 0.0                        # "dd" vs "ee": a tie both times is not a slot
    # verdicts: first-slot says tie on all 4; longer says A, B, A, tie -> p_o = 1/4, p_e = 1/4 * 1 = 1/4 -> 0
    (pair,) = report.agreement
    assert pair["judges"] == ["first-slot", "longer"] and pair["n"] == 4
    assert pair["agreement"] == 0.25 and pair["kappa"] == pytest.approx(0.0, abs=1e-12)
    text = format_report(report)
    assert "first-slot" in text and "1.000" in text and "0.250" in text and "Cohen's kappa" in text
    assert json.loads(report.to_json())["judges"]["longer"]["n_pairs"] == 4


def test_one_order_has_no_position_bias_and_lists_count_triads():
    cyclic = {("r", "p"): 1.0, ("p", "s"): 1.0, ("s", "r"): 1.0}

    def rps(x, a, b):
        return cyclic.get((a, b), 1.0 - cyclic.get((b, a), 0.5))

    oracle = CallableOracle(compare_fn=rps, name="rps")
    lj = judge_list(oracle, "q", ["r", "p", "s", "r2"])
    np.testing.assert_array_equal(lj.prefs[:3, :3], [[0.5, 1, 0], [0, 0.5, 1], [1, 0, 0.5]])
    comps = [Comparison(0, "q", ["r", "p", "s", "r2"][i], ["r", "p", "s", "r2"][j], jd)
             for (i, j), jd in lj.pairs.items()]
    report = consistency_report({"rps": comps})
    # 4 items, 4 triads; r2 ties everything (0.5), so only (r, p, s) is a cycle
    assert report.judges["rps"]["transitivity"] == {"triads": 4, "intransitive": 1, "fraction": 0.25}
    one = judge_pairs(oracle, ["q"], ["r"], ["p"], both_orders=False)
    assert one[0] == PairJudgment(1.0, None) and one[0].order_verdicts()[0].label() == "[[A>>B]]"
    report = consistency_report({"rps": [Comparison(0, "q", "r", "p", one[0])]})
    assert report.judges["rps"]["position_bias"] is None and report.judges["rps"]["transitivity"]["fraction"] is None
