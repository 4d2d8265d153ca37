"""Every registry entry carries complete, honest metadata."""

import re

import pytest

from preflab.objectives import DATA_KINDS, list_objectives

SPECS = list_objectives()


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.name)
def test_metadata_is_complete(spec):
    assert re.fullmatch(r"[a-z][a-z0-9_]*", spec.name)
    assert spec.paper and spec.equation and spec.summary
    assert re.fullmatch(r"\d{4}\.\d{4,5}", spec.arxiv), spec.arxiv
    assert spec.data in DATA_KINDS and spec.logp_scale in ("sum", "mean")
    doc = spec.fn.__doc__
    assert spec.arxiv in doc, "the docstring names the arXiv id"
    assert "loss" in doc and "=" in doc, "the docstring states the formula"
    scale = "averaged" if spec.logp_scale == "mean" else "summed"
    assert scale in doc.lower(), f"the docstring says the log-probs are {scale}"
    for name, param in spec.params.items():
        assert param.help, name
        assert param.check(spec.name, name, param.default) == param.default or param.default is None
    d = spec.as_dict()
    assert set(d) >= {"name", "aliases", "paper", "arxiv", "equation", "data", "needs_reference",
                      "needs_opponents", "logp_scale", "hyperparameters"}


def test_names_and_aliases_are_unique():
    names = [s.name for s in SPECS] + [a for s in SPECS for a in s.aliases]
    assert len(names) == len(set(names))


def test_reference_and_opponent_flags():
    by_name = {s.name: s for s in SPECS}
    assert by_name["dpo"].needs_reference and not by_name["dpo"].needs_opponents
    assert by_name["mnpo"].needs_opponents and by_name["inpo"].needs_opponents and by_name["dno"].needs_opponents
    for free in ("simpo", "orpo", "cpo", "asft", "simnpo"):
        assert not by_name[free].needs_reference, free
    assert by_name["ipo"].logp_scale == "mean" and by_name["ipo_sum"].logp_scale == "sum"
    assert by_name["mnpo"].logp_scale == "mean"
