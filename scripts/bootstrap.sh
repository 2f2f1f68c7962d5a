#!/usr/bin/env bash
# Idempotent setup for a fresh clone: a virtualenv with lepton and its extras, and a
# Mosquitto answering on 127.0.0.1:1883 for the demo. Re-runs cost a hash comparison.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3.11}
command -v "$PYTHON" >/dev/null 2>&1 || PYTHON=python3
VENV=.venv
STAMP=$VENV/.lepton-installed
# torch is pinned to the CPU build that the machines keep on disk; an unpinned torch
# would pull a multi-GB CUDA build. It belongs to the export extra only.
TORCH_PIN="torch==2.13.0"
WANT=$(cat pyproject.toml setup.py packaging/export/pyproject.toml scripts/bootstrap.sh | sha256sum | cut -d' ' -f1)

if [ ! -x "$VENV/bin/python" ]; then
    echo "bootstrap: creating $VENV with $($PYTHON --version)"
    "$PYTHON" -m venv "$VENV"
fi
if [ "$(cat "$STAMP" 2>/dev/null)" != "$WANT" ]; then
    echo "bootstrap: installing lepton-line[cpu,openvino,dev] (editable) and the export side's dependencies into $VENV"
    "$VENV/bin/python" -m pip install --quiet --upgrade pip
    "$VENV/bin/python" -m pip install --quiet "$TORCH_PIN"
    "$VENV/bin/python" -m pip install --quiet -e ".[cpu,openvino,dev]"
    # The export side runs from the checkout (lepton/export links to export/); its
    # distribution's dependencies come from its own pyproject, less the daemon it pins.
    "$VENV/bin/python" - <<'PY' | xargs "$VENV/bin/python" -m pip install --quiet
import tomllib
deps = tomllib.load(open("packaging/export/pyproject.toml", "rb"))["project"]["dependencies"]
print("\n".join(f"'{d}'" for d in deps if not d.startswith("lepton-line")))
PY
    echo "$WANT" > "$STAMP"
fi

# Tests start their own brokers and camera streams (ffmpeg serving MJPEG), but they need the binaries.
if { ! command -v mosquitto >/dev/null 2>&1 && [ ! -x /usr/sbin/mosquitto ]; } || ! command -v ffmpeg >/dev/null 2>&1; then
    echo "bootstrap: installing mosquitto and ffmpeg"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq mosquitto mosquitto-clients ffmpeg >/dev/null
fi
# And an RTSP camera: GStreamer's RTSP server, run by the system python3 (tests/edge/faults/rtsp.py).
RTSP_PACKAGES="gir1.2-gst-rtsp-server-1.0 gstreamer1.0-plugins-base gstreamer1.0-plugins-good python3-gi"
# shellcheck disable=SC2086  # a list of package names
if ! dpkg -s $RTSP_PACKAGES >/dev/null 2>&1; then
    echo "bootstrap: installing GStreamer's RTSP server"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        $RTSP_PACKAGES >/dev/null
fi
