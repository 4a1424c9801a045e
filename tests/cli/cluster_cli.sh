#!/usr/bin/env bash
# Two `actr signal --cluster` servers on one redis-server (started here, on a Unix socket in the
# test's directory) with one --key-dir, as the README shows:
#  1. `actr node --signal S1,S2` registers through server 1; `actr call --signal S2` (WebRTC set up
#     through server 2) calls it every 50 ms;
#  2. server 1 is SIGKILLed mid-run: no call fails, and the node registers through server 2
#     (its credential, issued by server 1, verifies there);
#  3. a new caller through server 2 sets up and calls the node after the kill;
# (An id held through one server and refused through the other, the engine restarted, and relay
# order: tests/signaling/cluster_test.cpp; WebRTC that stays up: tests/webrtc/node_cluster_test.cpp.)
#   cluster_cli.sh /path/to/actr
set -euo pipefail
ACTR="$1"
source "$(dirname "$0")/lib.sh"
command -v redis-server >/dev/null || fail "redis-server is not installed (scripts/setup-deps.sh installs it)"

SOCK="$W/redis.sock"
start redis -- redis-server --port 0 --unixsocket "$SOCK" --save '' --appendonly no --logfile ''
wait_line redis 'ready to accept connections' >/dev/null
ENGINE="unix://$SOCK"
# wait_log FILE PATTERN: until FILE has a line matching PATTERN (20 s at most, checked every 50 ms).
wait_log() {
  local i
  for i in $(seq 400); do
    grep -qE -- "$2" "$1" 2>/dev/null && return 0
    read -r -t 0.05 <> <(:) || true
  done
  fail "$1 never logged '$2': $(tail -5 "$1")"
}

start s1 -- "$ACTR" --log-level info signal --listen 127.0.0.1:0 --cluster "$ENGINE" --key-dir "$W/keys" --cluster-ttl-ms 3000
S1="ws://127.0.0.1:$(wait_line s1 'listening 127\.0\.0\.1:[0-9]+' | sed 's/.*://')/"
S1_PID="${PIDS[-1]}"
start s2 -- "$ACTR" --log-level info signal --listen 127.0.0.1:0 --cluster "$ENGINE" --key-dir "$W/keys" --cluster-ttl-ms 3000
S2="ws://127.0.0.1:$(wait_line s2 'listening 127\.0\.0\.1:[0-9]+' | sed 's/.*://')/"
echo "ok   two servers on one engine: $S1 $S2"

start node -- "$ACTR" --log-level warn node --id 1@101/acme:echo:1.0.0 --listen 127.0.0.1:0 --echo --signal "$S1,$S2"
line="$(wait_line node 'listening on ws://[0-9.:]+/')"
URL="${line#listening on }"
wait_line node "^registered with $S1\$" >/dev/null
echo "ok   node registered through server 1"

"$ACTR" --log-level warn call --to 1@101/acme:echo:1.0.0 --url "$URL" --signal "$S2" --count 80 --interval-ms 50 \
  --timeout-ms 5000 --json >"$W/call1.json" 2>"$W/call1.err" &
CALL=$!
# Server 1 dies once the caller is registered through server 2 (its calls have begun).
wait_log "$W/s2.err" "registered ca11e2@101/actr:cli:1.0.0"
kill -9 "$S1_PID"
echo "ok   server 1 SIGKILLed"
wait "$CALL" || true
grep -q '"ok":80' "$W/call1.json" || fail "calls across the kill: $(cat "$W/call1.json") $(tail -5 "$W/call1.err")"
echo "ok   80/80 calls across the kill: $(cat "$W/call1.json")"

# The node moved: server 2 registers it (with the credential server 1 issued; one key directory).
wait_log "$W/s2.err" "registered 1@101/acme:echo:1.0.0"
echo "ok   the node re-registered through server 2"

"$ACTR" --log-level warn call --to 1@101/acme:echo:1.0.0 --url "$URL" --signal "$S2" --count 20 --timeout-ms 5000 \
  --json >"$W/call2.json" 2>"$W/call2.err" || fail "a new caller after the kill: $(cat "$W/call2.json") $(tail -5 "$W/call2.err")"
grep -q '"ok":20' "$W/call2.json" || fail "a new caller after the kill: $(cat "$W/call2.json")"
echo "ok   a new caller through server 2: $(cat "$W/call2.json")"
