"""The online loop: sample, label, train, evaluate, repeat, for each method from the same starting policy.

One round of one method::

    samples  = K completions per prompt from pi_t            (rollout.sample; Nash-MD: y' from the mixture)
    prefs    = the oracle's K x K matrix for each prompt       (through a LabelLog: no label is paid for twice)
    examples = what the method trains on                       (methods.build_round)
    pi_t+1   = preflab.train on the examples                   (reference / opponents as the method says)
    metrics  = win rate vs the reference and earlier rounds, KL, pool gap   (evaluate)

A run folder holds ``config.json``, ``sft/`` (the starting policy), ``<method>/round_<r>/final`` (each
iterate; HT-MNPO: ``<method>/player_<i>/round_<r>/final``), ``<method>/labels.jsonl``, and ``metrics.json``
(one row per method and round; ``policy`` names the round's final folder, relative to the run folder).
Rerunning the same command resumes: finished rounds are read back; inside an interrupted round the (seeded) samples are drawn again, the labels already
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

from .evaluate import decode, player_gap, round_metrics, win_rate
from .methods import LOOP_PARAMS, build_round, get_method
from .rollout import load_policy, sample, suppressed_ids
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
    params: dict = field(default_factory=dict)  # per method: {"inpo": {"eta": 0.1}}; "*" applies to all; "lr"
                                                # sets a method's own learning rate (see methods.LOOP_PARAMS);
                                                # "objective" swaps the loss ({"iterative_dpo": {"objective": "discopop"}})
    start_from: Optional[str] = None            # an existing policy folder to start from instead of training an
                                                # SFT policy (copied into sft/; e.g. one SFT shared by many runs)
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
    from preflab.oracles import LabelLog
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
    specials = dict(suppress_ids=suppressed_ids(tok))
    encode = lambda texts: [tok(t)["input_ids"] for t in texts]          # noqa: E731
    metrics_path = out / "metrics.json"
    metrics = json.loads(metrics_path.read_text()) if metrics_path.exists() else {"task": task.name, "methods": {}}

    # the starting policy: SFT on the task's base distribution
    sft_dir = out / "sft"
    if not (sft_dir / "config.json").exists() and cfg.start_from:
        start = Path(cfg.start_from)
        if not (start / "config.json").exists():
            raise ValueError(f"start_from={cfg.start_from}: no model there (expected {start / 'config.json'})")
        shutil.copytree(start, sft_dir, dirs_exist_ok=True)
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

    ref_model = load_policy(sft_dir)
    eval_samples(sft_dir, ref_model)

    ctx = _Context(cfg, task, tok, truth, labeller, out, sft_dir, ref_model, eval_prompts, eval_ids, eval_samples,
                   gold, specials, draw, started, log)
    for name in cfg.methods:
        method = get_method(name)
        rows = metrics["methods"].setdefault(name, [])
        if method.needs_gold and not gold:
            raise ValueError(f"{name} needs SFT answers, and task '{task.name}' has none")
        if method.players:
            _run_players(ctx, name, method, rows, lambda: metrics_path.write_text(json.dumps(metrics, indent=1)))
            continue
        history = [sft_dir] + [out / name / f"round_{r}" / "final" for r in range(len(rows))]
        labels = LabelLog(out / name / "labels.jsonl")
        params = _params(cfg, name)
        k = cfg.k or method.k
        for r in range(len(rows), cfg.rounds):
            if ctx.out_of_time(name, r):
                break
            t0 = time.perf_counter()
            policy_dir = history[-1]
            prompts, prompt_ids, rng = ctx.round_prompts(r)
            if method.mixture:          # Nash-MD: y from pi_t, y' from the geometric mixture with the reference
                policy = load_policy(policy_dir)
                kw = dict(max_new_tokens=task.max_new_tokens, eos_id=eos, pad_id=pad, temperature=cfg.temperature,
                          **specials)
                ys = sample(policy, prompt_ids, 1, seed=cfg.seed * 1000 + r, **kw)
                ys2 = sample(policy, prompt_ids, 1, seed=cfg.seed * 1000 + r + 500, mixture_with=ref_model,
                             mixture_coef=params.get("mixture_coef", 0.5), **kw)
                samples = [a + b for a, b in zip(ys, ys2)]
            else:
                samples = draw(policy_dir, None, prompt_ids, k, max_new_tokens=task.max_new_tokens, eos_id=eos,
                               pad_id=pad, temperature=cfg.temperature, seed=cfg.seed * 1000 + r, **specials)
            examples = ctx.label_and_build(name, method, labeller, labels, prompts, prompt_ids, samples, rng, r)
            opponents, weights = _opponents(name, method, params, history)
            round_dir = out / name / f"round_{r}"
            new_dir = _train_round(cfg, method, name, examples, policy_dir, sft_dir, opponents, weights, round_dir, r)
            history.append(new_dir)
            row = ctx.evaluate(history)
            row.update(round=r + 1, examples=len(examples), seconds=time.perf_counter() - t0,
                       policy=str(new_dir.relative_to(out)))
            rows.append(row)
            metrics_path.write_text(json.dumps(metrics, indent=1))
            log(f"{name} round {r + 1}: win rate vs SFT {row['win_rate_vs_ref']:.3f}, KL {row['kl']:.3f}, "
                f"pool gap {row['duality_gap']:.3f}, response gap {row['response_gap']:.3f} ({len(examples)} examples, {row['seconds']:.1f} s)")
    metrics_path.write_text(json.dumps(metrics, indent=1))
    return metrics


@dataclass
class _Context:
    """What every method's rounds share in one run: the task, its tokenizer and oracles, the SFT policy and its
    evaluation samples, the rollout backend."""

    cfg: OnlineConfig
    task: object
    tok: object
    truth: object
    labeller: object
    out: Path
    sft_dir: Path
    ref_model: object
    eval_prompts: list
    eval_ids: list
    eval_samples: Callable
    gold: dict
    specials: dict
    draw: Callable
    started: float
    log: Callable

    def out_of_time(self, name: str, r: int) -> bool:
        budget = self.cfg.max_minutes
        if budget is not None and time.perf_counter() - self.started > 60 * budget:
            self.log(f"{name}: budget of {budget} min reached before round {r + 1}; stopping")
            return True
        return False

    def round_prompts(self, r: int):
        """Round r's prompts (the same for every method and player: paired comparisons), ids and generator."""
        rng = np.random.default_rng([self.cfg.seed, r])
        all_prompts = self.task.prompts()
        prompts = [all_prompts[i] for i in rng.integers(len(all_prompts), size=self.cfg.prompts_per_round)]
        return prompts, [self.tok(p)["input_ids"] for p in prompts], rng

    def label_and_build(self, name, method, oracle, labels, prompts, prompt_ids, samples, rng, r, who=""):
        from preflab.oracles import OracleError

        texts = decode(self.tok, samples)
        try:
            prefs = [_prefs(oracle, labels, p, ts, self.cfg.labels, rng) for p, ts in zip(prompts, texts)]
        except OracleError as err:
            raise OracleError(f"{name}{who} round {r + 1} stopped: the oracle failed ({err}). The {len(labels)} labels "
                              f"obtained so far are in {labels.path}; rerun the same command to resume") from err
        rewards = None
        if method.objective in ("grpo", "rloo"):
            try:
                rewards = [oracle.score([p] * len(ts), ts).tolist() for p, ts in zip(prompts, texts)]
            except NotImplementedError:
                rewards = None          # win rates stand in for rewards
        return build_round(method, prompt_ids, samples, prefs, rng, start_index=r * 100000, rewards=rewards,
                           gold=[self.gold[p] for p in prompts] if method.needs_gold else None)

    def evaluate(self, history: List[Path], oracle=None) -> dict:
        """The newest policy of ``history`` (the SFT policy first) against the reference and every earlier one."""
        policy = load_policy(history[-1])
        samples = [self.eval_samples(h) for h in history[:-1]] + [self.eval_samples(history[-1], policy)]
        row = round_metrics(oracle or self.truth, self.eval_prompts, self.eval_ids, policy, self.ref_model, samples,
                            self.tok.pad_token_id)
        if self.task.reward is not None:                   # tasks with a scalar reward report its mean too
            mine = samples[-1][1]
            row["reward"] = float(np.mean([self.task.score(p, y) for p, ys in zip(self.eval_prompts, mine) for y in ys]))
        return row


