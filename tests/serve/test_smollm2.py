"""The real SmolLM2-135M-Instruct served: a chat reply, and the server as preflab's LLM judge endpoint."""

import json

import numpy as np
import openai
import pytest

from preflab.oracles import LLMJudge
from preflab.serve.app import create_app
from preflab.serve.local_model import LocalModel, load_local_model
from preflab.serve.runner import ServerThread


@pytest.fixture(scope="module")
def smol_server():
    model, tokenizer, name = load_local_model("smollm2")
    with ServerThread(create_app(LocalModel(model, tokenizer, name=name))) as s:
        yield s


def test_smollm2_answers_a_chat(smol_server):
    from preflab.models.smollm2 import CHAT_PROBE, MANIFEST, ensure_smollm2

    recorded = json.loads((ensure_smollm2() / MANIFEST).read_text())["check"]["gguf_greedy_reply"]
    client = openai.OpenAI(base_url=smol_server.url + "/v1", api_key="x", max_retries=0, timeout=120)
    reply = client.chat.completions.create(model="smollm2", messages=list(CHAT_PROBE), max_tokens=10, temperature=0)
    # the greedy reply the GGUF model gave when it was converted: "The capital of France is Paris."
    assert reply.choices[0].message.content == recorded == "The capital of France is Paris."
    assert reply.choices[0].finish_reason == "stop" and reply.usage.completion_tokens == 7


def test_llm_judge_uses_the_served_model(smol_server):
    judge = LLMJudge("smollm2", base_url=smol_server.url + "/v1", max_tokens=4, concurrency=1, max_retries=0,
                     timeout=120)
    p = judge.compare(["What is 2 + 2?"], ["2 + 2 = 4."], ["2 + 2 = 5."])
    assert p.shape == (1,) and np.isfinite(p[0]) and 0.0 <= p[0] <= 1.0
    assert judge.stats["requests"] == 2                      # both orders judged
    assert judge.stats["from_logprobs"] == 2                 # P(A) read from the served token logprobs
    assert judge.position_bias().n_items == 1
