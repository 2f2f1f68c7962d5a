"""No password of a camera URI in a message."""

from __future__ import annotations

from lepton.edge.sources.camera import redact


def test_a_password_in_the_uri_never_reaches_a_message() -> None:
    assert redact("rtsp://admin:s3cret@192.0.2.1:554/s1") == "rtsp://admin:***@192.0.2.1:554/s1"
    assert redact("http://u:p@[fe80::1]:8080/m.mjpg") == "http://u:***@[fe80::1]:8080/m.mjpg"
    assert redact("rtsp://192.0.2.1/s1") == "rtsp://192.0.2.1/s1"