def _opponents(name: str, method, params: dict, history: List[Path]) -> tuple:
    """The opponents' folders, most recent first, and their weights (None: uniform or not used).

    TD-MNPO's ``history`` n (default: the method's) takes the last n policies, pi_t first, with ``weights``
    lambda_j in that order (the released code's hist0 = pi_t); in early rounds fewer exist, and the weights
    of the missing ones are dropped (the rest renormalise). EO-MNPO adds the fixed ``external`` checkpoints
    after them; ``weights`` then lists the history's weights followed by the externals'."""
    external = [Path(e) for e in (params.get("external") or [])]
    if method.external and not external:
        raise ValueError(f"{name} needs external opponents: params: {{{name}: {{external: [CHECKPOINT, ...]}}}}")
    for e in external:
        if not (e / "config.json").exists():
            raise ValueError(f"{name}: external opponent {e} is not a model folder (no config.json)")
    n = int(params.get("history", method.opponents))
    if method.objective != "mnpo" and "history" in params:
        raise ValueError(f"{name} plays against a fixed number of past policies ({method.opponents}); "
                         "history applies to mnpo and eo_mnpo")
    if n < (1 if method.objective == "mnpo" else 0):
        raise ValueError(f"{name}: history must be >= 1, got {n}")
    recent = list(reversed(history))[:n]
    weights = params.get("weights")
    if weights is not None:
        if len(weights) != n + len(external):
            raise ValueError(f"{name}: {len(weights)} weights for {n} past policies and {len(external)} external "
                             f"opponents; give one weight each, most recent first, externals last")
        weights = list(weights[:len(recent)]) + list(weights[n:])
    return recent + external, weights


