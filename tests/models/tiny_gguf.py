"""A tiny Llama GGUF file (float32 tensors, a 32-token vocabulary) written with the gguf package."""

import numpy as np

V, H, F, HEADS, KV_HEADS = 32, 16, 24, 2, 1


def write_tiny_llama_gguf(path, seed=0):
    """Write the file; returns the token embedding [V, H] it holds (stored as is, unlike q/k)."""
    import gguf

    rng = np.random.default_rng(seed)
    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_name("tiny")
    writer.add_context_length(64)
    writer.add_embedding_length(H)
    writer.add_block_count(1)
    writer.add_feed_forward_length(F)
    writer.add_head_count(HEADS)
    writer.add_head_count_kv(KV_HEADS)
    writer.add_layer_norm_rms_eps(1e-5)
    writer.add_rope_freq_base(10000.0)
    writer.add_rope_dimension_count(H // HEADS)
    writer.add_vocab_size(V)
    writer.add_tokenizer_model("gpt2")
    writer.add_token_list([f"t{i}" for i in range(V)])
    writer.add_token_types([1] * V)
    writer.add_token_scores([0.0] * V)
    writer.add_token_merges([])
    writer.add_bos_token_id(1)
    writer.add_eos_token_id(2)
    tensors = {"token_embd.weight": (V, H), "output_norm.weight": (H,)}
    kv = H // HEADS * KV_HEADS
    for name, shape in {"attn_norm": (H,), "ffn_norm": (H,), "attn_q": (H, H), "attn_k": (kv, H), "attn_v": (kv, H),
                        "attn_output": (H, H), "ffn_gate": (F, H), "ffn_up": (F, H), "ffn_down": (H, F)}.items():
        tensors[f"blk.0.{name}.weight"] = shape
    values = {name: (rng.standard_normal(shape) * 0.1).astype(np.float32) for name, shape in tensors.items()}
    for name, value in values.items():
        writer.add_tensor(name, value)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return values["token_embd.weight"]
