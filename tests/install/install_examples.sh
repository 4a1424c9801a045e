#!/usr/bin/env bash
# Issue 13 item 1: the library as another project sees it. Installs this (already built) build
# tree into a scratch prefix, checks what landed there and that pkg-config finds and links the
# package, configures examples/ as a separate CMake project against the prefix
# (find_package(actr_transport CONFIG)), builds it with -Werror and runs every example: echo,
# the counting WireBuilder, WebRTC through the embedded SignalingServer and through the installed
# `actr signal`.
#   install_examples.sh BUILD_DIR EXAMPLES_DIR CXX_COMPILER [COMPILER_LAUNCHER]
set -uo pipefail
BUILD="$1"
EXAMPLES="$2"
CXX="$3"
LAUNCHER="${4:-}"
source "$(dirname "$0")/../cli/lib.sh"
# A fixed place under the build tree rather than $W: the same paths on every run let ccache
# (when the build uses it) reuse the examples' objects. Wiped before and after.
S="$BUILD/install-test"
rm -rf "$S"
trap 'cleanup; rm -rf "$S"' EXIT
P="$S/prefix"

# 1. Install into the scratch prefix.
cmake --install "$BUILD" --prefix "$P" >"$W/install.log" 2>&1 || fail "cmake --install: $(tail -20 "$W/install.log")"
LIBDIR="$(cd "$P" && dirname "$(find . -name actr_transport.pc)" | sed 's|^\./||; s|/pkgconfig$||')"
for f in bin/actr include/actr/node.hpp include/actr/wire.hpp include/actr/proto/package.pb.h \
         "$LIBDIR/cmake/actr_transport/actr_transportConfig.cmake" \
         "$LIBDIR/cmake/actr_transport/actr_transportConfigVersion.cmake"; do
  [ -e "$P/$f" ] || fail "not installed: $f"
done
# Static by default; scripts/test.sh builds the sanitized tree with BUILD_SHARED_LIBS=ON.
for l in actr_transport actr_base actr_proto; do
  [ -e "$P/$LIBDIR/lib$l.a" ] || [ -e "$P/$LIBDIR/lib$l.so" ] || fail "not installed: $LIBDIR/lib$l.{a,so}"
done
echo "ok   installed into $P (libdir $LIBDIR)"

# 2. pkg-config: the flags name the prefix, and a program built with nothing else links.
export PKG_CONFIG_PATH="$P/$LIBDIR/pkgconfig"
flags="$(pkg-config --cflags --libs actr_transport)" || fail "pkg-config --cflags --libs actr_transport"
grep -q -- "-lactr_transport" <<<"$flags" || fail "pkg-config libs lack -lactr_transport: $flags"
cat >"$W/pc.cpp" <<'CPP'
#include <actr/types.hpp>
int main() { return actr::ActrId::parse("1@101/acme:echo:1.0.0") ? 0 : 1; }
CPP
# shellcheck disable=SC2086  # the flags are a word list
"$CXX" "$W/pc.cpp" -o "$W/pc" $flags 2>"$W/pc.err" || fail "build with pkg-config flags: $(cat "$W/pc.err")"
LD_LIBRARY_PATH="$P/$LIBDIR" "$W/pc" || fail "the pkg-config-built program failed"
echo "ok   pkg-config --cflags --libs actr_transport builds and links a program"

# 3. examples/ out of tree against the prefix; warnings are errors.
GEN=()
command -v ninja >/dev/null && GEN=(-G Ninja)
cfg=(-S "$EXAMPLES" -B "$S/examples" "${GEN[@]}" -DCMAKE_BUILD_TYPE=Debug -DCMAKE_PREFIX_PATH="$P"
     -DCMAKE_CXX_COMPILER="$CXX" -DEXAMPLES_WARNINGS_AS_ERRORS=ON)
[ -n "$LAUNCHER" ] && cfg+=(-DCMAKE_CXX_COMPILER_LAUNCHER="$LAUNCHER")
cmake "${cfg[@]}" >"$W/cfg.log" 2>&1 || fail "configure examples: $(tail -30 "$W/cfg.log")"
cmake --build "$S/examples" -j2 >"$W/build.log" 2>&1 || fail "build examples: $(tail -40 "$W/build.log")"
echo "ok   examples/ configured and built against the installed package"

# 4. Each example exits 0 on success; each has its own deadline, `timeout` is only a backstop.
run() {
  local out rc
  out="$(timeout 60 "$@" 2>"$W/run.err")"; rc=$?
  [ "$rc" -eq 0 ] || fail "$* exited $rc: $out $(cat "$W/run.err")"
  echo "ok   $(basename "$1") ${*:2}: $(grep -v '^\[' <<<"$out" | tail -1)"
}
run "$S/examples/echo"
run "$S/examples/counting_wire_builder"
run "$S/examples/webrtc_echo"
start signal -- "$P/bin/actr" signal --listen 127.0.0.1:0
port="$(wait_line signal 'listening 127\.0\.0\.1:[0-9]+' | grep -oE '[0-9]+$')"
run "$S/examples/webrtc_echo" "ws://127.0.0.1:$port/"
echo "all passed"
