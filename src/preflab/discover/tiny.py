"""Multi-fidelity fitness, fidelity 2: a tiny language model on the sentiment task (sandbox job
``preflab.discover.tiny:tiny``), DiscoPOP's IMDb experiment in miniature.

:func:`prepare` (trusted, in the parent, once per run folder: ``tiny_bundle.json``) fine-tunes the task's
tiny Llama (2 layers, hidden 64) on the base distribution, samples ``pairs`` pairs of answers from it,
labels each by a Bernoulli draw of the task's exact Bradley-Terry preference and stores the weights
(safetensors bytes, base64), the pairs, their reference log-probs and the SFT policy's reward. The job gets
the bundle as an argument (the sandbox child reads no files), and for each beta of the sweep trains a copy
of the SFT policy for ``steps`` AdamW steps on batches of ``batch`` pairs with the candidate, then samples
``eval_samples`` answers per prompt and measures the mean reward and the Monte Carlo KL to the SFT policy.

The fitness is the reward-KL frontier at a KL budget: the upper concave hull of the points (0, r_sft) and
(KL_beta, r_beta), read at ``kl_budget`` nats (or at the largest KL reached, if smaller), minus r_sft. The
hull is attainable: a mixture of two policies has a reward linear in the mixing weight and a KL no larger
than the mixed KLs. Cost: about 1.5-3 s per beta on one busy core with the defaults (3 betas, 30 steps of 16
pairs, 4 x 24 samples), plus 15-30 s once for :func:`prepare`.

>>> frontier_score([(0.5, 0.7), (2.0, 0.9)], r_sft=0.5, kl_budget=1.0)   # on the hull between the two
0.2667
"""

from __future__ import annotations

import base64
import json
import time
from pathlib import Path
from typing import Optional, Sequence

import numpy as np
import torch
from safetensors.torch import load, save
from transformers import LlamaConfig, LlamaForCausalLM, LogitsProcessorList  # noqa: F401 (generate's)

import preflab.models  # noqa: F401  (the engine and rollouts import these lazily)
import preflab.models.seeding  # noqa: F401
import preflab.oracles  # noqa: F401

from preflab.data import PreferenceExample
from preflab.engine import logprobs_for
from preflab.objectives import ScoreBatch
from preflab.online.evaluate import kl_to_reference
from preflab.online.rollout import sample, suppressed_ids
from preflab.online.sft import supervised_finetune
from preflab.tasks import get_task

# everything the job needs is imported here: the sandbox worker imports this module before the guard that
# refuses writes (Python's bytecode cache) goes up

__all__ = ["prepare", "tiny", "frontier_score", "TASK", "BETAS"]

TASK = "sentiment"
BETAS = (0.1, 0.5, 1.0)


def frontier_score(points: Sequence, r_sft: float, kl_budget: float) -> float:
    """The upper concave hull of (0, r_sft) and ``points`` [(kl, reward)] at ``min(kl_budget, max kl)``,
    minus r_sft."""
    pts = sorted([(0.0, float(r_sft))] + [(max(0.0, float(k)), float(r)) for k, r in points])
    hull: list = []
    for p in pts:                                   # upper hull, left to right (monotone chain)
        while len(hull) >= 2 and (hull[-1][0] - hull[-2][0]) * (p[1] - hull[-2][1]) - \
                (hull[-1][1] - hull[-2][1]) * (p[0] - hull[-2][0]) >= 0:
            hull.pop()
        hull.append(p)
    x = min(kl_budget, hull[-1][0])
    best = max(r for k, r in pts if k <= x)
    for (k0, r0), (k1, r1) in zip(hull, hull[1:]):
        if k0 <= x <= k1 and k1 > k0:
            best = max(best, r0 + (r1 - r0) * (x - k0) / (k1 - k0))
    return float(best - r_sft)


def _examples(pairs):
    return [PreferenceExample(index=i, prompt_ids=list(p), completion_ids=[list(c), list(r)], ranks=None, scores=None,
                              labels=None) for i, (p, c, r) in enumerate(pairs)]


