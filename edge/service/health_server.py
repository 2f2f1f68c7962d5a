"""``/metrics`` and ``/healthz`` over plain HTTP on a local address, for the plant's monitoring.

Off unless ``health.listen`` is set. ``/healthz`` answers 200 exactly while the watchdog
would ping systemd and 503 otherwise, each with a short JSON reason, so a load balancer, a
Kubernetes probe or a Nagios check sees what systemd sees. There is no authentication:
bind it to 127.0.0.1 (or a management VLAN) only.
"""

from __future__ import annotations

import json
import logging
import socket
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from lepton.edge.errors import ConfigError
from lepton.edge.service.metrics import Metrics
from lepton.edge.service.watchdog import Health

log = logging.getLogger(__name__)


def split_listen(listen: str) -> tuple[str, int]:
    """``"127.0.0.1:9108"`` or ``"[::1]:9108"`` → (host, port); the config validated the form."""
    host, _, port = listen.rpartition(":")
    return host.strip("[]"), int(port)


class HealthServer:
    def __init__(self, listen: str, metrics: Metrics, health: Callable[[], Health]) -> None:
        """``health``: the watchdog's latest verdict (``lambda: watchdog.health``)."""
        host, port = split_listen(listen)
        metrics_, health_ = metrics, health

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                path = self.path.split("?", 1)[0]
                if path == "/metrics":
                    self._reply(200, CONTENT_TYPE_LATEST, generate_latest(metrics_.registry))
                elif path == "/healthz":
                    health = health_()
                    body = {"ok": health.ok, "reasons": list(health.reasons)}
                    self._reply(200 if health.ok else 503, "application/json", json.dumps(body).encode())
                else:
                    self._reply(404, "text/plain", b"/metrics or /healthz\n")

            def _reply(self, code: int, content_type: str, body: bytes) -> None:
                self.send_response(code)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                log.debug("health: " + format, *args)

        class Server(ThreadingHTTPServer):
            address_family = socket.AF_INET6 if ":" in host else socket.AF_INET
            daemon_threads = True

        try:
            self._server = Server((host, port), Handler)
        except OSError as err:
            raise ConfigError(
                f"health.listen: cannot listen on {listen} ({err.strerror}); choose a free local "
                "address:port or unset health.listen"
            ) from err
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, name="lepton-health", daemon=True)

    def start(self) -> None:
        self._thread.start()
        log.info("health: /metrics and /healthz on http://%s/", self.address)

    @property
    def address(self) -> str:
        host = str(self._server.server_address[0])
        return f"[{host}]:{self.port}" if ":" in host else f"{host}:{self.port}"

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


__all__ = ["HealthServer", "split_listen"]
