"""The LLM proposer: DiscoPOP's loop over any OpenAI-compatible chat endpoint.

As in Lu et al. (arXiv 2406.08414, Sec. 3 and their released prompts): the system prompt explains the task
and the function's signature; every turn asks for a JSON object with a ``thought``, a ``name`` and the
``code``; the conversation replays the archive (each earlier proposal as the assistant's reply, followed by
its fitness, or by its error with a request to fix it), so a broken candidate's error reaches the model in
the very next request and the next proposal is its retry. Replies are parsed tolerantly (code fences,
prose around the JSON, raw newlines inside strings, a bare python block).

>>> parse_reply('Sure!\\n```json\\n{"thought": "t", "name": "n", "code": "def n(batch, beta):\\n    return 0"}\\n```')
{'thought': 't', 'name': 'n', 'code': 'def n(batch, beta):\\n    return 0'}
"""

from __future__ import annotations

import json
import re
from typing import Optional, Sequence

from preflab.discover.proposal import Proposal

__all__ = ["LLMProposer", "SYSTEM_PROMPT", "parse_reply", "feedback"]

SYSTEM_PROMPT = """You are a machine learning researcher who is testing out different offline preference \
optimization loss functions. When you respond, output a JSON object where the first key ("thought") is your \
thought process when designing the next function, the second key ("name") is the name of your next function \
(a Python identifier), and the last key ("code") is the exact Python code you would like to try. Here is an \
example:

{"thought": "Based on the previous outputs, I should try the direct preference optimization algorithm.",
 "name": "dpo",
 "code": "import torch.nn.functional as F\\n\\n\\ndef dpo(batch, beta: float):\\n    rho_w = batch.policy_logps[:, 0] - batch.ref_logps[:, 0]\\n    rho_l = batch.policy_logps[:, 1] - batch.ref_logps[:, 1]\\n    return -F.logsigmoid(beta * (rho_w - rho_l))\\n"}

The code defines exactly one top-level function `name(batch, beta)`. `batch.policy_logps` and \
`batch.ref_logps` are float tensors of shape [B, 2]: summed log-probabilities of the chosen (column 0) and \
the rejected (column 1) response under the policy and the reference model. It returns the per-example \
losses, a tensor of shape [B], finite, with finite gradients, lower for a larger margin. Only `torch`, \
`math` and `torch.nn.functional as F` may be imported; no files, network, processes or environment.

You are deeply familiar with the preference-optimization literature (DPO, IPO, SLiC, KTO, DiscoPOP). Be \
creative and reference prior work when appropriate. Each proposal is scored on exact preference games (the \
trained policy's win rate against the reference, its KL to the reference, its duality gap to the regularized \
Nash equilibrium) and on a tiny language model's reward-KL frontier; higher fitness is better."""

NEXT = "Please generate the next one."


def parse_reply(text: str) -> Optional[dict]:
    """``{"thought", "name", "code"}`` from a model's reply, or None when it holds no code."""
    body = text.strip()
    fence = re.search(r"```(?:json)?\s*(\{.*\})\s*```", body, re.S)
    candidates = [fence.group(1)] if fence else []
    start, end = body.find("{"), body.rfind("}")
    if start >= 0 and end > start:
        candidates.append(body[start:end + 1])
    for chunk in candidates:
        try:
            obj = json.loads(chunk, strict=False)
        except json.JSONDecodeError:
            continue
        if isinstance(obj, dict) and isinstance(obj.get("code"), str):
            name = obj.get("name") if isinstance(obj.get("name"), str) else None
            return {"thought": str(obj.get("thought", "")), "name": name or _def_name(obj["code"]),
                    "code": obj["code"]}
    block = re.search(r"```(?:python)?\s*\n(.*?def .*?)```", body, re.S)
    if block:
        return {"thought": body[:block.start()].strip(), "name": _def_name(block.group(1)), "code": block.group(1)}
    return None


def _def_name(code: str) -> str:
    m = re.search(r"^def\s+([A-Za-z_]\w*)", code, re.M)
    return m.group(1) if m else "candidate"


def feedback(record) -> str:
    """The user turn that follows a proposal: its fitness, or its error and a request to fix it."""
    if record.errors:
        stage, reason, message = record.errors[-1]
        return (f"Code not valid ({reason} at the {stage} stage): {message}\n"
                f"Please fix the code and try again. {NEXT}")
    if not record.fitness:
        return f"This candidate was not scored. {NEXT}"
    parts = []
    for fidelity, value in record.fitness.items():
        m = record.metrics.get(fidelity, {})
        extra = ", ".join(f"{k} {v:.4f}" for k, v in m.items() if isinstance(v, (int, float)) and k != "fitness")
        parts.append(f"fitness on {fidelity}: {value:.4f}" + (f" ({extra})" if extra else ""))
    return "Code ran successfully. " + "; ".join(parts) + f". {NEXT}"


class LLMProposer:
    """Ask an OpenAI-compatible endpoint (``base_url``, e.g. ``http://127.0.0.1:8000/v1``) for candidates.

    ``history`` (archive records, oldest first; the last ``max_history`` are replayed) builds the
    conversation. One request per proposal; ``batch = 1`` tells the search to score each before the next,
    so errors are fed back at once."""

    name = "llm"
    batch = 1

    def __init__(self, base_url: str, model: str, api_key: Optional[str] = None, temperature: float = 1.0,
                 max_history: int = 20, timeout: float = 120.0, max_tokens: int = 2048, client=None):
        if client is None:
            from openai import OpenAI
            client = OpenAI(base_url=base_url, api_key=api_key or "not-needed", timeout=timeout, max_retries=2)
        self.client, self.model, self.temperature, self.max_history = client, model, temperature, max_history
        self.max_tokens = max_tokens

    def messages(self, history: Sequence) -> list:
        msgs = [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": NEXT}]
        for r in list(history)[-self.max_history:]:
            reply = r.meta.get("reply") or json.dumps({"thought": r.thought, "name": r.name, "code": r.code})
            msgs.append({"role": "assistant", "content": reply})
            msgs.append({"role": "user", "content": feedback(r)})
        return msgs

    def propose(self, history: Sequence, n: int, generation: int) -> list:
        out = []
        for _ in range(max(1, min(n, self.batch))):
            from openai import OpenAIError
            try:
                resp = self.client.chat.completions.create(model=self.model, messages=self.messages(history),
                                                           temperature=self.temperature,
                                                           max_tokens=self.max_tokens)
            except OpenAIError as err:
                raise ValueError(f"LLM proposer: the endpoint {self.client.base_url} failed ({err}); check "
                                 "--endpoint and --model, or that the server is running") from err
            text = resp.choices[0].message.content or ""
            parsed = parse_reply(text)
            if parsed is None:
                out.append(Proposal(code=text, name="unparsed", proposer=self.name, meta={"reply": text},
                                    error="the reply holds no JSON object with a \"code\" string and no python block"))
                continue
            name = parsed["name"] if parsed["name"].isidentifier() else _def_name(parsed["code"])
            out.append(Proposal(code=parsed["code"], name=name, proposer=self.name, thought=parsed["thought"],
                                meta={"reply": text}))
        return out
