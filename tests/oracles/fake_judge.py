"""A fake OpenAI-compatible judge server for the LLMJudge tests, on 127.0.0.1 in a thread.

Each answer in a request carries its true quality as ``q=<number>``; the first ``q=`` in the user message is
answer A, the second answer B. The judge prefers A when ``q_A - q_B + bias > 0`` (a positive ``bias`` favours
the first position), says "tie" at exactly 0, and with ``logprobs`` returns ``P(A) = sigmoid(q_A - q_B + bias)``
in the logprobs of its verdict token. Failures are scripted by request index (0-based, counting every request):
``fail_first`` (the first N get ``status``), ``fail_from`` (every request from index M on gets ``status``),
``hang_first`` (the first N wait ``hang_seconds`` before answering).
"""

from __future__ import annotations

import json
import math
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Optional

_Q = re.compile(r"q=(-?\d+(?:\.\d+)?)")


class LocalJSONServer:
    """An HTTP server on 127.0.0.1, in a thread, that answers each POST with JSON. A subclass defines
    ``respond(body, headers) -> (status, payload)``, or None to send nothing (a hung request); ``stop_event``
    is set on exit to release such requests. A client that gave up (timeout) is not an error."""

    def __init__(self):
        self.lock = threading.Lock()
        self.stop_event = threading.Event()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # quiet
                pass

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                answer = server.respond(body, self.headers)
                if answer is None:
                    return
                status, payload = answer
                data = json.dumps(payload).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.httpd.block_on_close = False
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def respond(self, body: dict, headers) -> Optional[tuple]:
        raise NotImplementedError

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop_event.set()           # release hanging handlers
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)


class FakeJudgeServer(LocalJSONServer):
    def __init__(self, *, bias: float = 0.0, logprobs: bool = False, reply: str = "{}", fail_first: int = 0,
                 fail_from: Optional[int] = None, status: int = 500, hang_first: int = 0, hang_seconds: float = 1.0):
        super().__init__()
        self.bias, self.logprobs, self.reply = bias, logprobs, reply
        self.fail_first, self.fail_from, self.status = fail_first, fail_from, status
        self.hang_first, self.hang_seconds = hang_first, hang_seconds
        self.calls: list[dict] = []         # one per request: time, qualities, what was answered

    def respond(self, body: dict, headers) -> tuple:
        with self.lock:
            index = len(self.calls)
            record = {"t": time.monotonic(), "body": body, "index": index}
            self.calls.append(record)
        if index < self.hang_first:
            self.stop_event.wait(self.hang_seconds)
        failing = index < self.fail_first or (self.fail_from is not None and index >= self.fail_from)
        if failing:
            record["status"] = self.status
            return self.status, {"error": {"message": "scripted failure", "type": "server_error"}}
        text = body["messages"][-1]["content"]
        qa, qb = (float(x) for x in _Q.findall(text)[:2])
        score = qa - qb + self.bias
        p_a = 1.0 / (1.0 + math.exp(-score))
        letter = "A" if score > 0 else "B" if score < 0 else None
        content = self.reply.format(letter) if letter else "tie"
        record.update(status=200, qa=qa, qb=qb, verdict=letter or "tie")
        choice = {"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop",
                  "logprobs": None}
        if self.logprobs and body.get("logprobs") and letter:
            # the reply is the bare letter; its token carries both alternatives
            choice["message"]["content"] = letter
            top = [{"token": "A", "logprob": math.log(p_a), "bytes": None},
                   {"token": "B", "logprob": math.log1p(-p_a), "bytes": None}]
            lp = top[0]["logprob"] if letter == "A" else top[1]["logprob"]
            choice["logprobs"] = {"content": [{"token": letter, "logprob": lp, "bytes": None,
                                               "top_logprobs": top}]}
            record["p_a"] = p_a
        return 200, {"id": f"cmpl-{index}", "object": "chat.completion", "created": 0,
                     "model": body.get("model", "fake"), "choices": [choice],
                     "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}}

    @property
    def n_calls(self) -> int:
        with self.lock:
            return len(self.calls)
