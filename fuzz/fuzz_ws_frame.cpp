// libFuzzer target: the WebSocket data frames our connection serialises and parses itself
// (src/wire/websocket/ws_frame.hpp). Checked with a decoder written here from RFC 6455 §5.2:
//  - writing: the input's first byte picks masked or not and a seed for the masking key, the rest
//    is the payload. One final binary frame, the mask bit as asked, the shortest length encoding,
//    and unmasking gives back the payload; masking twice restores the bytes. `parse_frame` reads
//    the frame back as Data with that header and payload.
//  - parsing: the whole input as a read buffer, in both roles. `parse_frame` says Data exactly
//    when the reference decoder sees a complete header of a final, unextended, binary frame with
//    the role's mask bit, the shortest length encoding and a payload within the limit; Incomplete
//    exactly when the header has not all arrived and nothing seen so far rules the frame out.
#include "fuzz_check.hpp"

#include "wire/websocket/ws_frame.hpp"

#include <cstdint>
#include <cstring>
#include <vector>

namespace {

// Reference reading of the frame at the front of `p` (RFC 6455 §5.2), for the parse check.
void check_parse(const std::uint8_t* p, std::size_t n, bool from_client, std::uint64_t limit) {
  using actr::ws::FrameHead;
  const auto f = actr::ws::parse_frame(p, n, from_client, limit);
  if (n < 2) {
    FUZZ_CHECK(f.kind == FrameHead::Incomplete);
    return;
  }
  const bool fin = (p[0] & 0x80) != 0, rsv = (p[0] & 0x70) != 0, binary = (p[0] & 0x0f) == 2;
  const bool masked = (p[1] & 0x80) != 0;
  const bool plain = fin && !rsv && binary && masked == from_client;
  const std::size_t ext = (p[1] & 0x7f) == 126 ? 2 : (p[1] & 0x7f) == 127 ? 8 : 0;
  const std::size_t header = 2 + ext + (masked ? 4 : 0);
  if (!plain) {
    FUZZ_CHECK(f.kind == FrameHead::Other);
    return;
  }
  if (n < header) {
    FUZZ_CHECK(f.kind == FrameHead::Incomplete);
    return;
  }
  std::uint64_t len = p[1] & 0x7f;
  if (ext > 0) {
    len = 0;
    for (std::size_t i = 0; i < ext; ++i) len = len * 256 + p[2 + i];
  }
  const bool shortest = ext == 0 || (ext == 2 && len >= 126) || (ext == 8 && len >= 65536 && len < (1ull << 63));
  if (!shortest || len > limit) {
    FUZZ_CHECK(f.kind == FrameHead::Other);
    return;
  }
  FUZZ_CHECK(f.kind == FrameHead::Data);
  FUZZ_CHECK(f.header == header && f.payload == len);
  FUZZ_CHECK(masked ? f.mask == p + 2 + ext : f.mask == nullptr);
  const auto extent = actr::ws::frame_extent(p, n);
  FUZZ_CHECK(extent && *extent == header + len);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  for (std::size_t cut : {std::size_t{1}, std::size_t{2}, std::size_t{5}, size}) {
    const std::size_t n = cut < size ? cut : size;
    check_parse(data, n, true, 1u << 20);
    check_parse(data, n, false, 1u << 20);
    check_parse(data, n, data[0] & 1, 100);
  }
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
  const auto back = actr::ws::parse_frame(frame.data(), frame.size(), masked, n);
  FUZZ_CHECK(back.kind == actr::ws::FrameHead::Data && back.header == h && back.payload == n);
  if (masked) {
    actr::ws::apply_mask(frame.data() + at, n, got_key);
    actr::ws::apply_mask(frame.data() + at, n, got_key);
    for (std::size_t i = 0; i < n; ++i) FUZZ_CHECK((frame[at + i] ^ got_key[i % 4]) == payload[i]);
  }
  return 0;
}
