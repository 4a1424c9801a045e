# Shared by the CLI tests: a temporary directory W, background processes started with `start`
# and read line by line with `wait_line`, all killed and W removed on exit.
W="$(mktemp -d)"
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$W"
}
trap cleanup EXIT
fail() { echo "FAIL $*"; exit 1; }
ms() { date +%s%3N; }

# start NAME -- CMD...: runs CMD in the background, its stdout readable line by line on fd
# ${FD[NAME]}, its stderr in NAME.err.
declare -A FD
start() {
  local name="$1" fd; shift 2
  exec {fd}< <(exec "$@" 2>"$W/$name.err")
  PIDS+=($!)
  FD[$name]=$fd
}
# wait_line NAME PATTERN: reads NAME's stdout until a line matches PATTERN (20 s at most per
# line: each read waits for the child to write); prints the match.
wait_line() {
  local line m
  while IFS= read -r -t 20 -u "${FD[$1]}" line; do
    if m="$(grep -oE -m1 -- "$2" <<<"$line")"; then echo "$m"; return 0; fi
  done
  fail "$1 never printed '$2': $(cat "$W/$1.err")"
}
