#!/usr/bin/env bash
# A bad argument is named, with what it should look like; exit 2 at once, no socket opened.
# And `actr call` into a pipe prints no terminal progress line; to a port where nothing listens
# it fails at once, typed.
#   bad_args.sh /path/to/actr
set -uo pipefail
ACTR="$1"
fail() { echo "FAIL $*"; exit 1; }
# expect WHAT PATTERN -- CMD...: CMD exits 2 and its stderr contains PATTERN.
expect() {
  local what="$1" pattern="$2"; shift 3
  local err rc
  err="$(timeout 20 "$@" 2>&1 >/dev/null)"; rc=$?
  [ "$rc" -eq 2 ] || fail "$what: exit $rc, want 2 ($err)"
  grep -qF -- "$pattern" <<<"$err" || fail "$what: stderr lacks '$pattern': $err"
  echo "ok   $what: $err"
}
expect "call --to garbage" "--to 'garbage' is not an ActrId (want SERIAL@REALM/MANUFACTURER:NAME:VERSION" -- \
  "$ACTR" call --to garbage --url ws://127.0.0.1:1/
expect "call --class nope" "--class 'nope' is not one of rpc, signal, stream, latency, tell" -- \
  "$ACTR" call --to 1@101/acme:echo:1.0.0 --url ws://127.0.0.1:1/ --class nope
expect "call --url nonsense" "--url 'nonsense' is not ws://HOST:PORT/ or wss://HOST:PORT/" -- \
  "$ACTR" call --to 1@101/acme:echo:1.0.0 --url nonsense
expect "send --url http://x" "--url 'http://127.0.0.1:1/' is not ws://HOST:PORT/" -- \
  "$ACTR" send --to 1@101/acme:echo:1.0.0 --url http://127.0.0.1:1/
expect "node --wires foo" "--wires 'foo' is not one of webrtc, ws" -- \
  "$ACTR" node --id 1@101/acme:echo:1.0.0 --listen 127.0.0.1:0 --wires foo
expect "node --id x --listen y" "--listen 'y' is not HOST:PORT" -- "$ACTR" node --id x --listen y
expect "node --id x" "--id 'x' is not an ActrId" -- "$ACTR" node --id x --listen 127.0.0.1:0
expect "signal --ais-allow-type acme" "--ais-allow-type acme: want MFR:NAME or MFR:NAME:VERSION" -- \
  "$ACTR" signal --listen 127.0.0.1:0 --ais-allow-type acme
expect "signal --ais-open with a secret" "--ais-open admits everyone" -- \
  "$ACTR" signal --listen 127.0.0.1:0 --ais-open --ais-allow-type acme:echo
expect "signal --ais-realm-secret-file missing" "--ais-realm-secret-file /nonexistent/secret" -- \
  "$ACTR" signal --listen 127.0.0.1:0 --ais-realm-secret-file /nonexistent/secret
# Output to a pipe: no \r progress line running into the summary.
out="$(timeout 30 "$ACTR" call --to 1@101/acme:echo:1.0.0 --url ws://127.0.0.1:1/ --count 3 --timeout-ms 300 2>&1)"
! grep -q $'\r' <<<"$out" || fail "progress line in a pipe: $out"
grep -q "^count 3 " <<<"$out" || fail "no summary line: $out"
echo "ok   actr call into a pipe: summary only"
# Nothing listens: the first call learns "connection refused" at once, the next ones
# "unreachable" without dialing; none waits out its 30 s deadline (timeout 20 would kill it).
out="$(timeout 20 "$ACTR" call --to 1@101/acme:echo:1.0.0 --url ws://127.0.0.1:1/ --count 3 --timeout-ms 30000 --json 2>/dev/null)"
grep -qF '"errors":{"connection_refused":1,"network_unreachable":2}' <<<"$out" || fail "refused port: $out"
echo "ok   actr call to a port where nothing listens: $out"
echo "all passed"
