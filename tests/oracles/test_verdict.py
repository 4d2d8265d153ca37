"""Reading a judge's reply: the verdict letter, ties, failures, and probabilities from token logprobs."""

import math

import pytest

from preflab.oracles import parse_verdict, verdict_probability
from preflab.oracles.llm_judge import render


@pytest.mark.parametrize("text, winner", [
    ("A", "A"), ("B", "B"), ("B.", "B"), ("**A**", "A"), ("(B)", "B"), ("a", "A"), (" b\n", "B"),
    ("A is better.", "A"), ("B\n\nBecause A is too long.", "B"),
    ("[[A]]", "A"), ("My final verdict is [[B]].", "B"), ("[[C]]", "tie"),
    ("Answer B", "B"), ("Answer: A", "A"), ("**Answer: B**", "B"), ("Assistant A is better", "A"),
    ("Answer A is wrong and Answer B is right. Final answer: B", "B"),
    ("The better response is Response A.", "A"), ("A good answer is B", "B"),
    ("I prefer B.", "B"), ("Verdict: A", "A"),
    ("tie", "tie"), ("Tie.", "tie"), ("Both answers are equally good.", "tie"), ("Neither.", "tie"),
    ("I cannot decide.", None), ("Answer A and Answer B both have merits.", None), ("", None),
])
def test_parse_verdict(text, winner):
    assert parse_verdict(text).winner == winner


def test_probability_from_logprobs_of_the_verdict_token():
    lp_a, lp_b = math.log(0.6), math.log(0.3)
    content = [
        {"token": "Answer", "logprob": -0.1, "top_logprobs": []},
        {"token": ":", "logprob": -0.1, "top_logprobs": []},
        {"token": " B", "logprob": lp_b, "top_logprobs": [{"token": " A", "logprob": lp_a},
                                                          {"token": " B", "logprob": lp_b},
                                                          {"token": "A", "logprob": math.log(0.05)}]},
    ]
    text = "Answer: B"
    v = parse_verdict(text)
    assert v.winner == "B" and v.start == 8
    # " A" and "A" both read as A: (0.6 + 0.05) / (0.6 + 0.05 + 0.3)
    assert verdict_probability(text, content, v) == pytest.approx(0.65 / 0.95)
    # no B among the alternatives: the verdict letter A holds all the mass
    only_a = [{"token": "A", "logprob": -0.01, "top_logprobs": [{"token": "The", "logprob": -5.0}]}]
    assert verdict_probability("A", only_a, parse_verdict("A")) == 1.0
    assert verdict_probability("tie", only_a, parse_verdict("tie")) is None
    assert verdict_probability("A", None, parse_verdict("A")) is None


def test_render_fills_fields_once_and_leaves_other_braces():
    out = render("Q: {prompt} | {answer_a} | {answer_b} | {json: 1}", "has {answer_b} inside", "x", "y")
    assert out == "Q: has {answer_b} inside | x | y | {json: 1}"
