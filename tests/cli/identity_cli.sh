#!/usr/bin/env bash
# Identity with the CLI on 127.0.0.1 (issue 10):
#  1. `actr signal --key-dir` creates its signing key (directory 0700, key 0600) and keeps it: a
#     second start signs with the same key file;
#  2. `actr node --require-identity --signal` registers and serves only credentialed peers:
#     `actr call` (no credential) is refused with authentication_error at once, exit 1, and after
#     one attempt (HTTP 401 before the upgrade, never a timeout);
#  3. --require-identity without --signal is a start-up error;
#  4. with `actr signal --require-identity --ais-open`: `actr node --signal --credential FILE`
#     gets its identity from the AIS (the server picks the serial), keeps it in FILE (0600) and
#     registers; `actr call --signal` (AIS identity) and `actr send --credential FILE` are served;
#     `actr call` without one is refused 401 at once; the node restarted on its FILE is the same
#     actor and registers again at once; a node with no identity is refused by that server.
#   identity_cli.sh /path/to/actr
set -euo pipefail
ACTR="$1"
source "$(dirname "$0")/lib.sh"

KEYS="$W/keys"
start signal -- "$ACTR" --log-level info signal --listen 127.0.0.1:0 --key-dir "$KEYS"
SIG="$(wait_line signal 'listening 127\.0\.0\.1:[0-9]+')"
SIG_URL="ws://127.0.0.1:${SIG##*:}/"
[ "$(stat -c %a "$KEYS")" = 700 ] || fail "key directory mode $(stat -c %a "$KEYS")"
[ "$(stat -c %a "$KEYS/signing-key-1.pem")" = 600 ] || fail "key file mode $(stat -c %a "$KEYS/signing-key-1.pem")"
grep -q "signing with key 1 of $KEYS" "$W/signal.err" || fail "signal log: $(cat "$W/signal.err")"
SUM="$(sha256sum <"$KEYS/signing-key-1.pem")"
echo "ok   actr signal --key-dir: key 1 created (directory 0700, file 0600)"

start node -- "$ACTR" --log-level info node --id 1@101/acme:echo:1.0.0 --listen 127.0.0.1:0 --echo --wires ws \
  --signal "$SIG_URL" --require-identity
line="$(wait_line node 'listening on ws://[0-9.:]+/')"
URL="${line#listening on }"
wait_line node "^registered with $SIG_URL\$" >/dev/null
echo "ok   actr node --require-identity serves $URL and registered"

rc=0
t0="$(ms)"
"$ACTR" call --to 1@101/acme:echo:1.0.0 --url "$URL" --count 5 --timeout-ms 30000 >"$W/call.out" 2>"$W/call.err" || rc=$?
took=$(( $(ms) - t0 ))
[ "$rc" -eq 1 ] || fail "call without a credential: exit $rc, want 1: $(cat "$W/call.out" "$W/call.err")"
grep -qE "error authentication_error +1$" "$W/call.out" || fail "call without a credential: $(cat "$W/call.out")"
[ "$took" -lt 8000 ] || fail "call without a credential took $took ms"
echo "ok   actr call without a credential: authentication_error once, exit 1, in $took ms"

kill "${PIDS[0]}" 2>/dev/null || true  # signal restarts on the same key directory
start signal2 -- "$ACTR" --log-level info signal --listen 127.0.0.1:0 --key-dir "$KEYS"
wait_line signal2 'listening 127\.0\.0\.1:[0-9]+' >/dev/null
[ "$(sha256sum <"$KEYS/signing-key-1.pem")" = "$SUM" ] || fail "the key file changed on restart"
[ ! -e "$KEYS/signing-key-2.pem" ] || fail "a second key was made on restart"
grep -q "signing with key 1 of $KEYS" "$W/signal2.err" || fail "restart log: $(cat "$W/signal2.err")"
echo "ok   actr signal restarted on --key-dir signs with the same key"

rc=0
"$ACTR" node --id 2@101/acme:echo:1.0.0 --listen 127.0.0.1:0 --require-identity >/dev/null 2>"$W/bad.err" || rc=$?
[ "$rc" -eq 2 ] && grep -q -- "--require-identity needs --signal" "$W/bad.err" || fail "no --signal: exit $rc: $(cat "$W/bad.err")"
echo "ok   --require-identity without --signal: exit 2"

