"""A TCP proxy between the daemon and the broker that can cut the path silently, and heal it.

A real partition (a switch losing power, a cable pulled between two switches) closes no
socket: packets just stop. ``freeze()`` reproduces that: the proxy stops reading from both
sides and closes nothing, so the daemon's writes still succeed (into kernel buffers) and
only the MQTT keep-alive can notice. ``heal()`` resets the flows that were cut (as a NAT
or firewall that forgot them would) and forwards new connections again.

It also records the first bytes each client sent, so a test can prove a TLS client never
spoke plain MQTT (a TLS record starts with 0x16, an MQTT CONNECT with 0x10).
"""

from __future__ import annotations

import contextlib
import selectors
import socket
import struct
import threading
from dataclasses import dataclass, field

_CHUNK = 65536


@dataclass
class _Flow:
    client: socket.socket
    upstream: socket.socket | None = None
    first_bytes: bytes = b""
    closed: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)


def _reset(sock: socket.socket) -> None:
    """Close with SO_LINGER 0: the peer gets a RST, as from a middlebox that forgot the flow."""
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    with contextlib.suppress(OSError):
        sock.close()


class TcpProxy:
    def __init__(
        self, target_port: int, target_host: str = "127.0.0.1", listen_host: str = "127.0.0.1"
    ) -> None:
        self.target = (target_host, target_port)
        self._listener = socket.create_server((listen_host, 0))
        self.host = listen_host
        self.port: int = self._listener.getsockname()[1]
        self._flowing = threading.Event()
        self._flowing.set()
        self._stop = threading.Event()
        self._flows: list[_Flow] = []
        self._every_flow: list[_Flow] = []
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self.accepted = 0

    # --- control -------------------------------------------------------------------------
    def start(self) -> TcpProxy:
        self._listener.settimeout(0.1)
        self._spawn(self._accept_loop, "proxy-accept")
        return self

    def freeze(self) -> None:
        """Stop forwarding in both directions without closing anything (a silent partition)."""
        self._flowing.clear()

    def heal(self) -> None:
        """Reset every flow that exists now (the partition forgot them) and forward again."""
        with self._lock:
            flows, self._flows = self._flows, []
        for flow in flows:
            self._close_flow(flow, reset=True)
        self._flowing.set()

    @property
    def frozen(self) -> bool:
        return not self._flowing.is_set()

    def first_bytes(self) -> list[bytes]:
        """What each client sent first (up to 8 bytes), in accept order."""
        with self._lock:
            return [f.first_bytes for f in self._every_flow]

    def close(self) -> None:
        self._stop.set()
        self._flowing.set()
        with contextlib.suppress(OSError):
            self._listener.close()
        with self._lock:
            flows, self._flows = self._flows, []
        for flow in flows:
            self._close_flow(flow, reset=False)
        for thread in self._threads:
            thread.join(timeout=5)

    # --- internals -----------------------------------------------------------------------
    def _spawn(self, target: object, name: str, *args: object) -> None:
        thread = threading.Thread(target=target, args=args, name=name, daemon=True)  # type: ignore[arg-type]
        thread.start()
        self._threads.append(thread)

    def _accept_loop(self) -> None:
        while not self._stop.is_set():
            try:
                client, _addr = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.accepted += 1
            flow = _Flow(client)
            with self._lock:
                self._flows.append(flow)
                self._every_flow.append(flow)
            self._spawn(self._serve, f"proxy-flow-{self.accepted}", flow)

    def _close_flow(self, flow: _Flow, reset: bool) -> None:
        with flow.lock:
            if flow.closed:
                return
            flow.closed = True
        for sock in (flow.client, flow.upstream):
            if sock is None:
                continue
            if reset:
                _reset(sock)
            else:
                with contextlib.suppress(OSError):
                    sock.close()

    def _serve(self, flow: _Flow) -> None:
        # A connection made during a partition is held, not forwarded, until heal() resets it.
        while not self._flowing.wait(0.1):
            if flow.closed or self._stop.is_set():
                return
        try:
            upstream = socket.create_connection(self.target, timeout=5)
        except OSError:
            self._close_flow(flow, reset=True)
            return
        with flow.lock:
            if not flow.closed:
                flow.upstream = upstream
        if flow.upstream is not upstream:  # healed or closed meanwhile
            upstream.close()
            return
        self._pump(flow)

    def _pump(self, flow: _Flow) -> None:
        assert flow.upstream is not None
        peer = {flow.client: flow.upstream, flow.upstream: flow.client}
        with selectors.DefaultSelector() as sel:
            try:
                sel.register(flow.client, selectors.EVENT_READ)
                sel.register(flow.upstream, selectors.EVENT_READ)
            except (OSError, ValueError):  # closed by heal() or close() in the meantime
                self._close_flow(flow, reset=False)
                return
            while not flow.closed and not self._stop.is_set():
                if not self._flowing.is_set():
                    # Frozen: read nothing, so data piles up in kernel buffers and nobody sees EOF.
                    self._flowing.wait(0.1)
                    continue
                for key, _ in sel.select(timeout=0.1):
                    if flow.closed or not self._flowing.is_set():
                        break
                    source: socket.socket = key.fileobj  # type: ignore[assignment]
                    try:
                        data = source.recv(_CHUNK)
                    except OSError:
                        data = b""
                    if not data:
                        self._close_flow(flow, reset=False)
                        return
                    if source is flow.client and len(flow.first_bytes) < 8:
                        flow.first_bytes += data[: 8 - len(flow.first_bytes)]
                    try:
                        peer[source].sendall(data)
                    except OSError:
                        self._close_flow(flow, reset=False)
                        return


__all__ = ["TcpProxy"]
