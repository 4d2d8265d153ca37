"""Checkpoints that a kill -9 cannot corrupt, and resuming that continues bit for bit.

A checkpoint is written to a temporary folder and renamed into place (``os.replace`` is atomic), so the
newest ``checkpoints/step-N`` is always whole. It holds the trainable weights, the optimizer, the
schedule, every random generator, the objective's state (BCO's running mean), the value head and a
TR-DPO reference; the data order is a function of the seed and the step, so nothing else is needed.
"""

from __future__ import annotations

import json
import os
import random
import shutil
from pathlib import Path
from typing import Optional

import numpy as np
import torch

__all__ = ["save", "latest", "resume", "save_final"]


def _dir(run_dir: Path) -> Path:
    return Path(run_dir) / "checkpoints"


def latest(run_dir) -> Optional[Path]:
    found = sorted(p for p in _dir(run_dir).glob("step-*") if p.is_dir())
    return found[-1] if found else None


def _state(trainer) -> dict:
    s = trainer.s
    state = {
        "weights": {n: p.detach().cpu().clone() for n, p in s.model.named_parameters() if p.requires_grad},
        "optimizer": s.optimizer.state_dict(),
        "scheduler": s.scheduler.state_dict(),
        "rng": {"torch": torch.get_rng_state(), "python": random.getstate(), "numpy": np.random.get_state(),
                "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None},
    }
    obj_state = getattr(s.objective, "state", None)
    if obj_state is not None:
        state["objective"] = obj_state.state_dict()
    if s.value_head is not None:
        state["value_head"] = s.value_head.state_dict()
    if s.sync_reference is not None:
        state["reference"] = {k: v.cpu() for k, v in s.ref_model.state_dict().items()}
    if getattr(trainer, "saved", None) is not None:
        state["extragradient_saved"] = trainer.saved
    return state


def save(trainer, step: int) -> Path:
    """Save the state after ``step`` completed steps; returns the checkpoint folder."""
    s = trainer.s
    final = _dir(trainer.run_dir) / f"step-{step:08d}"
    if s.is_main:
        tmp = _dir(trainer.run_dir) / f".tmp-step-{step:08d}-{os.getpid()}"
        tmp.mkdir(parents=True, exist_ok=True)
        torch.save(_state(trainer), tmp / "state.pt")
        (tmp / "trainer.json").write_text(json.dumps({"step": step}))
        if final.exists():
            shutil.rmtree(final)
        os.replace(tmp, final)
        keep = max(1, trainer.config.train.keep_checkpoints)
        for old in sorted(p for p in _dir(trainer.run_dir).glob("step-*") if p.is_dir())[:-keep]:
            shutil.rmtree(old, ignore_errors=True)
    s.accelerator.wait_for_everyone()
    return final


def resume(trainer) -> int:
    """Load the checkpoint ``train.resume`` names (True: the newest in the run folder); returns the number
    of completed steps (0 when there is nothing to resume)."""
    s, which = trainer.s, trainer.config.train.resume
    path = latest(trainer.run_dir) if which is True else Path(which)
    if path is None:
        return 0
    if not (path / "state.pt").exists():
        raise FileNotFoundError(f"no checkpoint at {path} (expected {path / 'state.pt'})")
    state = torch.load(path / "state.pt", weights_only=False)
    params = dict(s.model.named_parameters())
    missing = [n for n, p in params.items() if p.requires_grad and n not in state["weights"]]
    if missing:
        raise ValueError(f"checkpoint {path} does not match this model: {len(missing)} trainable weights missing, "
                         f"e.g. {missing[0]}")
    with torch.no_grad():
        for n, w in state["weights"].items():
            params[n].copy_(w)
    s.optimizer.load_state_dict(state["optimizer"])
    s.scheduler.load_state_dict(state["scheduler"])
    rng = state["rng"]
    torch.set_rng_state(rng["torch"])
    random.setstate(rng["python"])
    np.random.set_state(rng["numpy"])
    if rng["cuda"] is not None and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(rng["cuda"])
    if "objective" in state:
        s.objective.state.load_state_dict(state["objective"])
    if "value_head" in state:
        s.value_head.load_state_dict(state["value_head"])
    if "reference" in state:
        s.ref_model.load_state_dict(state["reference"])
    trainer.saved = state.get("extragradient_saved")
    return json.loads((path / "trainer.json").read_text())["step"]


def save_final(trainer) -> Path:
    """``save_pretrained`` of the trained model (the adapter alone for LoRA) and the tokenizer."""
    s = trainer.s
    out = Path(trainer.run_dir) / "final"
    if s.is_main:
        s.model.save_pretrained(out)
        s.tokenizer.save_pretrained(out)
        if s.value_head is not None:
            torch.save(s.value_head.state_dict(), out / "value_head.pt")
    s.accelerator.wait_for_everyone()
    return out
