"""`preflab serve` flags: the app it builds (served here in a thread instead of the foreground) and its errors."""

import json

import httpx
import openai
import pytest

import preflab.serve.runner as runner
from preflab.cli import main
from preflab.serve.runner import ServerThread


@pytest.fixture
def captured(monkeypatch):
    """Replace the foreground server by a recorder of what `preflab serve` would serve."""
    seen = {}

    def record(app, host, port, *, log_level, on_ready=None):
        seen.update(app=app, host=host, port=port, log_level=log_level)
        on_ready(f"http://{host}:{port}")

    monkeypatch.setattr(runner, "serve_forever", record)
    return seen


def test_serve_a_checkpoint_with_api_key_and_voting(captured, tiny_lm, tmp_path, capsys):
    from preflab.serve.local_model import SamplingParams

    checkpoint = tmp_path / "policy"
    tiny_lm.model.save_pretrained(checkpoint)
    tiny_lm.tokenizer.save_pretrained(checkpoint)
    pairs = tmp_path / "pairs.jsonl"
    pairs.write_text(json.dumps({"prompt": "q", "responses": {"x": "1", "y": "2"}}) + "\n")
    db = tmp_path / "votes.db"
    assert main(["serve", "--model", str(checkpoint), "--served-name", "policy", "--port", "0", "--api-key", "k",
                 "--pairs", str(pairs), "--db", str(db), "--vote-token", "v", "--log-level", "warning"]) == 0
    err = capsys.readouterr().err
    assert (captured["host"], captured["port"]) == ("127.0.0.1", 0)           # loopback by default
    assert "model 'policy' at http://127.0.0.1:0/v1" in err and "voting page at http://127.0.0.1:0/arena" in err
    with ServerThread(captured["app"]) as s:
        client = openai.OpenAI(base_url=s.url + "/v1", api_key="k", max_retries=0)
        reply = client.chat.completions.create(model="policy", messages=[{"role": "user", "content": "Hi"}],
                                               max_tokens=5, temperature=0)
        # the saved checkpoint answers as the model it was saved from

        [expected] = tiny_lm.generate(tiny_lm.encode_chat([{"role": "user", "content": "Hi"}]),
                                      SamplingParams(max_tokens=5, temperature=0.0))
        assert reply.choices[0].message.content == expected.text
        assert httpx.get(s.url + "/v1/models").status_code == 401
        ballot = httpx.get(s.url + "/arena/pair").json()
        voted = httpx.post(s.url + "/arena/vote", json={"id": ballot["id"], "vote": "tie"},
                           headers={"Authorization": "Bearer v"})
        assert voted.status_code == 200
    from preflab.arena.store import Store

    with Store(db) as store:
        assert [b.winner for b in store.battles()] == ["tie"]


def test_tiny_is_the_seeded_tiny_llama_over_smollm2s_tokenizer(tiny_lm):
    import torch

    from preflab.serve.local_model import load_local_model

    model, tokenizer, name = load_local_model("tiny", seed=0)
    assert name == "tiny" and len(tokenizer) == 49152 and tokenizer.chat_template == tiny_lm.tokenizer.chat_template
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), tiny_lm.model.state_dict().values()))


def test_a_voting_token_is_made_when_none_is_given(captured, tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("PREFLAB_VOTE_TOKEN", raising=False)
    pairs = tmp_path / "pairs.jsonl"
    pairs.write_text(json.dumps({"prompt": "q", "responses": {"x": "1", "y": "2"}}) + "\n")
    assert main(["serve", "--model", "none", "--pairs", str(pairs), "--db", str(tmp_path / "a.db")]) == 0
    token = capsys.readouterr().err.split("voting token (none was given): ")[1].split()[0]
    assert len(token) == 16
    with ServerThread(captured["app"]) as s:
        ballot = httpx.get(s.url + "/arena/pair").json()
        assert httpx.post(s.url + "/arena/vote", json={"id": ballot["id"], "vote": "A", "token": token}).status_code \
            == 200
        assert httpx.get(s.url + "/v1/models").json() == {"object": "list", "data": []}


@pytest.mark.parametrize("argv, message", [
    (["--port", "70000"], "--port 70000 is not a port number"),
    (["--pairs", "{tmp}/missing.jsonl"], "missing.jsonl does not exist"),
    (["--pairs", "{tmp}/bad.jsonl"], "bad.jsonl:2: key 'responses' has 1 model ('x')"),
    (["--model", "{tmp}/no-model"], "is a folder without config.json"),
    (["--model", "tiny", "--dtype", "float8"], "unknown dtype 'float8'"),
])
def test_bad_flags_exit_2_with_a_message(captured, tmp_path, capsys, argv, message):
    (tmp_path / "bad.jsonl").write_text('{"prompt": "q", "responses": {"x": "1", "y": "2"}}\n'
                                        '{"prompt": "q", "responses": {"x": "1"}}\n')
    (tmp_path / "no-model").mkdir()
    argv = [a.replace("{tmp}", str(tmp_path)) for a in argv]
    assert main(["serve", "--db", str(tmp_path / "a.db"), *argv]) == 2
    err = capsys.readouterr().err
    last = err.strip().splitlines()[-1]
    assert last.startswith("preflab serve: error: ") and message in last
    assert "app" not in captured
