#!/usr/bin/env bash
# Two `actr call` processes with the same (default) --id call one `actr node --echo` at once,
# without re-sending (as an actr caller does not): each must get every answer on its own
# connection. Before answers went back on the connection that asked, one of them got 20/20
# timeout_error.   two_callers_one_id.sh /path/to/actr
set -euo pipefail
ACTR="$1"
WORK="$(mktemp -d)"
NODE_PID=""
cleanup() { [ -n "$NODE_PID" ] && kill "$NODE_PID" 2>/dev/null; wait 2>/dev/null; rm -rf "$WORK"; }
trap cleanup EXIT

exec 3< <(exec "$ACTR" node --id 1@101/acme:echo:1.0.0 --listen 127.0.0.1:0 --echo --log-level warn)
NODE_PID=$!
URL=""
while IFS= read -r -t 20 -u 3 line; do  # the node's first line names its address (20 s at most)
  URL="$(grep -o 'ws://[0-9.:]*/' <<<"$line" || true)"
  [ -n "$URL" ] && break
done
[ -n "$URL" ] || { echo "FAIL node never printed its address"; exit 1; }

CALLERS=()
for i in 1 2; do
  "$ACTR" call --to 1@101/acme:echo:1.0.0 --url "$URL" --count 20 --resend-ms 0 --timeout-ms 3000 --json \
    >"$WORK/call$i.json" 2>"$WORK/call$i.err" &
  CALLERS+=($!)
done
for p in "${CALLERS[@]}"; do wait "$p" || true; done
pass=0 fail=0
for i in 1 2; do
  if grep -q '"ok":20' "$WORK/call$i.json"; then
    echo "ok   caller $i: $(cat "$WORK/call$i.json")"; pass=$((pass + 1))
  else
    echo "FAIL caller $i: $(cat "$WORK/call$i.json") $(tail -3 "$WORK/call$i.err")"; fail=$((fail + 1))
  fi
done
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
