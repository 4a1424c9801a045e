#include <actr/error.hpp>
#include <actr/framing.hpp>

#include <algorithm>
#include <limits>

namespace actr {

Result<void> encode_frame(PayloadType pt, ConstBytes payload, Bytes& out, std::size_t max_size) {
  if (payload.size() > max_size || payload.size() > std::numeric_limits<std::uint32_t>::max())
    return message_too_large(payload.size(), std::min<std::size_t>(max_size, std::numeric_limits<std::uint32_t>::max()));
  const auto n = static_cast<std::uint32_t>(payload.size());
  out.reserve(out.size() + kFrameHeaderSize + payload.size());
  out.push_back(static_cast<std::uint8_t>(pt));
  out.push_back(static_cast<std::uint8_t>(n >> 24));
  out.push_back(static_cast<std::uint8_t>(n >> 16));
  out.push_back(static_cast<std::uint8_t>(n >> 8));
  out.push_back(static_cast<std::uint8_t>(n));
  out.insert(out.end(), payload.begin(), payload.end());
  return ok();
}

Result<FrameView> decode_frame(ConstBytes msg, std::size_t max_size) {
  if (msg.size() < kFrameHeaderSize) return make_error_code(NetworkError::MalformedFrame);
  auto pt = payload_type_from_byte(msg[0]);
  if (!pt) return make_error_code(NetworkError::MalformedFrame);
  const std::size_t len = (std::size_t{msg[1]} << 24) | (std::size_t{msg[2]} << 16) | (std::size_t{msg[3]} << 8) |
                          std::size_t{msg[4]};
  if (len > max_size) return message_too_large(len, max_size);
  if (msg.size() != kFrameHeaderSize + len) return make_error_code(NetworkError::MalformedFrame);
  return FrameView{*pt, msg.subspan(kFrameHeaderSize, len)};
}

}  // namespace actr