def _run_players(ctx: _Context, name: str, method, rows: list, save: Callable) -> None:
    """HT-MNPO (MNPO v3 Sec. 3.3, Eq. 18): n players trained side by side from the SFT policy, player i on
    pairs it sampled and its own oracle P_i judged, against the other players' current policies.

    Rows report the players' mean of the usual metrics under the task's exact oracle (``policy`` is player
    0's), and under ``players`` each player's own: its oracle, win rate vs SFT under the truth and under its
    own oracle, KL, and its duality-gap bound in the general-sum game (``gap``: best single response against
    the other players' samples under P_i, minus the player's own average; ``evaluate.player_gap``)."""
    from preflab.oracles import LabelLog
    from preflab.oracles.spec import oracle_from_spec, spec_label

    cfg, out = ctx.cfg, ctx.out
    params = _params(cfg, name)
    specs = params.get("oracles")
    if specs:
        oracles = [oracle_from_spec(s) if isinstance(s, str) else s for s in specs]
        labels_of = [spec_label(s) if isinstance(s, str) else getattr(s, "name", "oracle") for s in specs]
    else:
        if not hasattr(ctx.task, "annotator_oracles"):
            raise ValueError(f"{name}: task '{ctx.task.name}' has no annotator types; give params.oracles")
        oracles = ctx.task.annotator_oracles()
        labels_of = [o.name for o in oracles]
    n = int(params.get("players", len(oracles)))
    if n < 2:
        raise ValueError(f"{name} needs at least 2 players, got players={n}")
    if n > len(oracles):
        raise ValueError(f"{name}: players={n} but only {len(oracles)} oracles ({', '.join(labels_of)}); "
                         "give one oracle spec per player in params.oracles")
    oracles, labels_of = oracles[:n], labels_of[:n]
    histories = [[ctx.sft_dir] + [out / name / f"player_{i}" / f"round_{r}" / "final" for r in range(len(rows))]
                 for i in range(n)]
    logs = [LabelLog(out / name / f"player_{i}" / "labels.jsonl") for i in range(n)]
    k = cfg.k or method.k
    tk = ctx.task
    for r in range(len(rows), cfg.rounds):
        if ctx.out_of_time(name, r):
            break
        t0 = time.perf_counter()
        prompts, prompt_ids, _ = ctx.round_prompts(r)
        current = [h[-1] for h in histories]
        new, count = [], 0
        for i in range(n):
            rng = np.random.default_rng([cfg.seed, r, i + 1])
            samples = ctx.draw(current[i], None, prompt_ids, k, max_new_tokens=tk.max_new_tokens, eos_id=ctx.tok.eos_token_id,
                               pad_id=ctx.tok.pad_token_id, temperature=cfg.temperature,
                               seed=cfg.seed * 1000 + r + 7919 * (i + 1), **ctx.specials)
            examples = ctx.label_and_build(name, method, oracles[i], logs[i], prompts, prompt_ids, samples, rng, r,
                                           who=f" player {i}")
            opponents = [current[j] for j in range(n) if j != i]
            round_dir = out / name / f"player_{i}" / f"round_{r}"
            new.append(_train_round(cfg, method, name, examples, current[i], ctx.sft_dir, opponents,
                                    params.get("weights"), round_dir, r))
            count += len(examples)
        for i in range(n):
            histories[i].append(new[i])
        players = [ctx.evaluate(histories[i]) for i in range(n)]     # draws (and caches) each player's samples
        finals = [ctx.eval_samples(d)[1] for d in new]
        seen = [[y for h in histories for d in h for y in ctx.eval_samples(d)[1][p]] for p in range(len(ctx.eval_prompts))]
        ref_texts = ctx.eval_samples(ctx.sft_dir)[1]
        for i, row_i in enumerate(players):
            row_i.update(player=i, oracle=labels_of[i], policy=str(new[i].relative_to(out)),
                         win_rate_vs_ref_own=win_rate(oracles[i], ctx.eval_prompts, finals[i], ref_texts),
                         gap=player_gap(oracles[i], ctx.eval_prompts, seen, finals[i],
                                        [finals[j] for j in range(n) if j != i]))
        row = {key: float(np.mean([p[key] for p in players])) for key in ("win_rate_vs_ref", "kl", "duality_gap",
                                                                           "response_gap")}
        row.update(round=r + 1, examples=count, seconds=time.perf_counter() - t0, policy=players[0]["policy"],
                   players=players)
        rows.append(row)
        save()
        ctx.log(f"{name} round {r + 1}: " + ", ".join(
            f"player {p['player']} ({p['oracle']}) win rate vs SFT {p['win_rate_vs_ref']:.3f} (own oracle "
            f"{p['win_rate_vs_ref_own']:.3f}), KL {p['kl']:.3f}, gap {p['gap']:.3f}" for p in players)
            + f" ({row['seconds']:.1f} s)")


