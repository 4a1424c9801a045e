#!/usr/bin/env bash
# Builds and runs every test: the whole suite under ASan+UBSan, then the concurrency-labelled
# suites again under TSan, then a short run of each libFuzzer target (clang; fuzz/). Installs its
# Debian packages first. Exit code 0 only if all pass.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup-deps.sh

JOBS="${JOBS:-2}"
GEN=(-G Ninja)
command -v ninja >/dev/null || GEN=()

echo "== ASan+UBSan build (all tests) =="
# Shared libraries: the library sits on disk once, not in each of the ~16 test binaries
# (about 12 GB static, which once filled a CI machine's disk).
df -h . | tail -1 | awk '{print "disk: " $4 " free before the build"}'
cmake -S . -B build/asan "${GEN[@]}" -DCMAKE_BUILD_TYPE=Debug -DBUILD_SHARED_LIBS=ON \
  -DACTR_SANITIZE='address;undefined' -DACTR_WARNINGS_AS_ERRORS=ON -DACTR_BUILD_BENCH=ON
cmake --build build/asan -j "$JOBS"
du -sh build/asan | awk '{print "disk: build/asan takes " $1}'
export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1:strict_string_checks=1"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
ctest --test-dir build/asan --output-on-failure -j "$JOBS" --timeout 600

echo "== TSan build (concurrency tests) =="
cmake -S . -B build/tsan "${GEN[@]}" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DACTR_SANITIZE=thread -DACTR_WARNINGS_AS_ERRORS=ON -DACTR_BUILD_BENCH=OFF
cmake --build build/tsan -j "$JOBS" --target actr_core_tests actr_stress_tests actr_signaling_stress_tests actr_cluster_tests
export TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1"
ctest --test-dir build/tsan -L concurrency --output-on-failure --timeout 900

echo "== libFuzzer build (short run of each fuzz target) =="
# Only the fuzz targets and the little they link (actr_base, two pure seams): about a minute.
cmake -S . -B build/fuzz "${GEN[@]}" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_COMPILER=clang++ \
  -DACTR_BUILD_FUZZ=ON -DACTR_BUILD_TESTS=OFF -DACTR_BUILD_BENCH=OFF -DACTR_WARNINGS_AS_ERRORS=ON
cmake --build build/fuzz -j "$JOBS" --target actr_fuzz
ctest --test-dir build/fuzz -L fuzz --output-on-failure -j "$JOBS"
