"""The LLM proposer against a scripted local OpenAI-compatible endpoint: errors are fed back next turn."""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from preflab.discover.archive import Archive
from preflab.discover.llm_proposer import parse_reply
from preflab.discover.search import DiscoverConfig, discover

BROKEN = {"thought": "a mean loss", "name": "mean_dpo",
          "code": "import torch.nn.functional as F\n\n\ndef mean_dpo(batch, beta):\n"
                  "    rho = batch.policy_logps[:, 0] - batch.policy_logps[:, 1]\n    return -F.logsigmoid(beta * rho).mean()\n"}
GOOD = {"thought": "fix: per-example", "name": "fixed_dpo",
        "code": "import torch.nn.functional as F\n\n\ndef fixed_dpo(batch, beta):\n"
                "    rho = (batch.policy_logps[:, 0] - batch.ref_logps[:, 0]) - (batch.policy_logps[:, 1] - batch.ref_logps[:, 1])\n"
                "    return -F.logsigmoid(beta * rho)\n"}
REPLIES = [json.dumps(BROKEN), "Here it is:\n```json\n" + json.dumps(GOOD) + "\n```", "I have no more ideas."]


@pytest.fixture
def endpoint():
    calls = []

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_POST(self):
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            calls.append(body)
            text = REPLIES[min(len(calls) - 1, len(REPLIES) - 1)]
            data = json.dumps({"id": "x", "object": "chat.completion", "created": 0, "model": body["model"],
                               "choices": [{"index": 0, "finish_reason": "stop",
                                            "message": {"role": "assistant", "content": text}}],
                               "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1", calls
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_parse_reply_is_tolerant():
    assert parse_reply("```python\ndef f(batch, beta):\n    return beta\n```")["name"] == "f"
    assert parse_reply('{"thought": "t", "name": "n", "code": "def n(batch, beta):\n    return 1"}')["code"].startswith("def n")
    assert parse_reply("nothing here") is None


def test_llm_loop_feeds_errors_back(endpoint, tmp_path):
    url, calls = endpoint
    cfg = DiscoverConfig(proposer="llm", endpoint=url, model="scripted", budget=3, out=str(tmp_path), workers=1,
                         progress=False)
    discover(cfg, log=lambda m: None)
    assert len(calls) == 3 and all(c["model"] == "scripted" for c in calls)
    second = calls[1]["messages"]
    assert second[0]["role"] == "system" and "JSON" in second[0]["content"]
    assert second[-2] == {"role": "assistant", "content": json.dumps(BROKEN)}
    assert "Code not valid (invalid at the games stage): shape:" in second[-1]["content"]
    assert "Please fix the code" in second[-1]["content"]
    assert calls[2]["messages"][-1]["content"].startswith("Code ran successfully. fitness on games:")
    with Archive(tmp_path / "archive.db") as db:
        recs = db.records()
    assert [r.name for r in recs] == ["mean_dpo", "fixed_dpo", "unparsed"]
    assert [r.errors[-1][1] if r.errors else None for r in recs] == ["invalid", None, "parse"]
    assert recs[1].thought == "fix: per-example" and "games" in recs[1].fitness


def test_llm_proposer_against_preflab_serve():
    """The wire protocol against `preflab serve` (a random tiny model: its reply holds no code, which the
    proposer records as a parse error rather than failing)."""
    serve = pytest.importorskip("preflab.serve.app")
    from fastapi.testclient import TestClient
    from openai import OpenAI

    from preflab.discover.llm_proposer import LLMProposer
    from preflab.serve.local_model import LocalModel, load_local_model

    model, tokenizer, name = load_local_model("tiny", seed=0)
    with TestClient(serve.create_app(LocalModel(model, tokenizer, name=name))) as http:
        client = OpenAI(base_url="http://testserver/v1", api_key="none", http_client=http)
        (p,) = LLMProposer("http://testserver/v1", name, client=client, max_tokens=8).propose([], 1, 0)
    assert p.proposer == "llm" and p.name == "unparsed" and p.error.startswith("the reply holds no JSON object")
    assert p.code == p.meta["reply"] and len(p.code) > 0
