#pragma once
/// @file
/// actr's WebSocket framing (reference §6.3), byte-exact: one binary WebSocket message per
/// application message, `[u8 payload_type][u32 big-endian length][length bytes]`.

#include <actr/result.hpp>
#include <actr/types.hpp>

#include <cstddef>
#include <cstdint>

namespace actr {

inline constexpr std::size_t kFrameHeaderSize = 5;
/// Default cap on one message's payload (16 MiB); configurable per wire.
inline constexpr std::size_t kDefaultMaxMessageSize = 16u << 20;

/// A decoded frame; `payload` points into the decoded buffer.
struct FrameView {
  PayloadType type;
  ConstBytes payload;
};

/// Appends the frame for (`pt`, `payload`) to `out`.
/// Errors: `MessageTooLarge` if `payload` exceeds `max_size` (or 2^32 - 1).
Result<void> encode_frame(PayloadType pt, ConstBytes payload, Bytes& out,
                          std::size_t max_size = kDefaultMaxMessageSize);

/// Decodes exactly one frame occupying all of `msg`. Stricter than the original, which ignored
/// trailing bytes. Errors (all `MalformedFrame` unless noted): fewer than 5 bytes; type byte > 4;
/// fewer than 5 + length bytes; more than 5 + length bytes (trailing garbage);
/// `MessageTooLarge` if length exceeds `max_size`.
Result<FrameView> decode_frame(ConstBytes msg, std::size_t max_size = kDefaultMaxMessageSize);

}  // namespace actr
