#pragma once
// Private: the WebSocket data frames the connection serialises and parses itself (RFC 6455 §5.2),
// so a batch of messages becomes bytes in one output buffer, and a read of many frames becomes
// many messages, without a Beast operation per message. Only whole binary messages (FIN set,
// opcode 2, no extension bits) are handled this way; everything else (control frames, text,
// fragments, protocol errors, messages over the limit) stays Beast's. Pure functions, no Beast:
// the unit tests check them against Beast on both roles, and fuzz/fuzz_ws_frame.cpp against a
// decoder written from the RFC.

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>

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

/// What `parse_frame` found at the front of a read buffer.
struct FrameHead {
  enum Kind {
    Incomplete,  // fewer bytes than the header needs: read more
    Data,        // a whole binary message in one frame, valid for this role and within the limit
    Other,       // anything else: Beast's to read (it answers control frames, reassembles
                 // fragments, validates text and fails protocol errors)
  };
  Kind kind = Incomplete;
  std::size_t header = 0;              // Data: header bytes, masking key included
  std::uint64_t payload = 0;           // Data: payload bytes (the caller checks they have all arrived)
  const std::uint8_t* mask = nullptr;  // Data from a client: its masking key (in the buffer)
};

/// The header of the frame that starts at `p` (`n` bytes available), once all of it has arrived:
/// its size (masking key included) and the payload length as sent (any kind of frame).
struct FrameLength {
  std::size_t header = 0;
  std::uint64_t payload = 0;
};
inline std::optional<FrameLength> frame_length(const std::uint8_t* p, std::size_t n) noexcept {
  if (n < 2) return std::nullopt;
  const std::uint8_t len7 = p[1] & 0x7f;
  const std::size_t ext = len7 < 126 ? 0 : len7 == 126 ? 2 : 8;
  FrameLength f{2 + ext + ((p[1] & 0x80) != 0 ? 4 : 0), len7};
  if (n < f.header) return std::nullopt;
  if (ext > 0) {
    f.payload = 0;
    for (std::size_t i = 0; i < ext; ++i) f.payload = (f.payload << 8) | p[2 + i];
  }
  return f;
}

/// Classifies the frame that starts at `p` (`n` bytes available). `from_client`: frames must be
/// masked (we are the server), else they must not be. `Data` needs FIN, no RSV bits, opcode 2,
/// the right mask bit, the shortest length encoding (§5.2) and `payload <= max_payload`; a frame
/// that breaks any of these is `Other`, so Beast reports the error exactly as before.
inline FrameHead parse_frame(const std::uint8_t* p, std::size_t n, bool from_client,
                             std::uint64_t max_payload) noexcept {
  FrameHead f;
  if (n < 2) return f;
  if (p[0] != 0x82 || ((p[1] & 0x80) != 0) != from_client) {
    f.kind = FrameHead::Other;
    return f;
  }
  const auto len = frame_length(p, n);
  if (!len) return f;
  const std::uint8_t len7 = p[1] & 0x7f;
  const bool shortest =
      len7 < 126 || (len7 == 126 ? len->payload >= 126 : len->payload > 0xffff && (len->payload >> 63) == 0);
  if (!shortest || len->payload > max_payload) {
    f.kind = FrameHead::Other;
    return f;
  }
  f.kind = FrameHead::Data;
  f.header = len->header;
  f.payload = len->payload;
  f.mask = from_client ? p + len->header - 4 : nullptr;
  return f;
}

/// Bytes of the whole frame starting at `p`, once its header has arrived (any kind of frame;
/// saturates at the largest value for a hostile 64-bit length); nothing while it is incomplete.
inline std::optional<std::uint64_t> frame_extent(const std::uint8_t* p, std::size_t n) noexcept {
  const auto len = frame_length(p, n);
  if (!len) return std::nullopt;
  const std::uint64_t top = ~std::uint64_t{0};
  return len->payload > top - len->header ? top : len->header + len->payload;
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
