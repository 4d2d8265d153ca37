"""How long the real SmolLM2-135M-Instruct takes to come back from the converted cache. Not a test.

    .venv/bin/python benchmarks/smollm2_load.py [--repeats 3]

Prints, per repeat, the seconds of ``ensure_smollm2()`` on a converted cache (a check of the manifest, no
conversion; tests/models/test_smollm2.py used to require < 1 s) and of ``load_model("smollm2")`` plus
``load_tokenizer`` (it used to require < 5 s). The first call converts the GGUF if there is no cache yet
(~40 s); that is timed and reported separately. The last line is one JSON object.
"""

import argparse
import json
import os
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

from preflab.models import ensure_smollm2, load_model, load_tokenizer  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    t0 = time.perf_counter()
    folder = ensure_smollm2()
    first = time.perf_counter() - t0
    print(f"first ensure_smollm2(): {first:.2f} s -> {folder}")
    ensure_s, load_s = [], []
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        assert ensure_smollm2() == folder
        ensure_s.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        model, tokenizer = load_model("smollm2"), load_tokenizer("SmolLM2-135M-Instruct")
        load_s.append(time.perf_counter() - t0)
        del model, tokenizer
    print(f"cached ensure_smollm2(): {', '.join(f'{x:.3f}' for x in ensure_s)} s")
    print(f"load_model + load_tokenizer: {', '.join(f'{x:.2f}' for x in load_s)} s")
    print(json.dumps({"first_ensure_s": first, "ensure_s": ensure_s, "load_s": load_s}))


if __name__ == "__main__":
    main()
