#!/usr/bin/env bash
# `--metrics HOST:PORT` of `actr signal` and `actr node` on 127.0.0.1 (issue 13, item 3): each
# prints "metrics on URL" with the port it bound (port 0 asked), and GET /metrics there answers in
# Prometheus text format with the figures of what just happened: the node registered with the
# server, answered 3 calls of `actr call` over WebSocket. A bad --metrics is exit 2.
# The same port serves the status page (/), its state as JSON (/api/state) and as Server-Sent
# Events (/api/events); other paths are 404 and an oversize request is refused (431).
# With --json, every stdout line of `actr node` and `actr signal` is a JSON object with "event".
#   metrics_cli.sh /path/to/actr
set -euo pipefail
ACTR="$1"
source "$(dirname "$0")/lib.sh"

# get URL: the body of GET URL (curl's own timeouts bound it).
get() { curl -sS --fail --connect-timeout 5 --max-time 20 "$1"; }
# series FILE SERIES: the value of one series, exactly as exposed ("name{labels}").
series() { awk -v s="$2" '$1 == s { print $2; found = 1 } END { if (!found) print "absent" }' "$1"; }
want_ge() {
  local v; v="$(series "$1" "$2")"
  [ "$v" != absent ] && awk -v v="$v" -v m="$3" 'BEGIN { exit !(v >= m) }' || fail "$2 = $v, want >= $3: $(cat "$1")"
}

start signal -- "$ACTR" signal --listen 127.0.0.1:0 --metrics 127.0.0.1:0
SIG="$(wait_line signal 'listening 127\.0\.0\.1:[0-9]+')"
SIG_METRICS="$(wait_line signal 'http://127\.0\.0\.1:[0-9]+/metrics')"
[ "${SIG_METRICS##*:}" != "0/metrics" ] || fail "signal metrics on port 0"
echo "ok   actr signal --metrics: $SIG_METRICS"

start node -- "$ACTR" --log-level info node --id 1@101/acme:echo:1.0.0 --listen 127.0.0.1:0 --echo --wires ws \
  --signal "ws://127.0.0.1:${SIG##*:}/" --metrics 127.0.0.1:0
line="$(wait_line node 'listening on ws://[0-9.:]+/')"
URL="${line#listening on }"
NODE_METRICS="$(wait_line node 'http://127\.0\.0\.1:[0-9]+/metrics')"
wait_line node "^registered with " >/dev/null
echo "ok   actr node --metrics: $NODE_METRICS"

"$ACTR" call --to 1@101/acme:echo:1.0.0 --url "$URL" --count 3 --timeout-ms 10000 >"$W/call.out" 2>"$W/call.err" \
  || fail "call: $(cat "$W/call.out" "$W/call.err")"

get "$NODE_METRICS" >"$W/node.txt" || fail "GET $NODE_METRICS"
for f in "actr_dial_duration_seconds histogram" "actr_dial_errors_total counter" "actr_wires gauge" \
         "actr_queue_depth gauge" "actr_queue_dropped_total counter" "actr_received_bytes_total counter" \
         "actr_reconnects_total counter" "actr_webrtc_setups_total counter"; do
  grep -q "^# TYPE $f\$" "$W/node.txt" || fail "node: no family '$f': $(cat "$W/node.txt")"
done
want_ge "$W/node.txt" 'actr_inbound_total{type="request"}' 3
want_ge "$W/node.txt" 'actr_messages_sent_total{kind="websocket"}' 3
want_ge "$W/node.txt" 'actr_received_bytes_total{kind="websocket"}' 1
want_ge "$W/node.txt" 'actr_signaling_client_registrations_total' 1
echo "ok   node metrics: 3 requests answered over WebSocket, registered once"

get "$SIG_METRICS" >"$W/signal.txt" || fail "GET $SIG_METRICS"
want_ge "$W/signal.txt" 'actr_signaling_registrations_total' 1
want_ge "$W/signal.txt" 'actr_signaling_registered' 1
grep -q "^# TYPE actr_signaling_relayed_total counter\$" "$W/signal.txt" || fail "signal: $(cat "$W/signal.txt")"
echo "ok   signal metrics: the node's registration"

