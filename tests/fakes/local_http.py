"""What every local protocol server of the tests shares: a threading HTTP server on a free
port of 127.0.0.1, served from a daemon thread, stopped without waiting for requests that
sleep in a delay fault."""

from __future__ import annotations

from http.server import ThreadingHTTPServer
from threading import Thread
from typing import Any, Self


class FakeHttpServer(ThreadingHTTPServer):
    """The socket server; its handlers reach their fake through ``server.fake``."""

    daemon_threads = True
    block_on_close = False  # stop() must not wait for a request sleeping in a delay fault
    fake: Any

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that timed out has closed its end; writing the late answer fails.
        pass


class LocalServer:
    """Start, stop and the port of a fake served over HTTP (also a context manager)."""

    def __init__(self) -> None:
        self._server: FakeHttpServer | None = None
        self._thread: Thread | None = None

    def _make_server(self, address: tuple[str, int]) -> FakeHttpServer:
        """The fake's server with its request handler, bound to ``address``."""
        raise NotImplementedError

    def start(self) -> Self:
        """Bind a free port and serve in a daemon thread."""
        self._server = self._make_server(("127.0.0.1", 0))
        self._server.fake = self
        self._thread = Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},  # shutdown() waits up to one interval
            name=type(self).__name__,
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the socket (requests still sleeping are abandoned)."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        """The port served on."""
        if self._server is None:
            raise RuntimeError(f"{type(self).__name__} is not started")
        return int(self._server.server_address[1])
