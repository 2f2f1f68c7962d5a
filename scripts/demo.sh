#!/usr/bin/env bash
# `make demo`: a synthetic production line through the whole system.
#   data + conveyor video + trained classifier, detector and anomaly model (demo/) → three bundles
#   (lepton-export) → three lepton-edge boxes on the video → MQTT → the operator's view
#   (lepton-edge tail).
# Every step is skipped when its output is already built from the same inputs.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin
OUT=build/demo
mkdir -p "$OUT"

say() { printf '\n== %s\n' "$*" >&2; }

broker_up() { (exec 3<>/dev/tcp/127.0.0.1/1883) 2>/dev/null; }
if broker_up; then
    say "MQTT broker: using the one on 127.0.0.1:1883"
else
    say "MQTT broker: none on 127.0.0.1:1883, starting a local Mosquitto"
    mkdir -p "$OUT/mosquitto"
    {
        echo "listener 1883 127.0.0.1"
        echo "allow_anonymous true"
        echo "persistence true"
        echo "persistence_location $PWD/$OUT/mosquitto/"
        echo "log_dest file $PWD/$OUT/mosquitto/mosquitto.log"
        echo "max_queued_messages 0"
        [ "$(id -u)" = 0 ] && echo "user root"
    } > "$OUT/mosquitto/mosquitto.conf"
    "$(command -v mosquitto || echo /usr/sbin/mosquitto)" -d -c "$OUT/mosquitto/mosquitto.conf"
    for _ in $(seq 50); do broker_up && break; sleep 0.1; done
    broker_up || { echo "demo: Mosquitto did not start; see $OUT/mosquitto/mosquitto.log" >&2; exit 1; }
fi

say "Synthetic inspection data, conveyor video, trained classifier, detector and anomaly model ($OUT)"
"$BIN/python" -m demo build --out "$OUT"

say "Bundles: lepton-export (FP32 ONNX, parity gate, INT8 and its gates, golden set)"
if "$BIN/python" -m demo bundle-current --out "$OUT"; then
    echo "bundle $OUT/bundle is current" >&2
else
    "$BIN/lepton-export" build --config demo/export.toml --out "$OUT/bundle"
fi
if "$BIN/python" -m demo bundle-current --detector --out "$OUT"; then
    echo "bundle $OUT/detector-bundle is current" >&2
else
    "$BIN/lepton-export" build --config demo/export-detector.toml --out "$OUT/detector-bundle"
fi
if "$BIN/python" -m demo bundle-current --anomaly --out "$OUT"; then
    echo "bundle $OUT/anomaly-bundle is current" >&2
else
    "$BIN/lepton-export" build --config demo/export-anomaly.toml --out "$OUT/anomaly-bundle"
fi
"$BIN/lepton-edge" check-config demo/lepton-edge.toml
"$BIN/lepton-edge" check-config demo/lepton-edge-detector.toml
"$BIN/lepton-edge" check-config demo/lepton-edge-anomaly.toml

say "Line running: the classifier's box (demo-box), the detector's (demo-detector: alerts end with the defect's box, at x1,y1-x2,y2) and the anomaly model's (demo-anomaly: trained on good parts only, alerts say \"anomaly\" with the hot region's box) on one camera view; alerts as an operator sees them (lepton-edge tail)"
rm -f "$OUT/alerts.jsonl"
"$BIN/lepton-edge" tail --prefix 'lepton/+' --client-id lepton-demo-operator \
    --jsonl "$OUT/alerts.jsonl" &
TAIL_PID=$!
DETECTOR_PID=
ANOMALY_PID=
stop() {
    [ -n "$DETECTOR_PID" ] && kill -TERM "$DETECTOR_PID" 2>/dev/null
    [ -n "$ANOMALY_PID" ] && kill -TERM "$ANOMALY_PID" 2>/dev/null
    kill -TERM $TAIL_PID 2>/dev/null || true
}
trap stop EXIT
sleep 1
"$BIN/lepton-edge" run --config demo/lepton-edge-detector.toml 2> "$OUT/detector-daemon.log" &
DETECTOR_PID=$!
"$BIN/lepton-edge" run --config demo/lepton-edge-anomaly.toml 2> "$OUT/anomaly-daemon.log" &
ANOMALY_PID=$!
"$BIN/lepton-edge" run --config demo/lepton-edge.toml 2> "$OUT/daemon.log" || {
    echo "demo: lepton-edge (classifier) failed; its log:" >&2
    tail -20 "$OUT/daemon.log" >&2
    exit 1
}
wait "$DETECTOR_PID" || {
    echo "demo: lepton-edge (detector) failed; its log:" >&2
    tail -20 "$OUT/detector-daemon.log" >&2
    exit 1
}
DETECTOR_PID=
wait "$ANOMALY_PID" || {
    echo "demo: lepton-edge (anomaly) failed; its log:" >&2
    tail -20 "$OUT/anomaly-daemon.log" >&2
    exit 1
}
ANOMALY_PID=
sleep 1
kill -TERM $TAIL_PID 2>/dev/null || true  # background jobs of a script ignore SIGINT
wait $TAIL_PID 2>/dev/null || true
trap - EXIT

say "Alerts against the video's ground truth (per box; the detector's boxes by IoU with the true defect, the anomaly model's by overlap)"
"$BIN/python" -m demo score --truth "$OUT/line.truth.json" --events "$OUT/alerts.jsonl"
echo "daemon logs: $OUT/daemon.log, $OUT/detector-daemon.log, $OUT/anomaly-daemon.log" >&2
