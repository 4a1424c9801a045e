// libFuzzer target: actr's WebSocket frame decoder (include/actr/framing.hpp). The whole input is
// one WebSocket message. Invariants: a decoded frame is a view inside the message, its length is
// the header's, and encoding it again gives back exactly the message; a small size cap never
// admits a larger payload.
#include "fuzz_check.hpp"

#include <actr/error.hpp>
#include <actr/framing.hpp>

#include <algorithm>
#include <cstdint>

namespace {

void check_decoded(actr::ConstBytes msg, std::size_t max_size) {
  auto f = actr::decode_frame(msg, max_size);
  if (!f) {
    FUZZ_CHECK(f.error() == actr::NetworkError::MalformedFrame || f.error() == actr::NetworkError::MessageTooLarge);
    return;
  }
  FUZZ_CHECK(f->payload.size() <= max_size);
  FUZZ_CHECK(msg.size() == actr::kFrameHeaderSize + f->payload.size());
  FUZZ_CHECK(f->payload.data() == msg.data() + actr::kFrameHeaderSize);
  actr::Bytes again;
  FUZZ_CHECK(actr::encode_frame(f->type, f->payload, again, max_size).has_value());
  FUZZ_CHECK(std::equal(again.begin(), again.end(), msg.begin(), msg.end()));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const actr::ConstBytes msg(data, size);
  check_decoded(msg, actr::kDefaultMaxMessageSize);
  // A tiny cap (0..255, from the last byte) exercises the MessageTooLarge path on short inputs.
  if (size > 0) check_decoded(msg, data[size - 1]);
  return 0;
}
