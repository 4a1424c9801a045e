#!/usr/bin/env bash
# TLS end to end with the CLI on 127.0.0.1 (issue 10, item 6). The certificates are made here, in
# a temporary directory, with the openssl command.
#  1. bad --tls-cert / --tls-key / --ca files: a clear error naming the file, exit 2, at once;
#  2. `actr signal` and two `actr node`s serving wss://, registered with signaling over wss://;
#  3. `actr call --url wss://` with the right --ca: every call answered, on both nodes;
#  4. with no --ca (system store) or a wrong one: the typed TLS error and OpenSSL's reason, exit 1,
#     well inside the call deadline (at once, not after retries);
#  5. `actr node --signal wss://` with the wrong CA: the TLS error, exit 1, one attempt in its log.
#   tls_cli.sh /path/to/actr
set -euo pipefail
ACTR="$1"
source "$(dirname "$0")/lib.sh"

cert() {  # cert NAME SAN: a self-signed P-256 certificate NAME.pem and its key NAME.key
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 -subj "/CN=$1" \
    -addext "subjectAltName=$2" -keyout "$W/$1.key" -out "$W/$1.pem" 2>/dev/null
}
cert server "DNS:localhost,IP:127.0.0.1"
cert other "DNS:localhost,IP:127.0.0.1"

# expect_start_error WHAT PATTERN -- CMD...: CMD exits 2 at once with PATTERN on stderr.
expect_start_error() {
  local what="$1" pattern="$2"; shift 3
  local rc=0
  timeout 20 "$@" >"$W/out" 2>"$W/err" || rc=$?
  [ "$rc" -eq 2 ] || fail "$what: exit $rc, want 2 ($(cat "$W/err"))"
  grep -qF -- "$pattern" "$W/err" || fail "$what: stderr lacks '$pattern': $(cat "$W/err")"
  echo "ok   $what: $(head -1 "$W/err")"
}
expect_start_error "missing certificate file" "--tls-cert $W/missing.pem: cannot read: No such file or directory" -- \
  "$ACTR" signal --listen 127.0.0.1:0 --tls-cert "$W/missing.pem" --tls-key "$W/server.key"
expect_start_error "certificate given as the key" "--tls-key $W/server.pem: private key:" -- \
  "$ACTR" node --id 1@101/acme:echo:1.0.0 --listen 127.0.0.1:0 --tls-cert "$W/server.pem" --tls-key "$W/server.pem"
expect_start_error "key of another certificate" "the private key does not match the certificate" -- \
  "$ACTR" signal --listen 127.0.0.1:0 --tls-cert "$W/server.pem" --tls-key "$W/other.key"
expect_start_error "certificate without its key" "--tls-cert and --tls-key go together" -- \
  "$ACTR" node --id 1@101/acme:echo:1.0.0 --listen 127.0.0.1:0 --tls-cert "$W/server.pem"
echo "not a certificate" >"$W/garbage.pem"
expect_start_error "unreadable CA bundle" "--ca $W/garbage.pem: CA certificates:" -- \
  "$ACTR" call --to 1@101/acme:echo:1.0.0 --url wss://127.0.0.1:1/ --ca "$W/garbage.pem"

start signal -- "$ACTR" --log-level info signal --listen 127.0.0.1:0 --tls-cert "$W/server.pem" --tls-key "$W/server.key"
SIG="$(wait_line signal 'listening 127\.0\.0\.1:[0-9]+ wss')"
SIG_URL="wss://127.0.0.1:$(sed -E 's/listening 127\.0\.0\.1:([0-9]+) wss/\1/' <<<"$SIG")/"
URLS=()
for n in 1 2; do
  start "node$n" -- "$ACTR" --log-level info node --id "$n@101/acme:echo:1.0.0" --listen 127.0.0.1:0 --echo \
    --wires ws --tls-cert "$W/server.pem" --tls-key "$W/server.key" --ca "$W/server.pem" --signal "$SIG_URL"
  line="$(wait_line "node$n" 'listening on wss://[0-9.:]+/')"
  URLS+=("${line#listening on }")
  wait_line "node$n" "^registered with $SIG_URL\$" >/dev/null
  echo "ok   node $n serves ${URLS[-1]} and registered with $SIG_URL"
done

for n in 1 2; do
  "$ACTR" call --to "$n@101/acme:echo:1.0.0" --url "${URLS[$((n - 1))]}" --ca "$W/server.pem" --count 20 --json \
    >"$W/call$n.json" 2>"$W/call$n.err" || fail "call to node $n: $(cat "$W/call$n.json" "$W/call$n.err")"
  grep -q '"ok":20' "$W/call$n.json" || fail "call to node $n: $(cat "$W/call$n.json")"
  echo "ok   actr call --url ${URLS[$((n - 1))]} --ca: 20/20"
done

# expect_tls_failure WHAT -- CMD...: exit 1, the typed error and OpenSSL's reason, well inside the
# 30 s call deadline (and the 10 s send deadline).
expect_tls_failure() {
  local what="$1"; shift 2
  local t0 rc=0
  t0="$(ms)"
  "$@" >"$W/bad.out" 2>"$W/bad.err" || rc=$?
  local took=$(( $(ms) - t0 ))
  [ "$rc" -eq 1 ] || fail "$what: exit $rc, want 1: $(cat "$W/bad.out" "$W/bad.err")"
  grep -q "error tls_certificate_untrusted" "$W/bad.out" || fail "$what: no typed error: $(cat "$W/bad.out")"
  grep -q "TLS: ${URLS[0]}: certificate verify failed: self-signed certificate" "$W/bad.out" ||
    fail "$what: no reason: $(cat "$W/bad.out")"
  # Process start and exit (ASan, on a shared machine) included: about 0.4 s when idle. A
  # timeout would take the call's 30 s; the retries of old took several seconds, then no_route.
  [ "$took" -lt 8000 ] || fail "$what: took $took ms"
  echo "ok   $what: tls_certificate_untrusted in $took ms"
}
expect_tls_failure "actr call without --ca" -- \
  "$ACTR" call --to 1@101/acme:echo:1.0.0 --url "${URLS[0]}" --count 5 --timeout-ms 30000
expect_tls_failure "actr send with the wrong --ca" -- \
  "$ACTR" send --to 1@101/acme:echo:1.0.0 --url "${URLS[0]}" --ca "$W/other.pem" --count 5

# A node that cannot trust its signaling server: the TLS error on stderr, exit 1, no retry loop.
rc=0
t0="$(ms)"
timeout 30 "$ACTR" --log-level info node --id 3@101/acme:echo:1.0.0 --listen 127.0.0.1:0 --wires ws \
  --ca "$W/other.pem" --signal "$SIG_URL" >"$W/node3.out" 2>"$W/node3.err" || rc=$?
took=$(( $(ms) - t0 ))
[ "$rc" -eq 1 ] || fail "node with the wrong CA: exit $rc, want 1: $(cat "$W/node3.err")"
grep -qF "actr node: signaling $SIG_URL: tls_certificate_untrusted (certificate verify failed: self-signed certificate)" \
  "$W/node3.err" || fail "node with the wrong CA: $(cat "$W/node3.err")"
attempts="$(grep -c "TLS handshake with $SIG_URL failed" "$W/node3.err" || true)"
[ "$attempts" -eq 1 ] || fail "node with the wrong CA: $attempts TLS attempts, want 1: $(cat "$W/node3.err")"
echo "ok   actr node --signal $SIG_URL with the wrong --ca: exit 1 after $took ms, $attempts attempt"
echo "all passed"
