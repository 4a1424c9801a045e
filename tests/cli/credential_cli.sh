#!/usr/bin/env bash
# Offline credentials on 127.0.0.1:
#  1. `actr credential issue --key-dir D --id ID --out FILE` writes FILE 0600; `inspect FILE
#     --key-dir D` says valid (exit 0), as JSON too, and from stdin; against another key
#     directory (another key 1) it is invalid (exit 1, credential_invalid); a 1 s credential expires;
#  2. what it issues is accepted by `actr signal --key-dir D --require-identity` (a node with
#     --credential registers) and by that node's gate (`actr call --credential` is served).
#   credential_cli.sh /path/to/actr
set -euo pipefail
ACTR="$1"
source "$(dirname "$0")/lib.sh"

KEYS="$W/keys"
"$ACTR" credential issue --key-dir "$KEYS" --id 5@101/acme:cli:1.0.0 --ttl-s 600 --out "$W/cli.json"
[ "$(stat -c %a "$W/cli.json")" = 600 ] || fail "credential file mode $(stat -c %a "$W/cli.json")"
out="$("$ACTR" credential inspect "$W/cli.json" --key-dir "$KEYS")" || fail "inspect: $out"
grep -qE "^status +valid$" <<<"$out" && grep -qE "^actor +5@101/acme:cli:1\.0\.0$" <<<"$out" || fail "inspect: $out"
json="$("$ACTR" credential inspect - --key-dir "$KEYS" --json <"$W/cli.json")" || fail "inspect -: $json"
grep -q '"status":"valid"' <<<"$json" && grep -q '"claims_actor_id":"5@101/acme:cli:1.0.0"' <<<"$json" ||
  fail "inspect --json: $json"
echo "ok   credential issue: 0600 file; inspect: valid (text, JSON, stdin)"

rc=0
out="$("$ACTR" credential inspect "$W/cli.json" --key-dir "$W/other-keys" --json)" || rc=$?
[ "$rc" -eq 1 ] && grep -q '"status":"invalid"' <<<"$out" && grep -q '"error":"credential_invalid"' <<<"$out" ||
  fail "another key directory: exit $rc: $out"
echo "ok   inspect against another key directory: invalid (credential_invalid), exit 1"

"$ACTR" credential issue --key-dir "$KEYS" --id 6@101/acme:cli:1.0.0 --ttl-s 1 --out "$W/short.json"
deadline=$(( $(ms) + 10000 ))
# Bounded wait for the second that ends it (inspect exits 1 from then on).
while out="$("$ACTR" credential inspect "$W/short.json" --key-dir "$KEYS" --json)"; do
  [ "$(ms)" -lt "$deadline" ] || fail "a 1 s credential still valid after 10 s: $out"
done
grep -q '"status":"expired"' <<<"$out" || fail "short credential: $out"
echo "ok   a 1 s credential: expired, exit 1"

"$ACTR" credential issue --key-dir "$KEYS" --id 9@101/acme:echo:1.0.0 --out "$W/node.json"
start signal -- "$ACTR" --log-level info signal --listen 127.0.0.1:0 --key-dir "$KEYS" --require-identity
SIG="$(wait_line signal 'listening 127\.0\.0\.1:[0-9]+')"
SIG_URL="ws://127.0.0.1:${SIG##*:}/"
start node -- "$ACTR" --log-level info node --credential "$W/node.json" --listen 127.0.0.1:0 --echo --wires ws \
  --signal "$SIG_URL" --require-identity
line="$(wait_line node 'listening on ws://[0-9.:]+/ as [^ ]+')"
[ "${line##* as }" = 9@101/acme:echo:1.0.0 ] || fail "node id: $line"
URL="$(sed -E 's/listening on ([^ ]+) as .*/\1/' <<<"$line")"
wait_line node "^registered with $SIG_URL\$" >/dev/null
"$ACTR" call --credential "$W/cli.json" --to 9@101/acme:echo:1.0.0 --url "$URL" --count 3 >"$W/call.out" 2>&1 ||
  fail "call --credential: $(cat "$W/call.out")"
echo "ok   offline credentials: the node registers with a --require-identity signal on the same keys; call served"
echo "all passed"