def _hf_draw(model_dir: Path, model, prompt_ids, k: int, **kw):
    """HF ``generate`` on ``model`` (loaded from ``model_dir`` when not given)."""
    return sample(model if model is not None else load_policy(model_dir), prompt_ids, k, **kw)


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


def _train_round(cfg, method, name, examples, policy_dir, sft_dir, opponents, weights, round_dir, r) -> Path:
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
    lr = _params(cfg, name).get("lr", cfg.lr)
    params = {k: v for k, v in _params(cfg, name).items() if k not in LOOP_PARAMS}
    params = {**method.params, **params}
    if method.objective == "mnpo":
        params["weights"] = weights                             # the loop aligned them with the opponents
    for key, value in method.train.items():
        if key != "extragradient":
            raise ValueError(f"{name}: unknown training setting {key}")
    objective = params.pop("objective", method.objective)     # e.g. iterative rounds with DiscoPOP's loss
    overrides = [f"model.name={policy_dir}", f"model.tokenizer={sft_dir}", f"objective.name={objective}",
                 f"train.output_dir={round_dir}", f"data.cache_dir={Path(cfg.output_dir) / 'cache'}",
                 f"train.batch_size={min(cfg.batch_size, len(examples))}", f"train.max_steps={cfg.steps_per_round}",
                 f"optim.lr={lr}", "optim.scheduler=constant", f"train.seed={cfg.seed + r}", "train.progress=false",
                 "train.log_every=1", "train.resume=true"]
    if cfg.checkpoint_every:
        overrides.append(f"train.save_every={cfg.checkpoint_every}")
    overrides += [f"objective.params.{k}={'null' if v is None else v}" for k, v in params.items()]
    if method.train.get("extragradient"):
        overrides.append("optim.extragradient=true")
    if method.reference is None:
        overrides.append("reference.mode=none")
    else:
        ref = sft_dir if method.reference == "initial" else policy_dir
        overrides += ["reference.mode=cache", f"reference.model={ref}"]
    if opponents:
        overrides.append(f"opponents=[{', '.join(str(o) for o in opponents)}]")
    config = build(TrainConfig, None, overrides)
    train(config, train_data=data)
    shutil.rmtree(round_dir / "checkpoints", ignore_errors=True)     # the round is done: final/ is what stays
    return round_dir / "final"
