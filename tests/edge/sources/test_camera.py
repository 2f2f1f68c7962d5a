"""The camera source's own checks before OpenCV: the RTSP probe, and no password in messages."""

from __future__ import annotations

import socket
import threading

import pytest

from lepton.edge.sources.base import SourceUnavailableError
from lepton.edge.sources.camera import probe_rtsp, redact
from tests.support.mosquitto import free_port


def test_a_password_in_the_uri_never_reaches_a_message() -> None:
    assert redact("rtsp://admin:s3cret@192.0.2.1:554/s1") == "rtsp://admin:***@192.0.2.1:554/s1"
    assert redact("http://u:p@[fe80::1]:8080/m.mjpg") == "http://u:***@[fe80::1]:8080/m.mjpg"
    assert redact("rtsp://192.0.2.1/s1") == "rtsp://192.0.2.1/s1"


def test_probe_of_a_server_that_never_answers_times_out_naming_the_key() -> None:
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)
        port = silent.getsockname()[1]
        with pytest.raises(SourceUnavailableError) as err:
            probe_rtsp(f"rtsp://admin:s3cret@127.0.0.1:{port}/s1", timeout_s=0.5)
    assert "no answer within open_timeout_s (0.5 s)" in str(err.value)
    assert "s3cret" not in str(err.value)


def test_probe_of_a_closed_port_says_refused() -> None:
    with pytest.raises(SourceUnavailableError, match="refused"):
        probe_rtsp(f"rtsp://127.0.0.1:{free_port()}/s1", timeout_s=2.0)


def test_probe_passes_once_the_server_answers_and_sends_no_credentials() -> None:
    received: list[bytes] = []
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)

        def answer() -> None:
            conn, _ = server.accept()
            with conn:
                received.append(conn.recv(4096))
                conn.sendall(b"RTSP/1.0 401 Unauthorized\r\nCSeq: 1\r\n\r\n")

        thread = threading.Thread(target=answer)
        thread.start()
        probe_rtsp(f"rtsp://admin:s3cret@127.0.0.1:{server.getsockname()[1]}/s1", timeout_s=5.0)
        thread.join(timeout=5)
    assert received[0].startswith(b"OPTIONS rtsp://127.0.0.1:")
    assert b"s3cret" not in received[0] and b"admin" not in received[0]
