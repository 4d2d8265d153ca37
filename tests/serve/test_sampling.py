"""Temperature and top_p reach the sampler: a near-zero temperature is the greedy decode, and a top_p nucleus
bounds every sampled token (checked against the model's own per-step logits), on a 14-token tiny Llama."""

import pytest
import torch

from preflab.serve.local_model import LocalModel, SamplingParams

WORDS = ["red", "green", "blue", "cyan", "pink", "gold", "grey", "teal"]


@pytest.fixture(scope="module")
def small_lm():
    from preflab.models import tiny_llama
    from preflab.tasks.vocab import word_tokenizer

    tok = word_tokenizer(["hello", "there"], WORDS)
    return LocalModel(tiny_llama(vocab_size=len(tok), seed=0), tok, name="small")


def _greedy(lm, prompt_ids, n):
    [choice] = lm.generate(prompt_ids, SamplingParams(max_tokens=n, temperature=0.0))
    return choice.token_ids


def test_a_near_zero_temperature_samples_the_greedy_continuation(small_lm):
    ids = small_lm.encode_prompt("hello there")
    greedy = _greedy(small_lm, ids, 6)
    assert len(greedy) == 6
    for seed in (0, 1, 2):
        choices = small_lm.generate(ids, SamplingParams(max_tokens=6, temperature=0.01, n=8, seed=seed))
        assert [c.token_ids for c in choices] == [greedy] * 8
    # the control: at temperature 1 the same seeds do leave the greedy path, so the check above can fail
    hot = small_lm.generate(ids, SamplingParams(max_tokens=6, temperature=1.0, n=8, seed=0))
    assert sum(c.token_ids != greedy for c in hot) >= 4


def test_a_tiny_top_p_keeps_only_the_top_token(small_lm):
    ids = small_lm.encode_prompt("hello there")
    greedy = _greedy(small_lm, ids, 6)
    choices = small_lm.generate(ids, SamplingParams(max_tokens=6, temperature=1.0, top_p=1e-6, n=8, seed=3))
    assert [c.token_ids for c in choices] == [greedy] * 8


def test_every_sampled_token_lies_in_the_top_p_nucleus(small_lm):
    top_p, vocab = 0.25, len(small_lm.tokenizer)
    ids = small_lm.encode_prompt("hello there")
    choices = small_lm.generate(ids, SamplingParams(max_tokens=6, temperature=1.0, top_p=top_p, n=32, seed=1,
                                                    logprobs=True, top_logprobs=vocab))
    drawn_per_step, nucleus_sizes = [set() for _ in range(6)], []
    for c in choices:
        assert len(c.logprobs) == len(c.token_ids) == 6      # the nucleus never holds EOS here
        for step, lp in enumerate(c.logprobs):
            probs = torch.tensor([p for _, _, p in lp.top], dtype=torch.float64).exp()
            ranked = [i for _, i, _ in lp.top]
            mass_above = float(probs[: ranked.index(lp.token_id)].sum())   # tokens strictly more likely
            # nucleus: the smallest set of top tokens whose mass reaches top_p
            assert mass_above < top_p + 1e-6, (step, lp.token_id, mass_above)
            nucleus_sizes.append(int((probs.cumsum(0) - probs < top_p).sum()))
            drawn_per_step[step].add(lp.token_id)
    # the nucleus is a real restriction (at most 4 of 14 tokens), and sampling within it is not collapsed to greedy
    assert max(nucleus_sizes) <= 4 and vocab == 14
    assert max(len(s) for s in drawn_per_step) >= 2
