"""oracle_from_spec: every form that runs offline builds the oracle it names, with the numbers that oracle gives;
bad specs are ValueErrors that name the problem and list the forms."""

import json
import math

import numpy as np
import pytest
import torch

from preflab.models.seeding import seeded
from preflab.oracles import CallableOracle, EmbeddingSimilarityOracle, LLMJudge, Noisy, PairwiseModelOracle
from preflab.oracles.reward_model import RewardModelOracle
from preflab.oracles.spec import API_KEY_ENV, oracle_from_spec
from preflab.oracles.verdict import GRADED_TEMPLATE
from preflab.tasks import get_task

from .test_reward_model import PROMPTS, RESPONSES, tiny_bert_classifier, word_tokenizer


def test_task_oracle_is_the_tasks_exact_truth():
    oracle = oracle_from_spec("task:sentiment")
    truth = get_task("sentiment").oracle()
    a, b = ["great movie", "awful plot", "the actor"], ["sad scene", "love love", "happy"]
    np.testing.assert_array_equal(oracle.compare(["t0 :"] * 3, a, b), truth.compare(["t0 :"] * 3, a, b))
    assert oracle.name == "sentiment-truth"
    with pytest.raises(ValueError, match="unknown task 'nope'.*heterogeneous"):
        oracle_from_spec("task:nope")


def test_length_and_noisy():
    oracle = oracle_from_spec("length")
    assert oracle.compare(["q"] * 3, ["abc", "a", "ab"], ["ab", "abc", "xy"]).tolist() == [1.0, 0.0, 0.5]
    noisy = oracle_from_spec("noisy(flip=0.1):length")
    assert isinstance(noisy, Noisy) and noisy.flip == 0.1
    np.testing.assert_allclose(noisy.compare(["q", "q"], ["abc", "a"], ["ab", "abc"]), [0.9, 0.1], atol=1e-12)
    assert oracle_from_spec("noisy(0.3):task:transitive").oracle.name == "transitive-truth"
    with pytest.raises(ValueError, match=r"F in \[0, 1\], got 1.5"):
        oracle_from_spec("noisy(flip=1.5):length")


def test_llm_spec_builds_a_graded_judge_with_the_key_from_the_spec_or_the_environment(monkeypatch):
    monkeypatch.setenv(API_KEY_ENV, "from-env")
    judge = oracle_from_spec("llm:my-judge@http://127.0.0.1:9/v1")
    assert isinstance(judge, LLMJudge)
    assert (judge.model, judge.base_url, judge.api_key) == ("my-judge", "http://127.0.0.1:9/v1", "from-env")
    assert judge.template == GRADED_TEMPLATE and judge.both_orders and not judge.logprobs and judge.max_tokens == 2048
    judge = oracle_from_spec("llm:m@http://h:1/v1?key=sk-1&template=letter&concurrency=2", one_order=True)
    assert (judge.api_key, judge.concurrency, judge.both_orders, judge.logprobs, judge.max_tokens) == \
           ("sk-1", 2, False, True, 16)
    monkeypatch.delenv(API_KEY_ENV)
    assert oracle_from_spec("llm:m@http://h:1/v1").api_key == "EMPTY"
    with pytest.raises(ValueError, match="unknown option.*colour.*for 'llm'"):
        oracle_from_spec("llm:m@http://h:1/v1?colour=red")
    with pytest.raises(ValueError, match="llm: takes MODEL@URL"):
        oracle_from_spec("llm:just-a-model")
    with pytest.raises(ValueError, match="max_tokens='lots' must be a int"):
        oracle_from_spec("llm:m@http://h:1/v1?max_tokens=lots")


