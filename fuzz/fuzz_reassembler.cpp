// libFuzzer target: the DataChannel fragment decoder and `Reassembler` (include/actr/dc_fragment.hpp),
// under small limits. The input is a script of records, each starting with an opcode byte:
//   0: raw      [u16 len][len bytes]: fed as one DataChannel message, as received
//   1: fragment [u8 msg_id][u8 index][u8 total][u8 fill][u8 tail_len]: a well-formed header; the
//      payload is full-size (kDcMaxFragmentPayload bytes of `fill`) for a non-final index, else
//      `tail_len` bytes of `fill` (the fuzzer may still pick index == total - 1 or break the rules)
//   2: time     [u8 ms]: the clock moves on (ttl is 200 ms)
//   3: clear
// Invariants: bytes held never exceed `max_buffered_bytes`, pending messages never exceed their
// cap, every completed message is exactly its fragments in index order (a shadow copy of every
// fragment fed is kept), no completed message exceeds `max_message_size`, and once everything
// has expired nothing is held (the byte accounting does not drift).
#include "fuzz_check.hpp"

#include <actr/dc_fragment.hpp>
#include <actr/error.hpp>

#include <algorithm>
#include <cstring>
#include <cstdint>
#include <map>

namespace {

using actr::Bytes;
using actr::ConstBytes;
using actr::kDcFragmentHeaderSize;
using actr::kDcMaxFragmentPayload;

const actr::ReassemblyLimits kLimits{.max_message_size = 3 * kDcMaxFragmentPayload + 100,
                                     .max_buffered_bytes = 4 * kDcMaxFragmentPayload,
                                     .max_pending_messages = 3,
                                     .ttl = std::chrono::milliseconds{200},
                                     .shared = nullptr};

struct Input {
  const std::uint8_t* p;
  std::size_t n;
  bool take(std::size_t k) const { return n >= k; }
  std::uint8_t u8() {
    --n;
    return *p++;
  }
};

// A fragment's payload as the shadow keeps it: full-size payloads of one repeated byte (what
// opcode 1 makes) are kept as that byte, not as 64 KiB copies. Byte loops are avoided (memcmp
// instead): every instrumented comparison costs a libFuzzer hook call, 64 Ki of them per fragment.
struct Part {
  std::size_t size = 0;
  int fill = -1;  // the repeated byte, or -1 with the bytes in `raw`
  Bytes raw;
  static bool uniform(ConstBytes p) { return p.size() < 2 || std::memcmp(p.data(), p.data() + 1, p.size() - 1) == 0; }
  static Part of(ConstBytes p) {
    Part part{p.size(), -1, {}};
    if (!p.empty() && uniform(p))
      part.fill = p[0];
    else
      part.raw.assign(p.begin(), p.end());
    return part;
  }
  bool matches(ConstBytes got) const {
    if (got.size() != size) return false;
    if (fill < 0) return size == 0 || std::memcmp(got.data(), raw.data(), size) == 0;
    return got[0] == fill && uniform(got);
  }
};

class Harness {
 public:
  void feed(ConstBytes msg) {
    auto r = re_.feed(msg, now_);
    FUZZ_CHECK(re_.buffered_bytes() <= kLimits.max_buffered_bytes);
    FUZZ_CHECK(re_.pending_messages() <= kLimits.max_pending_messages);
    auto frag = actr::decode_fragment(msg);
    if (!frag) {
      FUZZ_CHECK(!r && r.error() == actr::NetworkError::MalformedFrame);
      return;
    }
    const auto& h = frag->header;
    // Every fragment fed is remembered: a message that completes has had each index fed since it
    // (re)started, and feeding an index twice drops the message, so the last copy is the right one.
    if (h.total > 1) shadow_[h.msg_id][h.index] = Part::of(frag->payload);
    if (!r || !*r) return;
    const Bytes& whole = **r;
    FUZZ_CHECK(whole.size() <= kLimits.max_message_size);
    if (h.total == 1) {
      FUZZ_CHECK(std::equal(whole.begin(), whole.end(), frag->payload.begin(), frag->payload.end()));
      return;
    }
    auto& parts = shadow_[h.msg_id];
    std::size_t at = 0;
    for (std::uint16_t i = 0; i < h.total; ++i) {
      auto it = parts.find(i);
      FUZZ_CHECK(it != parts.end());
      FUZZ_CHECK(at + it->second.size <= whole.size());
      FUZZ_CHECK(it->second.matches(ConstBytes(whole).subspan(at, it->second.size)));
      at += it->second.size;
    }
    FUZZ_CHECK(at == whole.size());
    shadow_.erase(h.msg_id);
  }

  void advance(std::chrono::milliseconds d) { now_ += d; }
  void clear() {
    re_.clear();
    FUZZ_CHECK(re_.buffered_bytes() == 0 && re_.pending_messages() == 0);
  }

  void finish() {
    // Past the ttl every incomplete message is evicted by the next feed.
    advance(kLimits.ttl + std::chrono::milliseconds{1});
    const std::uint8_t single[kDcFragmentHeaderSize] = {0xff, 0xff, 0xff, 0xff, 0, 0, 0, 1};
    auto r = re_.feed(ConstBytes(single, sizeof single), now_);
    FUZZ_CHECK(r && *r && (*r)->empty());
    FUZZ_CHECK(re_.buffered_bytes() == 0 && re_.pending_messages() == 0);
  }

 private:
  actr::Reassembler re_{kLimits};
  actr::Deadline now_{};
  std::map<std::uint32_t, std::map<std::uint16_t, Part>> shadow_;
};

// Builds the DataChannel message of opcode 1 in a reused buffer (no 64 KiB allocation per record).
ConstBytes fragment(std::uint8_t msg_id, std::uint8_t index, std::uint8_t total, std::uint8_t fill, std::uint8_t tail) {
  static Bytes buf(kDcFragmentHeaderSize + kDcMaxFragmentPayload);
  static int filled = -1;  // the byte the whole payload area holds
  if (filled != fill) {
    std::fill(buf.begin() + kDcFragmentHeaderSize, buf.end(), fill);
    filled = fill;
  }
  const bool last = index + 1 >= total;
  const std::size_t len = kDcFragmentHeaderSize + (last ? tail : kDcMaxFragmentPayload);
  const std::uint8_t header[kDcFragmentHeaderSize] = {0, 0, 0, msg_id, 0, index, 0, total};
  std::copy(std::begin(header), std::end(header), buf.begin());
  return ConstBytes(buf.data(), len);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  Harness h;
  Input in{data, size};
  while (in.take(1)) {
    switch (in.u8() % 4) {
      case 0: {
        if (!in.take(2)) break;
        std::size_t len = std::size_t{in.u8()} << 8;
        len |= in.u8();
        len = std::min(len, in.n);
        h.feed(ConstBytes(in.p, len));
        in.p += len;
        in.n -= len;
        break;
      }
      case 1: {
        if (!in.take(5)) return 0;
        const auto id = in.u8(), index = in.u8(), total = in.u8(), fill = in.u8(), tail = in.u8();
        h.feed(fragment(id, index, total, fill, tail));
        break;
      }
      case 2:
        if (in.take(1)) h.advance(std::chrono::milliseconds{in.u8()});
        break;
      default:
        h.clear();
        break;
    }
  }
  h.finish();
  return 0;
}
