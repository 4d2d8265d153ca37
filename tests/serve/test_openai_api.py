"""The OpenAI-compatible server against the ``openai`` client, on a live server (127.0.0.1, a free port)."""

import json

import httpx
import openai
import pytest
import torch

from preflab.serve.app import create_app
from preflab.serve.runner import ServerThread

MESSAGES = [{"role": "user", "content": "Name a colour."}]


@pytest.fixture(scope="module")
def server(tiny_lm):
    with ServerThread(create_app(tiny_lm, seed=0)) as s:
        yield s


@pytest.fixture(scope="module")
def client(server):
    return openai.OpenAI(base_url=server.url + "/v1", api_key="unused", max_retries=0, timeout=60)


def greedy(lm, prompt_ids, n):
    """The text of ``n`` greedy tokens straight from ``model.generate`` (EOS ends it), and the token ids."""
    ids = torch.tensor([prompt_ids])
    with torch.no_grad():
        out = lm.model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), do_sample=False,
                                max_new_tokens=n, eos_token_id=lm.eos_ids, pad_token_id=lm.pad_id)
    new = out[0, ids.shape[1]:].tolist()
    new = new[:next((i for i, t in enumerate(new) if t in lm.eos_ids), len(new))]
    return lm.tokenizer.decode(new, skip_special_tokens=True), new


def test_chat_greedy_is_model_generate(client, tiny_lm):
    prompt_ids = tiny_lm.tokenizer(tiny_lm.tokenizer.apply_chat_template(MESSAGES, tokenize=False,
                                                                         add_generation_prompt=True),
                                   add_special_tokens=False)["input_ids"]
    text, ids = greedy(tiny_lm, prompt_ids, 12)
    reply = client.chat.completions.create(model="tiny", messages=MESSAGES, max_tokens=12, temperature=0)
    assert reply.object == "chat.completion" and reply.model == "tiny"
    assert reply.choices[0].message.role == "assistant"
    assert reply.choices[0].message.content == text and len(text) > 0
    assert reply.choices[0].finish_reason == ("length" if len(ids) == 12 else "stop")
    assert (reply.usage.prompt_tokens, reply.usage.completion_tokens) == (len(prompt_ids), len(ids))
    assert reply.usage.total_tokens == len(prompt_ids) + len(ids)
    # max_completion_tokens is honoured like max_tokens; n copies of a greedy reply are equal
    short = client.chat.completions.create(model="tiny", messages=MESSAGES, max_completion_tokens=4, temperature=0,
                                           n=2)
    assert [c.message.content for c in short.choices] == [greedy(tiny_lm, prompt_ids, 4)[0]] * 2
    assert [c.index for c in short.choices] == [0, 1]


def test_completions_greedy_and_batch(client, tiny_lm):
    prompts = ["Once upon a time", "The weather today"]
    reply = client.completions.create(model="tiny", prompt=prompts, max_tokens=6, temperature=0)
    assert reply.object == "text_completion"
    expected = [greedy(tiny_lm, tiny_lm.tokenizer(p)["input_ids"], 6)[0] for p in prompts]
    assert [c.text for c in reply.choices] == expected
    assert reply.usage.prompt_tokens == sum(len(tiny_lm.tokenizer(p)["input_ids"]) for p in prompts)


