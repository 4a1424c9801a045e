#!/usr/bin/env bash
# Identity with the CLI on 127.0.0.1 (issue 10):
#  1. `actr signal --key-dir` creates its signing key (directory 0700, key 0600) and keeps it: a
#     second start signs with the same key file;
#  2. `actr node --require-identity --signal` registers and serves only credentialed peers:
#     `actr call` (no credential) is refused with authentication_error at once, exit 1, and after
#     one attempt (HTTP 401 before the upgrade, never a timeout);
#  3. --require-identity without --signal is a start-up error.
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
echo "all passed"
