"""Running an app with uvicorn on a socket bound up front: port 0 picks a free port, known before serving starts.

``ServerThread`` serves in a background thread of this process (tests, notebooks, a judge next to a training
run) and stops cleanly on exit; ``serve_forever`` is what ``preflab serve`` runs in the foreground.

>>> from fastapi import FastAPI
>>> import httpx
>>> app = FastAPI()
>>> _ = app.get("/ping")(lambda: {"pong": True})
>>> with ServerThread(app) as server:
...     httpx.get(server.url + "/ping").json()
{'pong': True}
"""

from __future__ import annotations

import socket
import threading
import time
from typing import Callable, Optional

__all__ = ["bind", "ServerThread", "serve_forever"]


def bind(host: str = "127.0.0.1", port: int = 0) -> socket.socket:
    """A listening TCP socket on ``host:port`` (port 0: a free one); raises ValueError naming the address."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as err:
        sock.close()
        raise ValueError(f"cannot listen on {host}:{port} ({err.strerror}); pick another --port (0: any free "
                         "one) or --host") from err
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


def _url(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def _server(app, log_level: str):
    import uvicorn

    return uvicorn.Server(uvicorn.Config(app, log_level=log_level, timeout_graceful_shutdown=5, lifespan="on"))


class ServerThread:
    """``with ServerThread(app) as s:`` serves ``app`` on ``s.url`` (127.0.0.1 and a free port by default) until the
    block ends; the thread is joined on exit."""

    def __init__(self, app, host: str = "127.0.0.1", port: int = 0, *, log_level: str = "warning",
                 start_timeout: float = 30.0):
        self.app, self.host, self.port, self.log_level, self.start_timeout = app, host, port, log_level, start_timeout
        self.url: Optional[str] = None
        self._server = None
        self._thread: Optional[threading.Thread] = None
        self._sock: Optional[socket.socket] = None

    def start(self) -> "ServerThread":
        self._sock = bind(self.host, self.port)
        self.url = _url(self._sock)
        self._server = _server(self.app, self.log_level)
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [self._sock]}, daemon=True,
                                        name="preflab-serve")
        self._thread.start()
        deadline = time.monotonic() + self.start_timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"the server on {self.url} did not start within {self.start_timeout} s")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=30)
        if self._sock is not None:
            self._sock.close()

    def __enter__(self) -> "ServerThread":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def serve_forever(app, host: str = "127.0.0.1", port: int = 8000, *, log_level: str = "info",
                  on_ready: Optional[Callable[[str], None]] = None) -> None:
    """Serve ``app`` in the foreground until interrupted (Ctrl-C); ``on_ready(url)`` is called once the socket is
    bound, before the first request is accepted."""
    sock = bind(host, port)
    try:
        if on_ready is not None:
            on_ready(_url(sock))
        _server(app, log_level).run(sockets=[sock])
    finally:
        sock.close()
