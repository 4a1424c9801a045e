#!/usr/bin/env bash
# Installs every Debian package the build, tests and demo need. Non-interactive and idempotent:
# when everything is already installed it does not touch apt at all.
set -euo pipefail

PKGS=(
  build-essential cmake pkg-config ninja-build
  libboost1.81-dev libssl-dev
  libspdlog-dev libfmt-dev libprotobuf-dev protobuf-compiler libcli11-dev nlohmann-json3-dev
  # `--metrics` of `actr node` / `actr signal`: Prometheus exposition (the program only, not the library)
  prometheus-cpp-dev
  # cli.metrics scrapes /metrics with curl (a minimal Debian 12 has none)
  curl
  libgtest-dev libgmock-dev libbenchmark-dev
  # The libFuzzer targets (fuzz/): clang 14 and its sanitizer/fuzzer runtimes (only Recommended by clang)
  clang libclang-rt-14-dev
  # WebRTC wire: GStreamer webrtcbin (plugins-bad: webrtcbin, dtls, srtp, sctp; -good: rtpmanager;
  # -base: app/sdp; gstreamer1.0-nice: the ICE agent)
  libgstreamer1.0-dev libgstreamer-plugins-base1.0-dev libgstreamer-plugins-bad1.0-dev
  gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-plugins-bad gstreamer1.0-nice
  # The browser peer of the interop test (tests/interop/browser_peer.mjs, driven by playwright-core
  # from npm, which downloads no browser of its own)
  chromium
  # The API reference (cmake --build <dir> --target actr_docs; test docs.api)
  doxygen
  # The ZeroMQ column of `actr bench ws` (benchmark-only)
  libzmq3-dev
  # `actr signal --cluster redis://…`: the shared engine of several signaling servers (hiredis),
  # and the redis-server the cluster tests start on loopback
  libhiredis-dev redis-server
)

missing=()
for p in "${PKGS[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done

# Node.js runs the interop tests' independent peers (npm packages); any node >= 18 will do.
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then missing+=(nodejs npm); fi

if [ ${#missing[@]} -eq 0 ]; then
  echo "setup-deps: all ${#PKGS[@]} packages present"
else
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
  echo "setup-deps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  # libboost1.81-dev conflicts with the default 1.74 -dev packages; apt removes those (-y accepts the removal).
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# npm packages of the interop tests, pinned by tests/interop/package-lock.json.
INTEROP="$(dirname "$0")/../tests/interop"
if [ ! -d "$INTEROP/node_modules" ] || [ "$INTEROP/package-lock.json" -nt "$INTEROP/node_modules/.package-lock.json" ]; then
  echo "setup-deps: npm ci in tests/interop"
  (cd "$INTEROP" && npm ci --no-audit --no-fund --loglevel=error)
fi