start signal3 -- "$ACTR" --log-level info signal --listen 127.0.0.1:0 --require-identity --ais-open
SIG3="$(wait_line signal3 'listening 127\.0\.0\.1:[0-9]+')"
SIG3_URL="ws://127.0.0.1:${SIG3##*:}/"
start node3 -- "$ACTR" --log-level info node --id 7@101/acme:echo:1.0.0 --listen 127.0.0.1:0 --echo --wires ws \
  --signal "$SIG3_URL" --require-identity --credential "$W/node3.json"
line="$(wait_line node3 'listening on ws://[0-9.:]+/ as [^ ]+')"
URL3="$(sed -E 's/listening on ([^ ]+) as .*/\1/' <<<"$line")"
ID3="${line##* as }"
wait_line node3 "^registered with $SIG3_URL\$" >/dev/null
[[ "$ID3" =~ ^[0-9a-f]+@101/acme:echo:1\.0\.0$ ]] || fail "node id $ID3"
[ "$ID3" != 7@101/acme:echo:1.0.0 ] || fail "the AIS kept the serial asked for"
[ "$(stat -c %a "$W/node3.json")" = 600 ] || fail "credential file mode $(stat -c %a "$W/node3.json")"
grep -q "\"actr_id\": \"$ID3\"" "$W/node3.json" || fail "credential file: $(cat "$W/node3.json")"
echo "ok   actr node --signal (require-identity server): AIS identity $ID3 kept in a 0600 file, registered"

"$ACTR" call --signal "$SIG3_URL" --to "$ID3" --url "$URL3" --count 3 --json >"$W/c3.out" 2>"$W/c3.err" ||
  fail "call --signal: $(cat "$W/c3.out" "$W/c3.err")"
grep -q '"ok":3' "$W/c3.out" || fail "call --signal: $(cat "$W/c3.out")"
echo "ok   actr call --signal: AIS identity, 3 of 3 answered"

"$ACTR" send --signal "$SIG3_URL" --credential "$W/caller.json" --to "$ID3" --url "$URL3" --count 2 >"$W/s3.out" 2>&1 ||
  fail "send --signal --credential: $(cat "$W/s3.out")"
"$ACTR" call --credential "$W/caller.json" --to "$ID3" --url "$URL3" --count 2 >"$W/c4.out" 2>&1 ||
  fail "call --credential: $(cat "$W/c4.out")"
echo "ok   actr send --signal --credential FILE wrote FILE; actr call --credential FILE is served with it"

rc=0
t0="$(ms)"
"$ACTR" call --to "$ID3" --url "$URL3" --count 5 --timeout-ms 30000 >"$W/c5.out" 2>&1 || rc=$?
took=$(( $(ms) - t0 ))
[ "$rc" -eq 1 ] && grep -qE "error authentication_error +1$" "$W/c5.out" || fail "no credential: exit $rc: $(cat "$W/c5.out")"
[ "$took" -lt 8000 ] || fail "call without a credential took $took ms"
echo "ok   actr call without a credential: refused (401) once, in $took ms"

kill "${PIDS[-1]}" 2>/dev/null || true
start node4 -- "$ACTR" --log-level info node --listen "${URL3#ws://}" --echo --wires ws \
  --signal "$SIG3_URL" --require-identity --credential "$W/node3.json"
line="$(wait_line node4 'listening on ws://[0-9.:]+/ as [^ ]+')"
[ "${line##* as }" = "$ID3" ] || fail "restarted node is ${line##* as }, want $ID3"
wait_line node4 "^registered with $SIG3_URL\$" >/dev/null
"$ACTR" call --credential "$W/caller.json" --to "$ID3" --url "$URL3" --count 1 >"$W/c6.out" 2>&1 ||
  fail "call after restart: $(cat "$W/c6.out")"
echo "ok   node restarted on its credential file (no --id): same id $ID3, registered, served"

rc=0
timeout 20 "$ACTR" --log-level info node --id 8@101/acme:echo:1.0.0 --listen 127.0.0.1:0 --wires ws \
  --signal "$SIG3_URL" --credential "$W/missing-dir/x.json" >"$W/n5.out" 2>"$W/n5.err" || rc=$?
[ "$rc" -eq 2 ] && grep -q -- "--credential: cannot" "$W/n5.err" || fail "unwritable credential file: exit $rc: $(cat "$W/n5.err")"
echo "ok   an unwritable --credential file: exit 2"
echo "all passed"
