#!/usr/bin/env bash
# The API reference builds from the public headers (Doxygen) and has pages for the main types.
# Usage: api_docs.sh DOXYGEN DOXYFILE OUTPUT_DIR
set -euo pipefail
doxygen=$1 doxyfile=$2 out=$3
rm -rf "$out/html"
mkdir -p "$out"
timeout 240 "$doxygen" "$doxyfile"
for page in index.html classactr_1_1Node.html classactr_1_1OutprocTransportManager.html \
            classactr_1_1WireHandle.html classactr_1_1DataLane.html classactr_1_1WirePool.html; do
  if [ ! -s "$out/html/$page" ]; then
    echo "api_docs: $page missing from $out/html" >&2
    exit 1
  fi
done
# The class page carries the header's contract comment, not only the declaration.
if ! grep -q "One outbound QoS lane" "$out/html/classactr_1_1DataLane.html"; then
  echo "api_docs: DataLane's page has no text from its comments" >&2
  exit 1
fi
if grep -q "error:" "$out/warnings.log" 2>/dev/null; then
  grep "error:" "$out/warnings.log" >&2
  exit 1
fi
echo "api_docs: $(ls "$out/html" | wc -l) files in $out/html"
