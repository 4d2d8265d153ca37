"""The online loop: sample, label, train, evaluate, repeat, for each method from the same starting policy.

One round of one method::

    samples  = K completions per prompt from pi_t            (rollout.sample; Nash-MD: y' from the mixture)
    prefs    = the oracle's K x K matrix for each prompt       (through a LabelLog: no label is paid for twice)
    examples = what the method trains on                       (methods.build_round)
    pi_t+1   = preflab.train on the examples                   (reference / opponents as the method says)
    metrics  = win rate vs the reference and earlier rounds, KL, pool gap   (evaluate)

A run folder holds ``config.json``, ``sft/`` (the starting policy), ``<method>/round_<r>/final`` (each
iterate), ``<method>/labels.jsonl``, and ``metrics.json``. Rerunning the same command resumes: finished
rounds are read back; inside an interrupted round the (seeded) samples are drawn again, the labels already
obtained are read from the log, and training continues from the round's newest checkpoint, bit for bit.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Dict, List, Optional

import numpy as np
import torch

from .evaluate import decode, kl_to_reference, pool_gap, response_gap, win_rate
from .methods import build_round, get_method
from .rollout import sample
from .sft import supervised_finetune

__all__ = ["OnlineConfig", "run_online"]


@dataclass
class OnlineConfig:
    task: str = "heterogeneous"                 # a preflab.tasks name
    methods: list = field(default_factory=lambda: ["iterative_dpo", "inpo", "mnpo"])
    rounds: int = 3
    prompts_per_round: int = 64
    k: Optional[int] = None                     # samples per prompt (default: the method's)
    labels: str = "exact"                       # "exact": the oracle's probabilities; "sampled": Bernoulli draws
    params: dict = field(default_factory=dict)  # per method: {"inpo": {"eta": 0.1}}; "*" applies to all;
                                                # "objective" swaps the loss ({"iterative_dpo": {"objective": "discopop"}})
    sft_examples: int = 2000
    sft_steps: int = 150
    sft_lr: float = 3e-3
    steps_per_round: int = 20
    checkpoint_every: Optional[int] = 10        # a round's training saves a checkpoint this often (None: never);
                                                # a killed run resumes inside the round from the newest one
    batch_size: int = 16
    lr: float = 1e-3
    temperature: float = 1.0
    eval_samples: int = 32                      # per task prompt
    max_minutes: Optional[float] = None         # no new round starts after this budget
    rollout: str = "auto"                       # "hf" (transformers generate), "vllm" (GPU), "auto": vLLM when present
    output_dir: str = "runs/online"
    seed: int = 0
    progress: bool = True


def _params(cfg: OnlineConfig, method: str) -> dict:
    return {**cfg.params.get("*", {}), **cfg.params.get(method, {})}


def run_online(cfg: OnlineConfig, log: Callable[[str], None] = print, oracle=None) -> dict:
    """Run every method for ``cfg.rounds`` rounds from one SFT policy; returns (and writes) metrics.json.
    ``oracle`` replaces the task's ground truth as the labeller (evaluation always uses the ground truth)."""
    from preflab.oracles import LabelLog, OracleError
    from preflab.tasks import get_task

    for name in cfg.methods:
        get_method(name)                                    # fail on a typo before any work
    if cfg.labels not in ("exact", "sampled"):
        raise ValueError(f"labels must be 'exact' or 'sampled', got {cfg.labels!r}")
    draw = _sampler(cfg.rollout)
    task = get_task(cfg.task)
    started = time.perf_counter()
    out = Path(cfg.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "config.json").write_text(json.dumps(asdict(cfg), indent=2))
    tok, truth = task.tokenizer(), task.oracle()
    labeller = oracle if oracle is not None else truth
    pad, eos = tok.pad_token_id, tok.eos_token_id
    specials = dict(suppress_ids=sorted({tok.pad_token_id, tok.bos_token_id, tok.unk_token_id} - {eos, None}))
    encode = lambda texts: [tok(t)["input_ids"] for t in texts]          # noqa: E731
    metrics_path = out / "metrics.json"
    metrics = json.loads(metrics_path.read_text()) if metrics_path.exists() else {"task": task.name, "methods": {}}

    # the starting policy: SFT on the task's base distribution
    sft_dir = out / "sft"
    if not (sft_dir / "config.json").exists() and getattr(task, "pretrained", False):
        task.model(seed=cfg.seed).save_pretrained(sft_dir)      # an instruct model starts as it is
        tok.save_pretrained(sft_dir)
    if not (sft_dir / "config.json").exists():
        t0 = time.perf_counter()
        model = task.model(seed=cfg.seed)
        sft = task.sft_examples(cfg.sft_examples, cfg.seed)
        pairs = [(p, tok(" " + c, add_special_tokens=False)["input_ids"] + [eos])
                 for p, c in zip(encode([x for x, _ in sft]), [c for _, c in sft])]
        losses = supervised_finetune(model, pairs, pad, steps=cfg.sft_steps, lr=cfg.sft_lr, seed=cfg.seed)
        model.save_pretrained(sft_dir)
        tok.save_pretrained(sft_dir)
        metrics["sft"] = {"loss_first": losses[0], "loss_last": losses[-1], "seconds": time.perf_counter() - t0}
        log(f"sft: loss {losses[0]:.3f} -> {losses[-1]:.3f} in {metrics['sft']['seconds']:.1f} s")
    gold = {p: tok(" " + c, add_special_tokens=False)["input_ids"] + [eos]
            for p, c in task.sft_examples(len(task.prompts()) * 4, cfg.seed + 1)}

    eval_prompts = task.prompts()
    eval_ids = encode(eval_prompts)
    samples_of: Dict[str, tuple] = {}

    def eval_samples(model_dir: Path, model=None) -> tuple:
        """(token ids, texts) of ``eval_samples`` completions per task prompt, drawn once per policy."""
        key = str(model_dir)
        if key not in samples_of:
            ids = draw(model_dir, model, eval_ids, cfg.eval_samples, max_new_tokens=task.max_new_tokens, eos_id=eos,
                       pad_id=pad, temperature=cfg.temperature, seed=cfg.seed + 12345, **specials)
            samples_of[key] = (ids, decode(tok, ids))
        return samples_of[key]

    ref_model = _load(sft_dir)
    ref_samples = eval_samples(sft_dir, ref_model)[1]

    for name in cfg.methods:
        method = get_method(name)
        rows = metrics["methods"].setdefault(name, [])
        history = [sft_dir] + [out / name / f"round_{r}" / "final" for r in range(len(rows))]
        labels = LabelLog(out / name / "labels.jsonl")
        k = cfg.k or method.k
        if method.needs_gold and not gold:
            raise ValueError(f"{name} needs SFT answers, and task '{task.name}' has none")
        for r in range(len(rows), cfg.rounds):
            if cfg.max_minutes is not None and time.perf_counter() - started > 60 * cfg.max_minutes:
                log(f"{name}: budget of {cfg.max_minutes} min reached before round {r + 1}; stopping")
                break
            t0 = time.perf_counter()
            policy_dir = history[-1]
            policy = _load(policy_dir) if method.mixture else None      # HF draws load it themselves
            rng = np.random.default_rng([cfg.seed, r])      # every method sees the same prompts in round r
            prompts = [task.prompts()[i] for i in rng.integers(len(task.prompts()), size=cfg.prompts_per_round)]
            prompt_ids = encode(prompts)
            if method.mixture:          # Nash-MD: y from pi_t, y' from the geometric mixture with the reference
                ys = sample(policy, prompt_ids, 1, max_new_tokens=task.max_new_tokens, eos_id=eos, pad_id=pad,
                            temperature=cfg.temperature, seed=cfg.seed * 1000 + r, **specials)
                ys2 = sample(policy, prompt_ids, 1, max_new_tokens=task.max_new_tokens, eos_id=eos, pad_id=pad,
                             temperature=cfg.temperature, seed=cfg.seed * 1000 + r + 500, mixture_with=ref_model,
                             mixture_coef=_params(cfg, name).pop("mixture_coef", 0.5), **specials)
                samples = [a + b for a, b in zip(ys, ys2)]
            else:
                samples = draw(policy_dir, policy, prompt_ids, k, max_new_tokens=task.max_new_tokens, eos_id=eos,
                               pad_id=pad, temperature=cfg.temperature, seed=cfg.seed * 1000 + r, **specials)
            texts = decode(tok, samples)
            try:
                prefs = [_prefs(labeller, labels, p, ts, cfg.labels, rng) for p, ts in zip(prompts, texts)]
            except OracleError as err:
                raise OracleError(f"{name} round {r + 1} stopped: the oracle failed ({err}). The {len(labels)} labels "
                                  f"obtained so far are in {labels.path}; rerun the same command to resume") from err
            rewards = None
            if method.objective in ("grpo", "rloo"):
                try:
                    rewards = [labeller.score([p] * len(ts), ts).tolist() for p, ts in zip(prompts, texts)]
                except NotImplementedError:
                    rewards = None          # win rates stand in for rewards
            examples = build_round(method, prompt_ids, samples, prefs, rng, start_index=r * 100000, rewards=rewards,
                                   gold=[gold[p] for p in prompts] if method.needs_gold else None)
            round_dir = out / name / f"round_{r}"
            new_dir = _train_round(cfg, method, name, examples, policy_dir, sft_dir, history, round_dir, r)
            history.append(new_dir)
            row = _evaluate(cfg, truth, tok, eval_prompts, eval_ids, ref_model, ref_samples, history, eval_samples,
                            pad, task)
            row.update(round=r + 1, examples=len(examples), seconds=time.perf_counter() - t0)
            rows.append(row)
            metrics_path.write_text(json.dumps(metrics, indent=1))
            log(f"{name} round {r + 1}: win rate vs SFT {row['win_rate_vs_ref']:.3f}, KL {row['kl']:.3f}, "
                f"pool gap {row['duality_gap']:.3f}, response gap {row['response_gap']:.3f} ({len(examples)} examples, {row['seconds']:.1f} s)")
    metrics_path.write_text(json.dumps(metrics, indent=1))
    return metrics