def prepare(run_dir, seed: int = 0, pairs: int = 256, sft_steps: int = 150, sft_examples: int = 2000,
            task: str = TASK) -> dict:
    """The tiny fidelity's bundle, built once and cached in ``run_dir/tiny_bundle.json`` (trusted code);
    ``task`` is a preflab.tasks word task (``sentiment`` by default; ``transitive`` and ``heterogeneous``
    score by their annotators' mean utility)."""
    path = Path(run_dir) / "tiny_bundle.json"
    if path.exists():
        return json.loads(path.read_text())
    t0 = time.perf_counter()
    name = task
    task = get_task(name)
    tok = task.tokenizer()
    pad, eos = tok.pad_token_id, tok.eos_token_id
    suppress = suppressed_ids(tok)
    model = task.model(seed=seed)
    sft = task.sft_examples(sft_examples, seed)
    data = [(tok(p)["input_ids"], tok(" " + c, add_special_tokens=False)["input_ids"] + [eos]) for p, c in sft]
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        supervised_finetune(model, data, pad, steps=sft_steps, seed=seed)
    rng = np.random.default_rng(seed)
    prompts = [task.prompts()[i] for i in rng.integers(len(task.prompts()), size=pairs)]
    ids = [tok(p)["input_ids"] for p in prompts]
    drawn = sample(model, ids, 2, max_new_tokens=task.max_new_tokens, eos_id=eos, pad_id=pad, seed=seed,
                   suppress_ids=suppress)
    oracle = task.oracle()
    texts = [[tok.decode(s, skip_special_tokens=True) for s in two] for two in drawn]
    p_first = oracle.compare(prompts, [t[0] for t in texts], [t[1] for t in texts])
    first = rng.random(pairs) < np.asarray(p_first)
    rows = [(p, two[0], two[1]) if f else (p, two[1], two[0]) for p, two, f in zip(ids, drawn, first)]
    with torch.no_grad():
        ref = logprobs_for(model, _examples(rows), pad).sums
    eval_ids = [tok(p)["input_ids"] for p in task.prompts()]
    bundle = {"task": name, "seed": seed, "config": model.config.to_dict(),
              "weights": base64.b64encode(save({k: v.clone().contiguous() for k, v in model.state_dict().items() if k != "lm_head.weight"})).decode(),
              "pairs": [[list(map(int, p)), list(map(int, c)), list(map(int, r))] for p, c, r in rows],
              "ref_logps": ref.tolist(), "pad_id": pad, "eos_id": eos, "suppress_ids": suppress,
              "eval_prompts": task.prompts(), "eval_ids": eval_ids, "max_new_tokens": task.max_new_tokens}
    bundle["sft_reward"] = _evaluate(model, model, bundle, tok, task, 24, seed)[0]
    bundle["seconds"] = time.perf_counter() - t0
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(bundle))
    return bundle


def _model(bundle):
    config = LlamaConfig(**{k: v for k, v in bundle["config"].items() if k not in ("architectures",)})
    model = LlamaForCausalLM(config)
    model.load_state_dict(load(base64.b64decode(bundle["weights"])), strict=False)
    return model.eval()


def _evaluate(policy, ref, bundle, tok, task, samples: int, seed: int) -> tuple:

    ids = sample(policy, bundle["eval_ids"], samples, max_new_tokens=bundle["max_new_tokens"], eos_id=bundle["eos_id"],
                 pad_id=bundle["pad_id"], seed=seed + 12345, suppress_ids=bundle["suppress_ids"])
    texts = [[tok.decode(s, skip_special_tokens=True) for s in ks] for ks in ids]
    reward = float(np.mean([task.score(p, y) for p, ys in zip(bundle["eval_prompts"], texts) for y in ys]))
    kl = kl_to_reference(policy, ref, bundle["eval_ids"], ids, bundle["pad_id"]) if policy is not ref else 0.0
    return reward, float(kl)


def tiny(loss_fn, bundle: dict, betas: Sequence[float] = BETAS, steps: int = 30, lr: float = 1e-3, batch: int = 16,
         eval_samples: int = 24, kl_budget: float = 1.0, seed: int = 0, threads: Optional[int] = 1) -> dict:
    """Fidelity 2 (a sandbox job): ``{"fitness", "sft_reward", "points": [{beta, reward, kl, loss_first,
    loss_last}]}``; ValueError when the candidate's loss or the policy turns non-finite."""
    if threads:
        torch.set_num_threads(threads)
    task = get_task(bundle["task"])
    tok = task.tokenizer()
    examples = _examples(bundle["pairs"])
    ref_logps = torch.tensor(bundle["ref_logps"], dtype=torch.float32)
    ref_model = _model(bundle)
    points = []
    for beta in betas:
        torch.manual_seed(seed)
        policy = _model(bundle).train()
        opt = torch.optim.AdamW(policy.parameters(), lr=lr)
        rng = np.random.default_rng([seed, int(round(beta * 1000))])
        losses = []
        for step in range(steps):
            idx = rng.choice(len(examples), size=batch, replace=False)
            lp = logprobs_for(policy, [examples[i] for i in idx], bundle["pad_id"])
            sb = ScoreBatch(policy_logps=lp.sums, ref_logps=ref_logps[torch.as_tensor(idx)], lengths=lp.lengths)
            per = loss_fn(sb, float(beta))
            if not isinstance(per, torch.Tensor) or tuple(per.shape) != (batch,):
                raise ValueError(f"the candidate returned {getattr(per, 'shape', type(per).__name__)}, not [B]")
            loss = per.mean()
            if not torch.isfinite(loss):
                raise ValueError(f"the candidate's loss is not finite at beta={beta}, step {step}")
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            losses.append(loss.item())
        policy.eval()
        reward, kl = _evaluate(policy, ref_model, bundle, tok, task, eval_samples, seed)
        points.append({"beta": float(beta), "reward": reward, "kl": kl, "loss_first": losses[0],
                       "loss_last": losses[-1]})
    score = frontier_score([(p["kl"], p["reward"]) for p in points], bundle["sft_reward"], kl_budget)
    return {"fitness": score, "sft_reward": bundle["sft_reward"], "kl_budget": kl_budget, "points": points}
