"""A TCP relay that makes a server on this machine see a chosen loopback source address.

libpq cannot choose its source address, and a client on 127.0.0.1 reaching 127.0.0.x comes
from 127.0.0.1 (the kernel's local route for 127.0.0.0/8 names that source). The relay listens
on `address` and opens each upstream connection from `address` too, so the server's
`inet_client_addr()` is `address`: one machine plays "a pod", "a person outside" and "inside the
pod" by the loopback address a client goes through. Bytes pass unchanged (TLS is end to end).
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator


class SourceRelay:
    def __init__(self, address: str, target: tuple[str, int]) -> None:
        self.address = address
        self.target = target
        self._listener = socket.create_server((address, 0))
        self.port: int = self._listener.getsockname()[1]
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._accept, daemon=True)

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:  # closed by stop()
                return
            try:
                upstream = socket.create_connection(self.target, source_address=(self.address, 0))
            except OSError:
                client.close()
                continue
            with self._lock:
                self._sockets += [client, upstream]
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    @staticmethod
    def _pump(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        with contextlib.suppress(OSError):
            sink.shutdown(socket.SHUT_WR)

    def stop(self) -> None:
        self._listener.close()
        with self._lock:
            for sock in self._sockets:
                with contextlib.suppress(OSError):
                    sock.close()

    @classmethod
    @contextlib.contextmanager
    def running(cls, address: str, target: tuple[str, int]) -> Iterator[SourceRelay]:
        relay = cls(address, target)
        relay._thread.start()
        try:
            yield relay
        finally:
            relay.stop()
