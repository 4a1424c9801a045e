// libFuzzer target: the WebSocket data frames our connection writer serialises itself
// (src/wire/websocket/ws_frame.hpp). The input's first byte picks masked or not and a seed for the
// masking key; the rest is the payload. Invariants, checked with a decoder written here from
// RFC 6455 §5.2: one final binary frame, the mask bit as asked, the shortest length encoding,
// and unmasking gives back the payload; masking twice restores the bytes.
#include "fuzz_check.hpp"

#include "wire/websocket/ws_frame.hpp"

#include <cstdint>
#include <cstring>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const bool masked = (data[0] & 1) != 0;
  actr::ws::MaskSource keys(data[0]);
  std::uint8_t key[4];
  keys.next(key);
  const std::uint8_t* payload = data + 1;
  const std::size_t n = size - 1;

  std::vector<std::uint8_t> frame(actr::ws::frame_size(n, masked));
  actr::ws::write_frame(frame.data(), payload, n, masked ? key : nullptr);
  std::uint8_t header[actr::ws::kMaxFrameHeader];
  const auto h = actr::ws::write_frame_header(header, n, masked ? key : nullptr);
  FUZZ_CHECK(h <= actr::ws::kMaxFrameHeader && h + n == frame.size());
  FUZZ_CHECK(std::memcmp(header, frame.data(), h) == 0);

  // Decode.
  FUZZ_CHECK(frame.size() >= 2);
  FUZZ_CHECK(frame[0] == 0x82);
  FUZZ_CHECK(((frame[1] & 0x80) != 0) == masked);
  std::size_t at = 2;
  std::uint64_t len = frame[1] & 0x7f;
  if (len == 126) {
    len = (std::uint64_t{frame[2]} << 8) | frame[3];
    FUZZ_CHECK(len >= 126);  // shortest encoding
    at = 4;
  } else if (len == 127) {
    len = 0;
    for (int i = 0; i < 8; ++i) len = (len << 8) | frame[static_cast<std::size_t>(2 + i)];
    FUZZ_CHECK(len > 0xffff && (len >> 63) == 0);
    at = 10;
  }
  FUZZ_CHECK(len == n);
  std::uint8_t got_key[4] = {0, 0, 0, 0};
  if (masked) {
    std::memcpy(got_key, frame.data() + at, 4);
    at += 4;
  }
  FUZZ_CHECK(at == h);
  for (std::size_t i = 0; i < n; ++i) {
    const std::uint8_t b = masked ? static_cast<std::uint8_t>(frame[at + i] ^ got_key[i % 4]) : frame[at + i];
    FUZZ_CHECK(b == payload[i]);
  }
  if (masked) {
    actr::ws::apply_mask(frame.data() + at, n, got_key);
    actr::ws::apply_mask(frame.data() + at, n, got_key);
    for (std::size_t i = 0; i < n; ++i) FUZZ_CHECK((frame[at + i] ^ got_key[i % 4]) == payload[i]);
  }
  return 0;
}
