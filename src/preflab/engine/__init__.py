"""(model, batch) -> log-probabilities, fast: each prompt once, logits only where completions are scored,
a chunked log-softmax, packing without padding, and a cache of reference log-probs."""

from .cache import LogpTable, fit_dim, model_fingerprint, precompute_logps
from .fused_logprobs import default_chunk_tokens, token_logprobs
from .logprobs import LogProbs, compute_logprobs, logprobs_for, naive_logprobs
from .packing import PackedBatch, pack, plan_rows

__all__ = ["LogProbs", "PackedBatch", "pack", "plan_rows", "compute_logprobs", "naive_logprobs", "logprobs_for",
           "token_logprobs", "default_chunk_tokens", "LogpTable", "precompute_logps", "model_fingerprint", "fit_dim"]
