"""Everything a run needs before its first step: processes, model, data, references, optimizer.

Kept apart from the loop so the loop reads as the algorithm. Order: validate what the objective needs
against the data (before any model loads), then tokenizer, data, policy, fixed models' log-probs,
optimizer and schedule.
"""

from __future__ import annotations

import contextlib
import gc
import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Callable, Optional

import torch

from preflab.config import to_dict
from preflab.engine import precompute_logps

from .config import TrainConfig
from .needs import Needs, check_data, needs_of
from .sources import AdapterSource, ModelSource, TableSource

__all__ = ["Setup", "build_setup", "load_policy", "load_data"]


@dataclass
class Setup:
    config: TrainConfig
    accelerator: Any
    model: Any
    tokenizer: Any
    pad_id: int
    train_data: Any
    eval_data: Any
    objective: Any
    needs: Needs
    trainable: list
    optimizer: Any
    scheduler: Any
    total_steps: int
    steps_per_epoch: int
    reference: Any = None
    extra_refs: list = field(default_factory=list)
    opponents: list = field(default_factory=list)
    kl: dict = field(default_factory=dict)          # "train"/"eval" -> MismatchedKL
    value_head: Any = None
    sync_reference: Optional[Callable] = None
    ref_model: Any = None
    timings: dict = field(default_factory=dict)     # seconds spent before the first step, by part

    @property
    def device(self):
        return self.accelerator.device

    @property
    def world_size(self) -> int:
        return self.accelerator.num_processes

    @property
    def rank(self) -> int:
        return self.accelerator.process_index

    @property
    def is_main(self) -> bool:
        return self.accelerator.is_main_process

    def autocast(self):
        if self.config.train.precision == "bf16":
            return torch.autocast(self.device.type, dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def all_reduce_gradients(self) -> None:
        """Average the accumulated gradients over processes (one flat buffer, one collective)."""
        if self.world_size == 1:
            return
        grads = [p.grad for p in self.trainable if p.grad is not None]
        flat = torch.cat([g.reshape(-1) for g in grads])
        torch.distributed.all_reduce(flat)
        flat /= self.world_size
        at = 0
        for g in grads:
            g.copy_(flat[at:at + g.numel()].view_as(g))
            at += g.numel()

    def mean_across_processes(self, value: float) -> float:
        if self.world_size == 1:
            return value
        t = torch.tensor([value], dtype=torch.float64, device=self.device)
        torch.distributed.all_reduce(t)
        return float(t.item() / self.world_size)

    def log_trackers(self, row: dict, step: int) -> None:
        if self.config.train.trackers:
            self.accelerator.log({k: v for k, v in row.items() if isinstance(v, (int, float))}, step=step)

    def finish(self, seconds: float) -> None:
        if self.config.train.trackers:
            self.accelerator.end_training()
        if self.is_main:
            summary = {"steps": self.total_steps, "seconds": seconds, "world_size": self.world_size,
                       "setup_seconds": self.timings}
            (Path(self.config.train.output_dir) / "summary.json").write_text(json.dumps(summary, indent=2))


class MismatchedKL:
    """KTO's reference point: each example's prompt paired with the next example's completion (a fixed
    partner, so its reference log-probs can be cached like any other)."""

    def __init__(self, data, reference_factory: Callable):
        pos = {e.index: i for i, e in enumerate(data)}
        self.partners = {}
        for e in data:
            nxt = data[(pos[e.index] + 1) % len(data)]
            self.partners[e.index] = SimpleNamespace(index=e.index, prompt_ids=e.prompt_ids,
                                                     completion_ids=[nxt.completion_ids[0]])
        self.reference = reference_factory(list(self.partners.values()))

    def partner(self, e):
        return self.partners[e.index]


# --------------------------------------------------------------------------------------------------


def load_policy(cfg, tokenizer=None):
    """(model, tokenizer) for ``cfg.model``: a path or Hub name, "smollm2", or a tiny config."""
    from preflab import models

    m = cfg.model
    if m.name in ("tiny-llama", "tiny-gpt2"):
        tok = tokenizer or models.load_tokenizer(m.tokenizer or "smollm2")
        build = models.tiny_llama if m.name == "tiny-llama" else models.tiny_gpt2
        model = build(vocab_size=len(tok), **{"seed": cfg.train.seed, **m.tiny})
    else:
        tok = tokenizer or models.load_tokenizer(m.tokenizer or m.name)
        model = models.load_model(m.name, dtype=m.dtype)
    if m.lora_r > 0:
        model = models.add_lora(model, r=m.lora_r, alpha=m.lora_alpha, dropout=m.lora_dropout,
                                target_modules=m.lora_target_modules)
    return model, tok


def load_data(cfg, tokenizer, path: str, kind=None, group=False):
    from preflab.data import group_by_prompt, load_preferences

    d = cfg.data
    data = load_preferences(path, tokenizer, split=d.split, kind=kind or d.kind, max_prompt_length=d.max_prompt_length,
                            max_completion_length=d.max_completion_length, skip_bad_rows=d.skip_bad_rows,
                            cache_dir=os.path.join(_cache_base(cfg), "data"))
    return group_by_prompt(data) if group and data.kind == "unpaired" else data


def _cache_base(cfg) -> str:
    return cfg.data.cache_dir or os.environ.get("PREFLAB_CACHE") or os.path.expanduser("~/.cache/preflab")


def _check_trackers(names) -> None:
    """accelerate skips a tracker whose package is missing with only a debug log; refuse instead."""
    if not names:
        return
    from accelerate.tracking import LoggerType, get_available_trackers

    known, available = {str(t) for t in LoggerType}, {str(t) for t in get_available_trackers()}
    for name in names:
        if name not in known:
            raise ValueError(f"train.trackers: unknown tracker '{name}'; choose from {sorted(known - {'all'})}")
        if name != "all" and name not in available:
            raise ValueError(f"train.trackers: '{name}' is not installed (pip install {name})")


def _flat_hparams(d: dict, prefix: str = "") -> dict:
    """The config as trackers take hyperparameters: dotted keys, scalar values (lists and None as text)."""
    out = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(_flat_hparams(v, key + "."))
        else:
            out[key] = v if isinstance(v, (int, float, str, bool)) else str(v)
    return out


def build_setup(config: TrainConfig, objective, train_data=None, eval_data=None) -> Setup:
    """Everything before the first step. ``train_data`` / ``eval_data`` (PreferenceDatasets) replace
    ``data.train`` / ``data.eval`` when given, for data built in memory."""
    import time

    from accelerate import Accelerator

    cfg, tr = config, config.train
    timings: dict = {}
    if not cfg.data.train and train_data is None:
        raise ValueError("data.train is empty: give a preference data file (jsonl, json, parquet, csv) or a "
                         "saved datasets folder")
    if tr.batch_size < 1 or (tr.micro_batch_size is not None and tr.micro_batch_size < 1):
        raise ValueError("train.batch_size and train.micro_batch_size must be >= 1")
    _check_trackers(tr.trackers)
    if tr.threads:
        torch.set_num_threads(tr.threads)
    torch.manual_seed(tr.seed)
    needs = needs_of(objective)
    # cpu=True lets accelerate form a gloo group from a launcher's environment on machines without GPUs
    accelerator = Accelerator(cpu=not torch.cuda.is_available(), log_with=tr.trackers or None, project_dir=tr.output_dir)
    if tr.batch_size % accelerator.num_processes:
        raise ValueError(f"train.batch_size={tr.batch_size} must be divisible by the {accelerator.num_processes} "
                         "processes")
    run_dir = Path(tr.output_dir)
    if accelerator.is_main_process:
        run_dir.mkdir(parents=True, exist_ok=True)
        import yaml
        (run_dir / "config.yaml").write_text(yaml.safe_dump(to_dict(config), sort_keys=False))

    model, tokenizer = load_policy(cfg)
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else (tokenizer.eos_token_id or 0)
    group = needs.grouped if cfg.data.group_by_prompt is None else cfg.data.group_by_prompt
    t = time.perf_counter()
    if train_data is None:
        train_data = load_data(cfg, tokenizer, cfg.data.train, group=group)
    check_data(objective, train_data.kind, has_scores=train_data[0].scores is not None,
               has_prefs=train_data[0].prefs is not None)
    if eval_data is None and cfg.data.eval:
        eval_data = load_data(cfg, tokenizer, cfg.data.eval, kind=train_data.kind, group=group)
    timings["data"] = time.perf_counter() - t
    if len(train_data) < tr.batch_size:
        raise ValueError(f"the training data has {len(train_data)} examples, fewer than train.batch_size={tr.batch_size}")
    device = accelerator.device
    model.to(device)

    pack_kw = dict(packing=tr.packing, chunk_tokens=tr.chunk_tokens)
    cache_dir = os.path.join(_cache_base(cfg), "logps")

    def table_source(source_model, examples, name, fingerprint, tokens=False):
        t = time.perf_counter()
        table = None
        if accelerator.is_main_process:
            table = precompute_logps(source_model, examples, pad_id, batch_size=tr.micro_batch_size or tr.batch_size,
                                     tokens=tokens, cache_dir=cache_dir, data_fingerprint=fingerprint,
                                     progress=tr.progress, desc=name, **pack_kw)
        accelerator.wait_for_everyone()
        if table is None:  # other processes read what the main one wrote
            table = precompute_logps(source_model, examples, pad_id, tokens=tokens, cache_dir=cache_dir,
                                     data_fingerprint=fingerprint, **pack_kw)
        timings["log-prob tables"] = timings.get("log-prob tables", 0.0) + time.perf_counter() - t
        return TableSource(table, name)

    # the reference
    mode = cfg.reference.mode
    if mode == "auto":
        mode = "none" if not needs.reference else ("copy" if cfg.reference.sync_steps else "cache")
    if needs.reference and mode == "none":
        raise ValueError(f"objective '{objective.name}' needs a reference model; set reference.mode to cache, copy "
                         "or adapter")
    if cfg.reference.sync_steps and mode != "copy":
        raise ValueError("reference.sync_steps (TR-DPO) updates the reference during training, so it needs "
                         "reference.mode=copy")
    ref_model = None
    if mode in ("cache", "copy"):
        from preflab import models
        ref_model = models.load_model(cfg.reference.model, dtype=cfg.model.dtype).to(device) \
            if cfg.reference.model else models.frozen_copy(model)
        ref_model.eval()
    reference = None
    kl = {}
    datasets = {"train": train_data, **({"eval": eval_data} if eval_data is not None else {})}
    if mode == "cache":
        reference = {k: table_source(ref_model, d, f"reference ({k})", d.fingerprint, tokens=needs.ref_tokens)
                     for k, d in datasets.items()}
        if needs.kl_pairs:
            kl = {k: MismatchedKL(d, lambda ex, k=k, d=d: table_source(
                ref_model, ex, f"reference, mismatched pairs ({k})", d.fingerprint + "|kl")) for k, d in datasets.items()}
    elif mode in ("copy", "adapter"):
        live = ModelSource(ref_model, pad_id, **pack_kw) if mode == "copy" else AdapterSource(model, pad_id, **pack_kw)
        reference = {k: live for k in datasets}
        if needs.kl_pairs:
            kl = {k: MismatchedKL(d, lambda ex: live) for k, d in datasets.items()}

    def fixed_models(paths, what):
        from preflab import models
        out = {k: [] for k in datasets}
        for i, path in enumerate(paths):
            fixed = models.load_model(path, dtype=cfg.model.dtype).to(device).eval()
            for k, d in datasets.items():
                out[k].append(table_source(fixed, d, f"{what} {i} ({k})", d.fingerprint))
            del fixed
            gc.collect()
        return out

    extra = fixed_models(cfg.reference.extra, "extra reference")  # split -> list of sources
    opponents = fixed_models(cfg.opponents, "opponent")
    if needs.extra_refs and not cfg.reference.extra:
        raise ValueError(f"objective '{objective.name}' reads further reference models: list them in reference.extra")
    if needs.opponents and not cfg.opponents:
        raise ValueError(f"objective '{objective.name}' plays against opponents: list their models in `opponents`")

    if mode == "cache":
        del ref_model
        ref_model = None
        gc.collect()

    value_head = None
    trainable = [p for p in model.parameters() if p.requires_grad]
    if needs.values:
        value_head = torch.nn.Linear(model.config.hidden_size, 1).to(device)
        torch.nn.init.zeros_(value_head.weight)
        torch.nn.init.zeros_(value_head.bias)
        trainable += list(value_head.parameters())
    optimizer = torch.optim.AdamW(trainable, lr=cfg.optim.lr, betas=tuple(cfg.optim.betas), eps=cfg.optim.eps,
                                  weight_decay=cfg.optim.weight_decay, fused=True)   # one kernel, not a loop
    steps_per_epoch = len(train_data) // tr.batch_size
    total = tr.max_steps if tr.max_steps is not None else math.ceil(steps_per_epoch * tr.epochs)  # as TRL
    warmup = cfg.optim.warmup_steps or int(cfg.optim.warmup_ratio * total)
    from transformers import get_scheduler
    name = {"constant": "constant_with_warmup"}.get(cfg.optim.scheduler, cfg.optim.scheduler)
    scheduler = get_scheduler(name, optimizer, num_warmup_steps=warmup, num_training_steps=max(total, 1))

    sync = None
    if cfg.reference.sync_steps:
        alpha = cfg.reference.sync_alpha

        @torch.no_grad()
        def sync():
            for p_ref, p in zip(ref_model.parameters(), model.parameters()):
                p_ref.mul_(1 - alpha).add_(p.detach(), alpha=alpha)

    if tr.trackers:
        accelerator.init_trackers("preflab", config=_flat_hparams(to_dict(config)))
    return Setup(config=config, accelerator=accelerator, model=model, tokenizer=tokenizer, pad_id=pad_id,
                 train_data=train_data, eval_data=eval_data, objective=objective, needs=needs, trainable=trainable,
                 optimizer=optimizer, scheduler=scheduler, total_steps=total, steps_per_epoch=steps_per_epoch,
                 reference=reference, extra_refs=extra, opponents=opponents, kl=kl, value_head=value_head,
                 sync_reference=sync, ref_model=ref_model, timings=timings)