def _hf_draw(model_dir: Path, model, prompt_ids, k: int, **kw):
    """HF ``generate`` on ``model`` (loaded from ``model_dir`` when not given)."""
    return sample(model if model is not None else _load(model_dir), prompt_ids, k, **kw)


def _vllm_draw(model_dir: Path, model, prompt_ids, k: int, **kw):
    from .vllm_rollout import sample_vllm
    return sample_vllm(model_dir, prompt_ids, k, **kw)


def _sampler(mode: str):
    """The rollout backend: ``_hf_draw`` or ``_vllm_draw`` (same arguments, same output)."""
    from .vllm_rollout import vllm_available

    if mode not in ("auto", "hf", "vllm"):
        raise ValueError(f"rollout must be 'auto', 'hf' or 'vllm', got {mode!r}")
    if mode == "vllm" and not vllm_available():
        raise ValueError("rollout='vllm' needs vLLM installed and a CUDA GPU; use rollout='hf' or 'auto'")
    return _vllm_draw if mode == "vllm" or (mode == "auto" and vllm_available()) else _hf_draw


def _load(path: Path):
    from transformers import AutoModelForCausalLM
    return AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32).eval()


def _prefs(oracle, labels, prompt: str, responses: List[str], mode: str, rng) -> np.ndarray:
    """The K x K matrix through the label log: exact probabilities, or one Bernoulli draw per pair."""
    K = len(responses)
    iu = [(i, j) for i in range(K) for j in range(i + 1, K)]
    p = labels.label(oracle, [prompt] * len(iu), [responses[i] for i, _ in iu], [responses[j] for _, j in iu])
    if mode == "sampled":
        p = (rng.random(len(p)) < p).astype(np.float64)
    P = np.full((K, K), 0.5)
    for (i, j), v in zip(iu, p):
        P[i, j], P[j, i] = v, 1.0 - v
    return P


