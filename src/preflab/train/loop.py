"""The training loop: read it top to bottom.

    setup -> for each step: fetch the batch, (micro-batches: log-probs -> ScoreBatch -> objective -> backward),
             average gradients across processes, guard against NaN, clip, step, log, maybe evaluate / save
          -> save the final model

The global batch (``train.batch_size`` prompts) is split over processes and then into micro-batches;
each micro-batch's loss is weighted by its share of the global batch, so the loss and the gradients do
not depend on how the batch is split (for objectives whose loss is a mean over examples). Gradients are
averaged across processes explicitly, after the local accumulation.
"""

from __future__ import annotations

import copy
import json
import math
import time
from dataclasses import dataclass
from pathlib import Path

import torch

from preflab.engine import compute_logprobs, logprobs_for, pack
from preflab.errors import PreflabError

from . import checkpoint
from .batches import score_batch
from .config import TrainConfig
from .setup import Setup, build_setup

__all__ = ["train", "TrainingDiverged", "Trainer"]


class TrainingDiverged(PreflabError, RuntimeError):
    """The loss or the gradient norm became NaN or infinite; the message names the step and the checkpoint."""


@dataclass
class StepResult:
    loss: float
    metrics: dict
    grad_norm: float
    examples: int
    tokens: int


class Trainer:
    """Holds what one run needs; ``run()`` is the loop. Built by ``train(config)``."""

    def __init__(self, config: TrainConfig, setup: Setup):
        self.config, self.s = config, setup
        self.run_dir = Path(config.train.output_dir)
        self.saved = None                  # the extragradient pair's saved state (optim.extragradient)

    # -- one optimizer step -------------------------------------------------------------------------
    def batch_indices(self, step: int) -> list[int]:
        """The dataset indices of the global batch of ``step`` (0-based): a fresh permutation per epoch."""
        bs, n = self.config.train.batch_size, len(self.s.train_data)
        per_epoch = n // bs
        epoch, within = divmod(step, per_epoch)
        g = torch.Generator().manual_seed(self.config.train.seed * 1_000_003 + epoch)
        order = torch.randperm(n, generator=g)
        return order[within * bs:(within + 1) * bs].tolist()

    def local_examples(self, indices: list[int], data) -> list:
        """This process's share of a global batch (contiguous slices, equal sizes)."""
        world, rank = self.s.world_size, self.s.rank
        share = len(indices) // world
        return [data[i] for i in indices[rank * share:(rank + 1) * share]]

    def scored(self, examples, train: bool = True):
        """The objective's output on ``examples`` (the policy's log-probs carry gradients unless the caller
        is under no_grad) and the number of tokens the policy ran."""
        s, n = self.s, self.s.needs
        K = max(len(e.completion_ids) for e in examples)
        packed = pack(examples, s.pad_id, packing=self.config.train.packing)
        with s.autocast():
            policy = compute_logprobs(s.model, packed, tokens=n.tokens or n.sq_mass, sq_mass=n.sq_mass,
                                      prompt_hidden=n.values, chunk_tokens=self.config.train.chunk_tokens)
        T = policy.tokens.shape[2] if policy.tokens is not None else 1
        split = "train" if train else "eval"
        kw = {}
        if s.reference is not None:
            kw["ref"] = s.reference[split].logps(examples, K, T, tokens=n.ref_tokens, device=s.device)
        kw["extra_refs"] = [src.logps(examples, K, T, device=s.device) for src in s.extra_refs[split]]
        kw["opponents"] = [src.logps(examples, K, T, device=s.device) for src in s.opponents[split]]
        if n.kl_pairs:
            pairs = s.kl[split]
            mismatched = [pairs.partner(e) for e in examples]
            with torch.no_grad():
                kl_policy = logprobs_for(s.model, mismatched, s.pad_id, packing=self.config.train.packing).sums[:, 0]
            kl_ref = pairs.reference.logps(mismatched, 1, 1, device=s.device).sums[:, 0]
            kw["kl"] = (kl_policy, kl_ref)
        if n.values:
            kw["values"] = s.value_head(policy.prompt_hidden.float())[:, 0]
        out = s.objective(score_batch(examples, policy, **kw))
        return out, sum(len(e.prompt_ids) + sum(map(len, e.completion_ids)) for e in examples)

    def accumulate(self, step: int) -> tuple[float, dict, int, int]:
        """Gradients of the global batch of ``step`` in ``.grad`` (averaged over processes); returns the
        loss, the metrics, and this process's example and token counts."""
        s, cfg = self.s, self.config.train
        examples = self.local_examples(self.batch_indices(step), s.train_data)
        micro = cfg.micro_batch_size or len(examples)
        s.optimizer.zero_grad(set_to_none=True)
        total_loss, metrics, tokens = 0.0, {}, 0
        for start in range(0, len(examples), micro):
            chunk = examples[start:start + micro]
            out, n_tok = self.scored(chunk)
            weight = len(chunk) / len(examples)
            (out.loss * weight).backward()
            total_loss += out.loss.item() * weight
            tokens += n_tok
            for k, v in out.metrics.items():
                metrics[k] = metrics.get(k, 0.0) + float(v) * weight
        s.all_reduce_gradients()
        return s.mean_across_processes(total_loss), metrics, len(examples), tokens

    def step(self, step: int) -> StepResult:
        s = self.s
        loss, metrics, n_examples, tokens = self.accumulate(step)
        grad_norm = self.clip_gradients()
        if not (math.isfinite(loss) and math.isfinite(grad_norm)):
            self.diverged(step, loss, grad_norm)
        if self.config.optim.extragradient:
            self.extragradient(step)
        s.optimizer.step()
        s.scheduler.step()
        if s.sync_reference is not None and (step + 1) % self.config.reference.sync_steps == 0:
            s.sync_reference()
        return StepResult(loss, metrics, grad_norm, n_examples * s.world_size, tokens * s.world_size)

    def extragradient(self, step: int) -> None:
        """EGPO's extragradient, as ``zhourunlong/EGPO``'s trainer runs it: steps come in pairs. Before the
        first (even step) the weights and the optimizer state are saved and the step goes to the extrapolated
        point; the second (odd step) computed its gradient there, so the saved weights and optimizer state
        are put back before that gradient is applied. Net effect of a pair: one optimizer step from w_t with
        the gradient at w_t - lr g(w_t). The saved state travels in checkpoints (``extragradient_saved``)."""
        s = self.s
        if step % 2 == 0:
            self.saved = {"weights": [p.detach().clone() for p in s.trainable],
                          "optimizer": copy.deepcopy(s.optimizer.state_dict())}
        else:
            if self.saved is None:
                raise RuntimeError(f"extragradient step {step + 1}: no saved state from step {step} to restore")
            with torch.no_grad():
                for p, w in zip(s.trainable, self.saved["weights"]):
                    p.copy_(w)
            s.optimizer.load_state_dict(self.saved["optimizer"])
            self.saved = None

    def clip_gradients(self) -> float:
        params = [p for p in self.s.trainable if p.grad is not None]
        max_norm = self.config.optim.max_grad_norm
        norm = torch.nn.utils.clip_grad_norm_(params, max_norm if max_norm else float("inf"))
        return float(norm)

    def diverged(self, step: int, loss: float, grad_norm: float):
        """Stop before the bad update: the weights are still those after the previous step, so save them."""
        where = checkpoint.save(self, step) if step > self.start_step else checkpoint.latest(self.run_dir)
        raise TrainingDiverged(
            f"step {step + 1}: loss {loss} / gradient norm {grad_norm} is not finite; stopped before the update. "
            f"The last good state is saved at {where}. Lower the learning rate, check the data for empty or "
            "huge completions, or use a bounded objective (e.g. ipo or hinge)")

    # -- evaluation ------------------------------------------------------------------------------------
    @torch.no_grad()
    def evaluate(self) -> dict:
        s, cfg = self.s, self.config.train
        if s.eval_data is None:
            return {}
        s.model.eval()
        totals, count = {}, 0
        bs = cfg.micro_batch_size or cfg.batch_size
        limit = len(s.eval_data) if cfg.eval_batches is None else min(len(s.eval_data), cfg.eval_batches * bs)
        state = getattr(s.objective, "state", None)
        if state is not None:
            state.frozen = True
        for start in range(0, limit, bs):
            chunk = [s.eval_data[i] for i in range(start, min(start + bs, limit))]
            out, _ = self.scored(chunk, train=False)
            totals["loss"] = totals.get("loss", 0.0) + out.loss.item() * len(chunk)
            for k, v in out.metrics.items():
                totals[k] = totals.get(k, 0.0) + float(v) * len(chunk)
            count += len(chunk)
        if state is not None:
            state.frozen = False
        s.model.train()
        return {f"eval/{k}": v / count for k, v in totals.items()}

    # -- the loop --------------------------------------------------------------------------------------
    def run(self) -> Path:
        s, cfg = self.s, self.config.train
        self.start_step = checkpoint.resume(self) if cfg.resume else 0
        s.model.train()
        log = open(self.run_dir / "metrics.jsonl", "a") if s.is_main else None
        bar = None
        if cfg.progress and s.is_main:
            from tqdm.auto import tqdm
            bar = tqdm(total=s.total_steps, initial=self.start_step, desc="train", unit="step")
        t0 = time.perf_counter()
        for step in range(self.start_step, s.total_steps):
            t = time.perf_counter()
            r = self.step(step)
            dt = time.perf_counter() - t
            row = {"step": step + 1, "epoch": round((step + 1) / s.steps_per_epoch, 4), "loss": r.loss,
                   "grad_norm": r.grad_norm, "learning_rate": s.scheduler.get_last_lr()[0],
                   "examples_per_s": r.examples / dt, "tokens_per_s": r.tokens / dt, **r.metrics}
            if cfg.eval_every and (step + 1) % cfg.eval_every == 0:
                row.update(self.evaluate())
            if s.is_main and ((step + 1) % cfg.log_every == 0 or step + 1 == s.total_steps):
                log.write(json.dumps(row) + "\n")
                log.flush()
                s.log_trackers(row, step + 1)
            if bar is not None:
                bar.update(1)
                bar.set_postfix(loss=f"{r.loss:.4f}", ex_s=f"{r.examples / dt:.2f}")
            if cfg.save_every and (step + 1) % cfg.save_every == 0 and step + 1 < s.total_steps:
                checkpoint.save(self, step + 1)
        if bar is not None:
            bar.close()
        if log is not None:
            log.close()
        if cfg.eval_every or s.eval_data is not None:
            final_eval = self.evaluate()
            if s.is_main and final_eval:
                (self.run_dir / "eval.json").write_text(json.dumps(final_eval, indent=2))
        if cfg.save_final:
            checkpoint.save_final(self)
        s.finish(time.perf_counter() - t0)
        return self.run_dir


def objective_of(config: TrainConfig):
    """The configured objective: a registry name (or a weighted sum of names), or ``file:<path.py>:<function>``,
    a loss written to a file (e.g. exported by ``preflab discover``; its code runs in this process)."""
    from preflab.discover.export import get_objective_or_file    # registry names pass straight through

    return get_objective_or_file(config.objective.name, **config.objective.params)


def train(config: TrainConfig, train_data=None, eval_data=None) -> Path:
    """Train a policy as ``config`` says; returns the run folder (config, metrics.jsonl, checkpoints, final).
    ``train_data`` / ``eval_data`` (PreferenceDatasets built in memory) replace ``data.train`` / ``data.eval``."""
    objective = objective_of(config)
    setup = build_setup(config, objective, train_data, eval_data)
    return Trainer(config, setup).run()