def test_streaming_concatenates_to_the_full_text(client, server):
    full = client.chat.completions.create(model="tiny", messages=MESSAGES, max_tokens=16, temperature=0)
    chunks = list(client.chat.completions.create(model="tiny", messages=MESSAGES, max_tokens=16, temperature=0,
                                                 stream=True, stream_options={"include_usage": True}))
    assert chunks[0].choices[0].delta.role == "assistant"
    assert all(c.object == "chat.completion.chunk" and c.id == chunks[0].id for c in chunks)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == full.choices[0].message.content
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert finishes == [full.choices[0].finish_reason]
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens == full.usage.completion_tokens

    plain = client.completions.create(model="tiny", prompt="Hello", max_tokens=10, temperature=0)
    streamed = list(client.completions.create(model="tiny", prompt="Hello", max_tokens=10, temperature=0,
                                              stream=True))
    assert "".join(c.choices[0].text for c in streamed) == plain.choices[0].text
    # the wire format: Server-Sent Events ending with data: [DONE]
    with httpx.stream("POST", server.url + "/v1/completions", timeout=60,
                      json={"model": "tiny", "prompt": "Hello", "max_tokens": 3, "temperature": 0,
                            "stream": True}) as r:
        assert r.headers["content-type"].startswith("text/event-stream")
        events = [line for line in r.iter_lines() if line]
    assert events[-1] == "data: [DONE]" and all(e.startswith("data: ") for e in events)
    assert json.loads(events[-2][6:])["choices"][0]["finish_reason"] == "length"


def test_stop_strings_cut_the_text(client):
    full = client.completions.create(model="tiny", prompt="Hello", max_tokens=12, temperature=0).choices[0].text
    stop = full[5:8]
    cut = full[:full.index(stop)]
    reply = client.completions.create(model="tiny", prompt="Hello", max_tokens=12, temperature=0, stop=[stop])
    assert (reply.choices[0].text, reply.choices[0].finish_reason) == (cut, "stop")
    streamed = list(client.completions.create(model="tiny", prompt="Hello", max_tokens=12, temperature=0,
                                              stop=stop, stream=True))
    assert "".join(c.choices[0].text for c in streamed) == cut
    assert streamed[-1].choices[0].finish_reason == "stop"


def test_chat_logprobs_are_the_models(client, tiny_lm):
    reply = client.chat.completions.create(model="tiny", messages=MESSAGES, max_tokens=5, temperature=0,
                                           logprobs=True, top_logprobs=3)
    content = reply.choices[0].logprobs.content
    assert len(content) == reply.usage.completion_tokens == 5
    assert "".join(t.token for t in content) == reply.choices[0].message.content
    prompt_ids = tiny_lm.encode_chat(MESSAGES)
    generated = tiny_lm.tokenizer(reply.choices[0].message.content, add_special_tokens=False)["input_ids"]
    _, ids = greedy(tiny_lm, prompt_ids, 5)
    with torch.no_grad():
        logits = tiny_lm.model(torch.tensor([prompt_ids + ids])).logits[0].double()
    logp = torch.log_softmax(logits, -1)
    for k, token in enumerate(content):
        row = logp[len(prompt_ids) - 1 + k]
        assert token.logprob == pytest.approx(row[ids[k]].item(), abs=1e-4)
        assert [t.logprob for t in token.top_logprobs] == pytest.approx(row.topk(3).values.tolist(), abs=1e-4)
        assert token.top_logprobs[0].logprob == pytest.approx(token.logprob, abs=1e-6)   # greedy: the top token
    assert generated  # the reply's text re-encodes to tokens
    legacy = client.completions.create(model="tiny", prompt="Hello", max_tokens=3, temperature=0, logprobs=2)
    lp = legacy.choices[0].logprobs
    assert len(lp.tokens) == 3 and all(len(t) == 2 for t in lp.top_logprobs)
    assert lp.text_offset == [0, len(lp.tokens[0]), len(lp.tokens[0]) + len(lp.tokens[1])]


def test_seeded_sampling_repeats(client):
    def draw(seed):
        r = client.chat.completions.create(model="tiny", messages=MESSAGES, max_tokens=8, temperature=1.0,
                                           seed=seed, n=2)
        return [c.message.content for c in r.choices]
    first = draw(5)
    assert draw(5) == first and draw(6) != first and first[0] != first[1]


