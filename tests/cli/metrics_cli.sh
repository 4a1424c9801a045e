#!/usr/bin/env bash
# `--metrics HOST:PORT` of `actr signal` and `actr node` on 127.0.0.1 (issue 13, item 3): each
# prints "metrics on URL" with the port it bound (port 0 asked), and GET /metrics there answers in
# Prometheus text format with the figures of what just happened: the node registered with the
# server, answered 3 calls of `actr call` over WebSocket. A bad --metrics is exit 2.
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

rc=0
"$ACTR" signal --listen 127.0.0.1:0 --metrics nowhere >/dev/null 2>"$W/bad.err" || rc=$?
[ "$rc" -eq 2 ] && grep -q -- "--metrics 'nowhere' is not HOST:PORT" "$W/bad.err" || fail "bad --metrics: exit $rc: $(cat "$W/bad.err")"
echo "ok   bad --metrics: exit 2"
echo "all passed"
