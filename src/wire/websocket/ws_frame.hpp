#pragma once
// Private: the WebSocket data frames the connection's writer serialises itself (RFC 6455 §5.2),
// so a batch of messages becomes bytes in one output buffer without a Beast write operation per
// message. Only whole binary messages (FIN set, opcode 2) are written this way; Beast still
// writes control frames (ping, pong, close) and reads everything. Pure functions, no Beast: the
// unit tests feed their output to Beast on both roles, and fuzz/fuzz_ws_frame.cpp checks them.

#include <cstddef>
#include <cstdint>
#include <cstring>

namespace actr::ws {

/// Longest header: 2 bytes, an 8-byte extended length, a 4-byte masking key.
inline constexpr std::size_t kMaxFrameHeader = 14;

/// Writes the header of one unfragmented binary frame carrying `payload` bytes into `out`
/// (at least `kMaxFrameHeader` bytes) and returns its length. `mask` non-null: the frame is
/// masked with that 4-byte key (a client's frames must be, a server's must not be).
inline std::size_t write_frame_header(std::uint8_t* out, std::uint64_t payload, const std::uint8_t* mask) noexcept {
  std::size_t n = 0;
  out[n++] = 0x82;  // FIN, opcode binary
  const std::uint8_t m = mask != nullptr ? 0x80 : 0x00;
  if (payload < 126) {
    out[n++] = static_cast<std::uint8_t>(m | payload);
  } else if (payload <= 0xffff) {
    out[n++] = static_cast<std::uint8_t>(m | 126);
    out[n++] = static_cast<std::uint8_t>(payload >> 8);
    out[n++] = static_cast<std::uint8_t>(payload);
  } else {
    out[n++] = static_cast<std::uint8_t>(m | 127);
    for (int shift = 56; shift >= 0; shift -= 8) out[n++] = static_cast<std::uint8_t>(payload >> shift);
  }
  if (mask != nullptr) {
    std::memcpy(out + n, mask, 4);
    n += 4;
  }
  return n;
}

/// XORs `n` bytes at `p` with the 4-byte `mask`, the first byte with mask[0] (RFC 6455 §5.3).
/// Applying it twice restores the bytes.
inline void apply_mask(std::uint8_t* p, std::size_t n, const std::uint8_t* mask) noexcept {
  std::uint8_t key8[8];
  std::memcpy(key8, mask, 4);
  std::memcpy(key8 + 4, mask, 4);
  std::uint64_t key;
  std::memcpy(&key, key8, 8);
  std::size_t i = 0;
  for (; i + 8 <= n; i += 8) {  // eight bytes at a time; the key repeats every four
    std::uint64_t w;
    std::memcpy(&w, p + i, 8);
    w ^= key;
    std::memcpy(p + i, &w, 8);
  }
  for (; i < n; ++i) p[i] ^= mask[i & 3];
}

/// Bytes of the frame that carries `payload` bytes: its header and the payload.
inline std::size_t frame_size(std::uint64_t payload, bool masked) noexcept {
  const std::size_t length = payload < 126 ? 0 : payload <= 0xffff ? 2 : 8;
  return 2 + length + (masked ? 4 : 0) + static_cast<std::size_t>(payload);
}

/// Writes one whole frame at `out` (`frame_size(n, mask != nullptr)` bytes): the header, then the
/// `n` payload bytes, masked with `mask` when it is non-null.
inline void write_frame(std::uint8_t* out, const std::uint8_t* payload, std::size_t n,
                        const std::uint8_t* mask) noexcept {
  const auto h = write_frame_header(out, n, mask);
  if (n > 0) std::memcpy(out + h, payload, n);
  if (mask != nullptr) apply_mask(out + h, n, mask);
}

/// A masking-key source for a client connection: xorshift64*, seeded per connection from the
/// system's entropy. RFC 6455 asks for unpredictable keys so that a script cannot choose the
/// bytes an intermediary sees; the seed is secret and the generator is not exposed, which is the
/// guarantee Beast's own non-secure option gives. Not thread safe: the connection's writer owns it.
class MaskSource {
 public:
  explicit MaskSource(std::uint64_t seed) noexcept : s_(seed != 0 ? seed : 0x9e3779b97f4a7c15ull) {}
  void next(std::uint8_t* key) noexcept {
    s_ ^= s_ >> 12;
    s_ ^= s_ << 25;
    s_ ^= s_ >> 27;
    const std::uint64_t v = s_ * 0x2545f4914f6cdd1dull;
    const auto k = static_cast<std::uint32_t>(v >> 32);
    std::memcpy(key, &k, 4);
  }

 private:
  std::uint64_t s_;
};

}  // namespace actr::ws
