"""What ``preflab train`` reads: one dataclass per section, each field a constructor argument.

A YAML file and ``section.key=value`` overrides fill these (``preflab.config.build``); every key and type
is checked before a model loads. ``examples/configs/`` holds tried configs.
"""

from dataclasses import dataclass, field
from typing import Any, Literal, Optional


@dataclass
class ModelConfig:
    name: str = "tiny-llama"           # HF path or Hub name, "smollm2", "tiny-llama" or "tiny-gpt2"
    tokenizer: Optional[str] = None    # default: the model's own (tiny models use SmolLM2's tokenizer)
    dtype: Literal["float32", "bfloat16", "float16"] = "float32"
    tiny: dict = field(default_factory=dict)   # config overrides for tiny-llama / tiny-gpt2
    lora_r: int = 0                    # > 0 trains a LoRA adapter instead of all weights
    lora_alpha: int = 16
    lora_dropout: float = 0.0
    lora_target_modules: Optional[list] = None


@dataclass
class DataConfig:
    train: str = ""
    eval: Optional[str] = None
    split: str = "train"
    kind: Optional[Literal["pairwise", "listwise", "unpaired"]] = None
    max_prompt_length: Optional[int] = 512
    max_completion_length: Optional[int] = 256
    skip_bad_rows: bool = False
    group_by_prompt: Optional[bool] = None   # unpaired rows sharing a prompt as one example (None: when the
                                             # objective contrasts a prompt's responses, as D2O)
    cache_dir: Optional[str] = None    # tokenized data and log-prob tables (default $PREFLAB_CACHE or ~/.cache/preflab)


@dataclass
class ObjectiveConfig:
    name: str = "dpo"                  # any registered objective, or a weighted sum "dpo + 0.2*sft"
    params: dict = field(default_factory=dict)


@dataclass
class ReferenceConfig:
    mode: Literal["auto", "cache", "copy", "adapter", "none"] = "auto"
    model: Optional[str] = None        # default: the initial policy
    extra: list = field(default_factory=list)   # further references (MRPO's second one, Pre-DPO's guide)
    sync_steps: int = 0                # TR-DPO: every n steps, ref <- alpha * policy + (1 - alpha) * ref
    sync_alpha: float = 1.0


@dataclass
class OptimConfig:
    lr: float = 5e-7
    weight_decay: float = 0.0
    betas: tuple = (0.9, 0.999)
    eps: float = 1e-8
    max_grad_norm: Optional[float] = 1.0
    scheduler: Literal["cosine", "linear", "constant"] = "cosine"
    warmup_steps: int = 0
    warmup_ratio: float = 0.0
    extragradient: bool = False        # EGPO: steps in pairs; the first extrapolates, the second applies the gradient
                                       # taken there to the weights and optimizer state from before the pair


@dataclass
class RunConfig:
    batch_size: int = 8                # prompts per optimizer step, across all processes
    micro_batch_size: Optional[int] = None   # prompts per forward pass (default: the whole batch)
    epochs: float = 1.0
    max_steps: Optional[int] = None    # when set, overrides epochs (the data cycles), as in TRL
    seed: int = 0
    packing: bool = True
    precision: Literal["fp32", "bf16"] = "fp32"   # bf16 autocast (GPUs; 8-10x slower on this kind of CPU)
    chunk_tokens: Optional[int] = None
    eval_every: Optional[int] = None
    eval_batches: Optional[int] = None
    save_every: Optional[int] = None
    keep_checkpoints: int = 2
    log_every: int = 1
    output_dir: str = "runs/train"
    resume: Any = False                # False, True (latest checkpoint in output_dir) or a checkpoint path
    trackers: list = field(default_factory=list)  # accelerate trackers: tensorboard, wandb, mlflow
    threads: Optional[int] = None
    progress: bool = True
    save_final: bool = True


@dataclass
class TrainConfig:
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    objective: ObjectiveConfig = field(default_factory=ObjectiveConfig)
    reference: ReferenceConfig = field(default_factory=ReferenceConfig)
    opponents: list = field(default_factory=list)   # models whose log-probs fill opponent_logps
    optim: OptimConfig = field(default_factory=OptimConfig)
    train: RunConfig = field(default_factory=RunConfig)


# Names from TRL and transformers' TrainingArguments, for the "did you mean" of an unknown key.
SYNONYMS = {
    "learning_rate": "optim.lr", "lr_scheduler_type": "optim.scheduler", "max_grad_norm": "optim.max_grad_norm",
    "per_device_train_batch_size": "train.batch_size", "gradient_accumulation_steps": "train.micro_batch_size",
    "num_train_epochs": "train.epochs", "output_dir": "train.output_dir", "beta": "objective.params",
    "loss_type": "objective.name", "max_prompt_length": "data.max_prompt_length",
    "max_completion_length": "data.max_completion_length", "precompute_ref_log_probs": "reference.mode",
    "ref_model": "reference.model", "bf16": "train.precision", "seed": "train.seed", "report_to": "train.trackers",
}
