"""Real processes and a controllable network for integration tests.

* :class:`LiveServer` runs ``runtrack server`` as a subprocess on a free port, waits for
  ``/health``, and can be killed (any signal) and restarted on the same port and data.
* :class:`TcpProxy` forwards a local port to the server and can cut the link: ``refuse``
  (connections fail at once) or ``blackhole`` (connections hang: packets dropped, as when
  a cable is pulled), then restore it.
"""

from __future__ import annotations

import os
import selectors
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Sequence
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class LiveServer:
    def __init__(
        self,
        data_dir: Path,
        *,
        db: str | None = None,
        artifacts: str | None = None,
        args: Sequence[str] = (),
        env: dict[str, str] | None = None,
        port: int | None = None,
    ) -> None:
        self.data_dir = data_dir
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._cmd = [
            sys.executable,
            "-m",
            "runtrack.cli",
            "server",
            "--port",
            str(self.port),
            "--log-level",
            "warning",
            *args,
        ]
        if db:
            self._cmd += ["--db", db]
        if artifacts:
            self._cmd += ["--artifacts", artifacts]
        base = {k: v for k, v in os.environ.items() if not k.startswith("RUNTRACK_")}
        base.update(RUNTRACK_DIR=str(data_dir), RUNTRACK_QUIET="1", **(env or {}))
        self._env = base
        self.proc: subprocess.Popen[bytes] | None = None
        self._log = data_dir / "server.log"

    def start(self, timeout: float = 30.0) -> LiveServer:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        log = open(self._log, "ab")  # noqa: SIM115 - owned by the child process
        self.proc = subprocess.Popen(
            self._cmd, env=self._env, stdout=log, stderr=log, start_new_session=True
        )
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"the server exited ({self.proc.returncode}): {self._log.read_text()[-2000:]}"
                )
            try:
                with urllib.request.urlopen(self.url + "/health", timeout=1) as r:
                    if r.status == 200:
                        return self
            except OSError:
                time.sleep(0.05)
        raise TimeoutError(f"the server did not answer /health within {timeout} s")

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, sig)
            self.proc.wait(timeout=60)

    def stop(self) -> None:
        self.kill(signal.SIGTERM)

    def log(self) -> str:
        return self._log.read_text() if self._log.exists() else ""

    def __enter__(self) -> LiveServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.kill()


class TcpProxy:
    """``127.0.0.1:<port>`` -> ``127.0.0.1:<target>``, in a thread."""

    def __init__(self, target_port: int) -> None:
        self.target = target_port
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self._listener.getsockname()[1])
        self.url = f"http://127.0.0.1:{self.port}"
        self.mode = "open"  # open | refuse | blackhole
        self._pairs: list[tuple[socket.socket, socket.socket]] = []
        self._lock = threading.Lock()
        self._stop = False
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def cut(self, mode: str = "refuse") -> None:
        """Break every open connection; new ones are refused (or hang, ``blackhole``)."""
        self.mode = mode
        with self._lock:
            pairs, self._pairs = self._pairs, []
        for a, b in pairs:
            for s in (a, b):
                try:
                    s.close()
                except OSError:
                    pass

    def restore(self) -> None:
        self.mode = "open"

    def close(self) -> None:
        self._stop = True
        self._thread.join(timeout=5)
        self.cut()
        self._listener.close()

    def _run(self) -> None:
        sel = selectors.DefaultSelector()
        self._listener.setblocking(False)
        sel.register(self._listener, selectors.EVENT_READ)
        peers: dict[socket.socket, socket.socket] = {}
        hanging: list[socket.socket] = []
        while not self._stop:
            try:
                events = sel.select(timeout=0.05)
            except (OSError, ValueError):
                break
            for key, _mask in events:
                sock = key.fileobj
                assert isinstance(sock, socket.socket)
                if sock is self._listener:
                    try:
                        client, _addr = self._listener.accept()
                    except OSError:
                        continue
                    if self.mode == "refuse":
                        client.close()
                        continue
                    if self.mode == "blackhole":
                        hanging.append(client)  # accepted, never answered
                        continue
                    try:
                        upstream = socket.create_connection(("127.0.0.1", self.target), 2)
                    except OSError:
                        client.close()
                        continue
                    for s in (client, upstream):
                        s.setblocking(False)
                        sel.register(s, selectors.EVENT_READ)
                    peers[client], peers[upstream] = upstream, client
                    with self._lock:
                        self._pairs.append((client, upstream))
                    continue
                other = peers.get(sock)
                try:
                    data = sock.recv(65536)
                except OSError:
                    data = b""
                if data and other is not None and self.mode == "open":
                    try:
                        other.setblocking(True)
                        other.sendall(data)
                        other.setblocking(False)
                        continue
                    except OSError:
                        pass
                for end in (sock, other):
                    if end is None:
                        continue
                    try:
                        sel.unregister(end)
                    except (KeyError, ValueError):
                        pass
                    peers.pop(end, None)
                    try:
                        end.close()
                    except OSError:
                        pass
            # connections closed by cut(): drop them from the selector
            for s in [s for s in list(peers) if s.fileno() < 0]:
                try:
                    sel.unregister(s)
                except (KeyError, ValueError):
                    pass
                peers.pop(s, None)
            if self.mode != "blackhole" and hanging:
                for s in hanging:
                    s.close()
                hanging.clear()
        for s in [*peers, *hanging]:
            try:
                s.close()
            except OSError:
                pass
        sel.close()
