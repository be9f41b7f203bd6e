"""The HTTP server on a thread of this process: `gladdesk demo --serve` runs it beside the
console, on the same desk file and the same clock.

It is the app `gladdesk serve` runs (`create_app`), with its own desk connection. The socket is
bound before anything starts, so a port in use is one clear error; port 0 picks a free one.
Its log goes to a file (the console owns the terminal); access lines are not logged.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from pathlib import Path

import uvicorn

from core.clock import Clock
from core.errors import DeskError
from core.store.desk import is_postgres_url
from core.web.app import create_app
from core.web.portal import follow_served_address, served_base_url

#: How long `start` waits for the server to answer, and `stop` for it to finish.
START_WAIT_S = 15.0
STOP_WAIT_S = 10.0
#: The loggers whose lines go to the log file while the server runs.
_LOGGERS = ("uvicorn", "core")


class BackgroundServer:
    """`start()` binds and serves on a thread and returns the base URL; `stop()` shuts down
    (open event streams get a moment, then are closed) and waits for the thread."""

    def __init__(
        self,
        db_path: str | Path,
        *,
        host: str = "127.0.0.1",
        port: int = 8080,
        clock: Clock | None = None,
        log_path: Path | None = None,
    ) -> None:
        self.db_path: str | Path = db_path if is_postgres_url(db_path) else Path(db_path)
        self.host = host
        self.port = port
        self.clock = clock
        self.log_path = log_path
        self.base_url: str | None = None
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._handler: logging.Handler | None = None
        self._propagate: dict[str, bool] = {}

    def start(self) -> str:
        """Serve; the base URL (`http://host:port`). A port that cannot be had, or a server that
        does not come up, is a DeskError and leaves nothing running."""
        sock = _bind(self.host, self.port)
        port = int(sock.getsockname()[1])
        try:
            app = create_app(self.db_path, clock=self.clock)
        except BaseException:
            sock.close()
            raise
        self.base_url = served_base_url(self.host, port)
        try:
            follow_served_address(app.state.web.desk, self.base_url)
        except BaseException:
            sock.close()
            app.state.web.desk.close()
            raise
        self._log_to_file()
        config = uvicorn.Config(
            app,
            log_config=None,
            access_log=False,
            server_header=False,
            timeout_graceful_shutdown=3,
        )
        self._server = server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=server.run, kwargs={"sockets": [sock]}, name="gladdesk-serve", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + START_WAIT_S
        while not server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                where = f" (see {self.log_path})" if self.log_path else ""
                raise DeskError(f"the web server on {self.base_url} did not start{where}")
            time.sleep(0.01)
        return self.base_url

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def stop(self) -> None:
        """Shut the server down and wait for it; harmless when it is not running."""
        server, thread = self._server, self._thread
        if server is not None:
            server.should_exit = True
        if thread is not None:
            thread.join(STOP_WAIT_S)
            if thread.is_alive() and server is not None:
                server.force_exit = True
                thread.join(STOP_WAIT_S)
        self._server = self._thread = None
        self._unlog()

    def _log_to_file(self) -> None:
        if self.log_path is None:
            return
        handler = logging.FileHandler(self.log_path, encoding="utf-8", delay=True)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        handler.setLevel(logging.INFO)
        for name in _LOGGERS:
            logger = logging.getLogger(name)
            self._propagate[name] = logger.propagate
            logger.addHandler(handler)
            logger.propagate = False  # the terminal belongs to the console
        self._handler = handler

    def _unlog(self) -> None:
        handler, self._handler = self._handler, None
        if handler is None:
            return
        for name in _LOGGERS:
            logger = logging.getLogger(name)
            logger.removeHandler(handler)
            logger.propagate = self._propagate.get(name, True)
        handler.close()


def _bind(host: str, port: int) -> socket.socket:
    """A listening-ready TCP socket on host:port, or a DeskError that says what to change."""
    try:
        family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
        sock = socket.create_server((host, port), family=family)
    except socket.gaierror as exc:
        raise DeskError(
            f"--host {host!r}: not an address this machine has ({exc.strerror})"
        ) from None
    except OverflowError:
        raise DeskError(f"--port {port}: not a TCP port (0 to 65535)") from None
    except OSError as exc:
        hint = "; pick another with --port (0: any free port)"
        raise DeskError(f"cannot serve on {host}:{port}: {exc.strerror}{hint}") from None
    return sock
