"""Write examples/data/tiny_prefs.jsonl: 96 small preference pairs with an obvious rule (the chosen answer
is correct and polite, the rejected one wrong or rude), in TRL's standard paired format.

    python examples/data/make_tiny_prefs.py
"""

import json
import random
from pathlib import Path


def rows(n: int = 96, seed: int = 0):
    rng = random.Random(seed)
    for i in range(n):
        a, b = rng.randint(2, 40), rng.randint(2, 40)
        kind = i % 3
        if kind == 0:
            prompt = f"What is {a} plus {b}?"
            chosen, rejected = f"{a} plus {b} is {a + b}.", f"{a} plus {b} is {a + b + rng.randint(1, 9)}."
        elif kind == 1:
            big, small = max(a, b) + 1, min(a, b)
            prompt = f"Which is larger, {big} or {small}?"
            chosen, rejected = f"{big} is larger than {small}.", f"{small} is larger than {big}."
        else:
            prompt = f"Say something kind about the number {a}."
            chosen, rejected = f"{a} is a fine number, thank you for asking.", f"{a} is a boring number, go away."
        yield {"prompt": prompt, "chosen": " " + chosen, "rejected": " " + rejected}


if __name__ == "__main__":
    out = Path(__file__).with_name("tiny_prefs.jsonl")
    out.write_text("".join(json.dumps(r) + "\n" for r in rows()))
    print(f"wrote {out}")