def test_temperature_and_top_p_reach_the_sampler(client):
    # at temperature 1 over 49,152 near-uniform tokens, samples never repeat the greedy text by chance; a
    # near-zero temperature, or a top_p that keeps only the top token, must give exactly the greedy text
    def texts(**kw):
        r = client.chat.completions.create(model="tiny", messages=MESSAGES, max_tokens=6, n=3, seed=7, **kw)
        return [c.message.content for c in r.choices]
    greedy = texts(temperature=0)
    assert len(set(greedy)) == 1 and greedy[0]
    assert all(t != greedy[0] for t in texts(temperature=1.0))         # the control
    assert texts(temperature=1e-4) == greedy
    assert texts(temperature=1.0, top_p=1e-6) == greedy
    legacy = client.completions.create(model="tiny", prompt="Hello", max_tokens=6, n=2, seed=7, temperature=1e-4)
    plain = client.completions.create(model="tiny", prompt="Hello", max_tokens=6, temperature=0).choices[0].text
    assert [c.text for c in legacy.choices] == [plain] * 2


def test_models_and_bad_requests(client, server, tiny_lm):
    assert [m.id for m in client.models.list().data] == ["tiny"]
    with pytest.raises(openai.BadRequestError) as err:
        client.chat.completions.create(model="tiny", messages=MESSAGES, max_tokens=0)
    assert err.value.status_code == 400 and "max_tokens" in err.value.message and "greater than or equal to 1" in err.value.message
    with pytest.raises(openai.NotFoundError) as err:
        client.chat.completions.create(model="gpt-4o", messages=MESSAGES)
    assert "'gpt-4o' does not exist here; this server serves 'tiny'" in err.value.message
    with pytest.raises(openai.BadRequestError) as err:
        client.completions.create(model="tiny", prompt="hi", max_tokens=tiny_lm.context_length)
    assert "context length 512" in err.value.message
    with pytest.raises(openai.BadRequestError) as err:
        client.chat.completions.create(model="tiny", messages=MESSAGES, stream=True, n=2)
    assert "streaming returns one choice; got n=2" in err.value.message
    r = httpx.post(server.url + "/v1/chat/completions", content=b"{not json", timeout=30,
                   headers={"content-type": "application/json"})
    assert r.status_code == 400 and "not valid JSON" in r.json()["error"]["message"]
    r = httpx.post(server.url + "/v1/chat/completions", json={"model": "tiny", "messages": [{"role": "robot",
                                                                                              "content": "x"}]})
    assert r.status_code == 400
    assert r.json()["error"]["message"].startswith("invalid request: body.messages.0.role: Input should be")


def test_api_key_is_required(tiny_lm):
    with ServerThread(create_app(tiny_lm, api_key="s3cret")) as s:
        assert s.url.startswith("http://127.0.0.1:")
        ok = openai.OpenAI(base_url=s.url + "/v1", api_key="s3cret", max_retries=0)
        assert [m.id for m in ok.models.list().data] == ["tiny"]
        with pytest.raises(openai.AuthenticationError) as err:
            openai.OpenAI(base_url=s.url + "/v1", api_key="wrong", max_retries=0).models.list()
        assert err.value.status_code == 401 and "API key sent is wrong" in err.value.message
        r = httpx.post(s.url + "/v1/completions", json={"model": "tiny", "prompt": "x", "max_tokens": 1})
        assert r.status_code == 401 and "Authorization: Bearer" in r.json()["error"]["message"]


def test_concurrent_requests_are_served_one_at_a_time_with_the_same_answers(client, tiny_lm):
    from concurrent.futures import ThreadPoolExecutor

    prompts = ["one", "two", "three", "four"]
    expected = [greedy(tiny_lm, tiny_lm.encode_chat([{"role": "user", "content": p}]), 6)[0] for p in prompts]

    def ask(i):
        kwargs = dict(model="tiny", messages=[{"role": "user", "content": prompts[i]}], max_tokens=6, temperature=0)
        if i % 2:   # half of them streamed, so a streaming worker and plain requests share the model
            return "".join(c.choices[0].delta.content or "" for c in client.chat.completions.create(**kwargs,
                                                                                                 stream=True))
        return client.chat.completions.create(**kwargs).choices[0].message.content

    with ThreadPoolExecutor(4) as pool:
        assert list(pool.map(ask, range(4))) == expected
