"""Graded verdicts ([[A>>B]] ... [[B>>A]]): winner, strength, probability and label, both ways; ungraded
verdicts keep their old meaning."""

import pytest

from preflab.oracles.verdict import (GRADED_PROBABILITY, GRADED_SYSTEM, GRADED_TEMPLATE, Verdict, parse_verdict,
                                     verdict_from_probability, verdict_probability)

CASES = [("[[A>>B]]", "A", 2, 1.0), ("[[A>B]]", "A", 1, 0.75), ("[[A=B]]", "tie", None, 0.5),
         ("[[B>A]]", "B", 1, 0.25), ("[[B>>A]]", "B", 2, 0.0)]


@pytest.mark.parametrize("label,winner,strength,p", CASES)
def test_each_label_reads_and_writes_back(label, winner, strength, p):
    reply = f"My own answer would be 4. Assistant B says 5, which is wrong.\n\nMy final verdict is: {label}"
    v = parse_verdict(reply)
    assert (v.winner, v.strength, v.probability(), v.label()) == (winner, strength, p, label)
    w = verdict_from_probability(p)
    assert (w.winner, w.strength, w.label()) == (winner, strength, label)


def test_other_spellings_and_conflicts():
    assert parse_verdict("[[ B < A ]]").label() == "[[A>B]]"
    assert parse_verdict("[[A<<B]]").label() == "[[B>>A]]"
    assert parse_verdict("[[B=A]]").winner == "tie"
    assert parse_verdict("first [[A>B]], and again: [[A>B]]").label() == "[[A>B]]"   # the same label twice
    assert parse_verdict("[[A>B]] ... no: [[B>>A]]") == Verdict(None)                  # two labels: none
    assert parse_verdict("[[A>A]]").strength is None                                 # no graded verdict in it
    assert parse_verdict("[[B]]") == Verdict("B", 2)                                  # MT-Bench style unchanged
    assert parse_verdict("B").probability() == 0.0 and parse_verdict("B").strength is None


def test_probability_thresholds():
    assert verdict_from_probability(0.875).strength == 1 and verdict_from_probability(0.8751).strength == 2
    assert verdict_from_probability(0.125).label() == "[[B>A]]" and verdict_from_probability(0.1249).label() == "[[B>>A]]"
    assert verdict_from_probability(0.5000001).label() == "[[A>B]]"
    assert all(verdict_from_probability(p).probability() == p for p in GRADED_PROBABILITY.values())
    with pytest.raises(ValueError, match=r"must lie in \[0, 1\], got 1.2"):
        verdict_from_probability(1.2)


def test_logprobs_do_not_override_a_graded_verdict():
    logprobs = [{"token": "[[", "logprob": 0.0, "top_logprobs": []},
                {"token": "A", "logprob": -0.1, "top_logprobs": [{"token": "A", "logprob": -0.1},
                                                                 {"token": "B", "logprob": -2.4}]}]
    assert verdict_probability("[[A>B]]", logprobs, parse_verdict("[[A>B]]")) is None
    assert verdict_probability("A", logprobs[1:], parse_verdict("A")) == pytest.approx(0.9089, abs=1e-4)


def test_the_judge_prompt_names_every_label_and_the_template_every_field():
    for label, *_ in CASES:
        assert label in GRADED_SYSTEM
    for field in ("{prompt}", "{answer_a}", "{answer_b}"):
        assert GRADED_TEMPLATE.count(field) == 1