def _digest(examples) -> str:
    """A fingerprint of a round's data that is the same in every process (``hash()`` of a str is salted)."""
    text = json.dumps([[e.prompt_ids, e.completion_ids] for e in examples])
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _train_round(cfg, method, name, examples, policy_dir, sft_dir, history, round_dir, r) -> Path:
    from preflab.config import build
    from preflab.data import PreferenceDataset
    from preflab.train import TrainConfig, train

    if (round_dir / "final" / "config.json").exists():       # trained before an interruption during evaluation
        return round_dir / "final"
    if not examples:
        raise RuntimeError(f"{name} round {r + 1}: no usable examples (every prompt's samples tied or were identical)")
    data = PreferenceDataset.from_examples(examples, kind=method.kind, style="standard",
                                           fingerprint=f"{name}-{r}-{_digest(examples)}",
                                           stats={"rows": len(examples)}, tokenizer_name=cfg.task)
    params = {k: v for k, v in _params(cfg, name).items() if k != "mixture_coef"}
    params = {**method.params, **params}
    objective = params.pop("objective", method.objective)     # e.g. iterative rounds with DiscoPOP's loss
    overrides = [f"model.name={policy_dir}", f"model.tokenizer={sft_dir}", f"objective.name={objective}",
                 f"train.output_dir={round_dir}", f"data.cache_dir={Path(cfg.output_dir) / 'cache'}",
                 f"train.batch_size={min(cfg.batch_size, len(examples))}", f"train.max_steps={cfg.steps_per_round}",
                 f"optim.lr={cfg.lr}", "optim.scheduler=constant", f"train.seed={cfg.seed + r}", "train.progress=false",
                 "train.log_every=1", "train.resume=true"]
    if cfg.checkpoint_every:
        overrides.append(f"train.save_every={cfg.checkpoint_every}")
    overrides += [f"objective.params.{k}={v}" for k, v in params.items()]
    if method.reference is None:
        overrides.append("reference.mode=none")
    else:
        ref = sft_dir if method.reference == "initial" else policy_dir
        overrides += ["reference.mode=cache", f"reference.model={ref}"]
    if method.opponents:
        opp = [str(h) for h in history[-method.opponents:]]
        overrides.append(f"opponents=[{', '.join(opp)}]")
    config = build(TrainConfig, None, overrides)
    train(config, train_data=data)
    shutil.rmtree(round_dir / "checkpoints", ignore_errors=True)     # the round is done: final/ is what stays
    return round_dir / "final"


def _evaluate(cfg, oracle, tok, prompts, prompt_ids, ref_model, ref_samples, history, eval_samples, pad, task) -> dict:
    current = history[-1]
    policy = _load(current)
    ids, mine = eval_samples(current, policy)
    row = {"win_rate_vs_ref": win_rate(oracle, prompts, mine, ref_samples)}
    against = {str(h): win_rate(oracle, prompts, eval_samples(h)[1], mine) for h in history[:-1]}
    row["win_rate_vs_rounds"] = {("sft" if i == 0 else f"round_{i}"): 1.0 - w for i, w in enumerate(against.values())}
    row["duality_gap"] = pool_gap(against)
    seen = [[y for h in history for y in eval_samples(h)[1][i]] for i in range(len(prompts))]
    row["response_gap"] = response_gap(oracle, prompts, seen, mine)
    row["kl"] = kl_to_reference(policy, ref_model, prompt_ids, ids, pad)
    if task.reward is not None:                   # tasks with a scalar reward report its mean too
        row["reward"] = float(np.mean([task.score(p, y) for p, ys in zip(prompts, mine) for y in ys]))
    return row