# code URL [CURL ARGS...]: the status and Content-Type of GET URL.
code() { local u="$1"; shift; curl -sS -o /dev/null --max-time 20 -w '%{http_code} %{content_type}' "$@" "$u"; }
BASE="${NODE_METRICS%/metrics}"
[ "$(code "$NODE_METRICS")" = "200 text/plain; version=0.0.4; charset=utf-8" ] || fail "/metrics: $(code "$NODE_METRICS")"
[ "$(code "$BASE/")" = "200 text/html; charset=utf-8" ] || fail "/: $(code "$BASE/")"
[ "$(code "$BASE/nope")" = "404 text/plain; charset=utf-8" ] || fail "/nope: $(code "$BASE/nope")"
PAD="$(head -c 20000 /dev/zero | tr '\0' x)"
[ "$(code "$NODE_METRICS" -H "X-Pad: $PAD")" = "431 text/plain; charset=utf-8" ] || fail "oversize: $(code "$NODE_METRICS" -H "X-Pad: $PAD")"
echo "ok   /metrics text/plain version=0.0.4, / the page, unknown path 404, 20 kB header 431"
get "$BASE/api/state" >"$W/state.json" || fail "GET $BASE/api/state"
python3 - "$W/state.json" <<'PY' || fail "/api/state: $(cat "$W/state.json")"
import json, sys
s = json.load(open(sys.argv[1]))
assert s["kind"] == "node" and s["id"] == "1@101/acme:echo:1.0.0", s
assert isinstance(s["destinations"], list)
for d in s["destinations"]:
    assert set(d) == {"id", "unreachable", "wires"}, d
    for w in d["wires"]:
        assert set(w) == {"kind", "state", "standby", "routes"} and w["kind"] in ("websocket", "webrtc"), w
        assert w["state"] in ("empty", "connecting", "ready", "failed"), w
ev = [e for e in s["events"] if e["peer"] == "ca11e2@101/actr:cli:1.0.0"]
assert any(e["kind"] == "websocket" and e["state"] == "connected" for e in ev), s["events"]
for e in s["events"]:
    assert set(e) == {"seq", "time_ms", "peer", "kind", "session", "state", "error"}, e
assert s["messages"]["sent"]["websocket"] >= 3, s["messages"]
PY
echo "ok   /api/state: the node, the caller's WebSocket wire connected, 3 answers sent"
curl -sN --max-time 3 "$BASE/api/events" >"$W/events.txt" 2>/dev/null || true  # ends at the time limit
grep -q '^retry: ' "$W/events.txt" && grep -m1 '^data: ' "$W/events.txt" | cut -c7- | python3 -c 'import json,sys; assert json.load(sys.stdin)["kind"] == "node"' \
  || fail "/api/events: $(head -c 500 "$W/events.txt")"
echo "ok   /api/events: Server-Sent Events with the state"
get "${SIG_METRICS%/metrics}/api/state" | python3 -c 'import json,sys; s = json.load(sys.stdin); assert s["kind"] == "signal" and s["signaling"]["registered"] >= 1, s' \
  || fail "signal /api/state"
echo "ok   signal /api/state: the node registered"

# --json: each stdout line one JSON object with an "event".
start jsig -- "$ACTR" signal --listen 127.0.0.1:0 --metrics 127.0.0.1:0 --json
L1="$(wait_line jsig '^\{.*"event":"listening".*\}$')"
L2="$(wait_line jsig '^\{.*"event":"metrics".*\}$')"
JSIG="$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["url"])' "$L1")"
start jnode -- "$ACTR" node --id 2@101/acme:echo:1.0.0 --listen 127.0.0.1:0 --wires ws --signal "$JSIG" \
  --metrics 127.0.0.1:0 --json
L3="$(wait_line jnode '^\{.*"event":"listening".*\}$')"
L4="$(wait_line jnode '^\{.*"event":"metrics".*\}$')"
L5="$(wait_line jnode '^\{.*"event":"registered".*\}$')"
python3 - "$L1" "$L2" "$L3" "$L4" "$L5" <<'PY' || fail "JSON lines: $L1 $L2 $L3 $L4 $L5"
import json, sys
sig, sigm, node, nodem, reg = (json.loads(a) for a in sys.argv[1:])
assert sig["url"].startswith("ws://127.0.0.1:") and sigm["url"].endswith("/metrics"), (sig, sigm)
assert node["url"].startswith("ws://127.0.0.1:") and node["id"] == "2@101/acme:echo:1.0.0", node
assert nodem["page"].startswith("http://127.0.0.1:") and reg["url"] == sig["url"], (nodem, reg)
PY
echo "ok   --json: actr signal and actr node print JSON lines (listening, metrics, registered)"

rc=0
"$ACTR" signal --listen 127.0.0.1:0 --metrics nowhere >/dev/null 2>"$W/bad.err" || rc=$?
[ "$rc" -eq 2 ] && grep -q -- "--metrics 'nowhere' is not HOST:PORT" "$W/bad.err" || fail "bad --metrics: exit $rc: $(cat "$W/bad.err")"
echo "ok   bad --metrics: exit 2"
echo "all passed"
