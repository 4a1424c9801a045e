#!/usr/bin/env bash
# README command 1: installs the Debian packages, builds `actr` (Release) and runs `actr demo`:
# `actr signal` and echo nodes as separate processes on 127.0.0.1, every payload class over WebRTC
# and WebSocket, a WebRTC wire lost and regained, one node SIGKILLed and restarted, and a table of
# what happened. Extra arguments go to `actr demo`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup-deps.sh
GEN=(-G Ninja)
command -v ninja >/dev/null || GEN=()
cmake -S . -B build/release "${GEN[@]}" -DCMAKE_BUILD_TYPE=Release -DACTR_BUILD_TESTS=OFF -DACTR_BUILD_BENCH=OFF >/dev/null
cmake --build build/release -j "${JOBS:-2}" --target actr
exec build/release/apps/actr demo "$@"
