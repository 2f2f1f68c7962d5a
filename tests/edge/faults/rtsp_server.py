"""An RTSP camera for tests: GStreamer's RTSP server (Debian's gir1.2-gst-rtsp-server-1.0).

Run with the system Python (/usr/bin/python3, which has python3-gi), not the venv:
    /usr/bin/python3 rtsp_server.py PORT
Serves rtsp://127.0.0.1:PORT/cam: a scrolling test pattern, 320x240 at 25 fps, as RTP/JPEG
(RFC 2435 carries 4:2:0 or 4:2:2 JPEG only, hence I420), to every client that comes.
Prints "ready" once it listens. ``rtsp.py`` starts it for the tests.
"""

import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtspServer  # noqa: E402

PIPELINE = (
    "( videotestsrc is-live=true pattern=smpte horizontal-speed=4 "
    "! video/x-raw,format=I420,width=320,height=240,framerate=25/1 "
    "! jpegenc quality=70 ! rtpjpegpay name=pay0 pt=26 )"
)


def main() -> None:
    Gst.init(None)
    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(sys.argv[1])
    factory = GstRtspServer.RTSPMediaFactory()
    factory.set_launch(PIPELINE)
    factory.set_shared(True)
    server.get_mount_points().add_factory("/cam", factory)
    if server.attach(None) == 0:
        sys.exit(f"cannot listen on port {sys.argv[1]}")
    print("ready", flush=True)
    GLib.MainLoop().run()


if __name__ == "__main__":
    main()