def test_python_forms(tmp_path, monkeypatch):
    (tmp_path / "my_judges.py").write_text(
        "from preflab.oracles import CallableOracle\n"
        "def polite(prompt, a, b):\n    return 1.0 if 'please' in a else 0.0\n"
        "def words(prompt, response):\n    return len(response.split())\n"
        "ready = CallableOracle(compare_fn=polite, name='ready-made')\n"
        "def bad(x):\n    return x\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    compare = oracle_from_spec("python:my_judges:polite")
    assert compare.name == "python:my_judges:polite"
    assert compare.compare(["q", "q"], ["please", "no"], ["no", "please"]).tolist() == [1.0, 0.0]
    score = oracle_from_spec("python:my_judges:words?temperature=2")
    np.testing.assert_allclose(score.compare(["q"], ["a b c"], ["a"]), [1 / (1 + math.exp(-(3 - 1) / 2))])
    assert oracle_from_spec("python:my_judges:ready").name == "ready-made"
    with pytest.raises(ValueError, match="takes 1 required argument"):
        oracle_from_spec("python:my_judges:bad")
    with pytest.raises(ValueError, match="has no attribute 'missing'"):
        oracle_from_spec("python:my_judges:missing")
    with pytest.raises(ValueError, match="cannot import module 'no_such_module_xyz'"):
        oracle_from_spec("python:no_such_module_xyz:f")


def test_reward_model_from_a_folder(tmp_path):
    model, tok = tiny_bert_classifier(), word_tokenizer(cls_sep=True)
    model.save_pretrained(tmp_path / "rm")
    tok.save_pretrained(tmp_path / "rm")
    oracle = oracle_from_spec(f"reward-model:{tmp_path / 'rm'}?temperature=0.5")
    assert isinstance(oracle, RewardModelOracle) and oracle.temperature == 0.5
    want = RewardModelOracle(model, tok, temperature=0.5).compare(PROMPTS, RESPONSES, RESPONSES[::-1])
    np.testing.assert_allclose(oracle.compare(PROMPTS, RESPONSES, RESPONSES[::-1]), want, atol=1e-6)


def test_pairwise_model_reads_prompt_and_both_responses_and_judges_both_orders(tmp_path):
    model, tok = tiny_bert_classifier(seed=4), word_tokenizer(cls_sep=True)
    model.save_pretrained(tmp_path / "pm")
    tok.save_pretrained(tmp_path / "pm")

    def p_first(x, a, b):
        with torch.no_grad():
            logits = model(**tok(f"{x} [SEP] {a} [SEP] {b}", return_tensors="pt")).logits[0].double()
        return float(torch.softmax(logits, 0)[1])

    oracle = oracle_from_spec(f"pairwise-model:{tmp_path / 'pm'}")
    assert isinstance(oracle, PairwiseModelOracle) and oracle.both_orders
    x, a, b = PROMPTS[0], RESPONSES[0], RESPONSES[2]
    want = (p_first(x, a, b) + 1 - p_first(x, b, a)) / 2
    assert abs(p_first(x, a, b) - (1 - p_first(x, b, a))) > 1e-4       # the orders differ: the check has teeth
    np.testing.assert_allclose(oracle.compare([x], [a], [b]), [want], atol=1e-6)
    one = oracle_from_spec(f"pairwise-model:{tmp_path / 'pm'}", one_order=True)
    np.testing.assert_allclose(one.compare([x], [a], [b]), [p_first(x, a, b)], atol=1e-6)


def test_embedding_with_a_references_file(tmp_path):
    refs = tmp_path / "refs.jsonl"
    refs.write_text(json.dumps({"prompt": "q", "reference": "The cat sat on the mat."}) + "\n")
    oracle = oracle_from_spec(f"embedding:{refs}?temperature=0.05")
    assert isinstance(oracle, EmbeddingSimilarityOracle) and oracle.temperature == 0.05
    a, b = "A cat was sitting on the mat.", "Stock markets fell sharply today."
    sim = oracle.similarity([a, b], ["The cat sat on the mat."] * 2)
    np.testing.assert_allclose(oracle.compare(["q"], [a], [b]), [1 / (1 + np.exp(-(sim[0] - sim[1]) / 0.05))],
                               atol=1e-9)
    assert sim[0] - sim[1] > 0.3
    with pytest.raises(ValueError, match="no reference answer for prompt 'other'"):
        oracle.compare(["other"], [a], [b])
    with pytest.raises(ValueError, match="embedding needs reference answers"):
        oracle_from_spec("embedding")
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"prompt": "q", "reference": "r"}\n{"prompt": "q"}\n')
    with pytest.raises(ValueError, match=r"bad.jsonl:2: .*'prompt' and 'reference'"):
        oracle_from_spec(f"embedding:{bad}")


def test_unknown_form_lists_the_forms():
    with pytest.raises(ValueError) as err:
        oracle_from_spec("gpt4")
    message = str(err.value)
    assert "unknown form 'gpt4'" in message
    for form in ("task:NAME", "length", "llm:MODEL@URL", "reward-model:PATH", "pairwise-model:PATH", "embedding",
                 "python:MODULE:NAME", "noisy(flip=F):SPEC"):
        assert form in message
    with pytest.raises(ValueError, match="no options"):
        oracle_from_spec("length?x=1")
    with pytest.raises(ValueError, match="non-empty"):
        oracle_from_spec("  ")
