#include <actr/dc_fragment.hpp>
#include <actr/error.hpp>

#include <gtest/gtest.h>

#include <algorithm>
#include <numeric>
#include <random>

using namespace actr;

namespace {
Bytes pattern(std::size_t n, std::uint8_t seed = 1) {
  Bytes b(n);
  for (std::size_t i = 0; i < n; ++i) b[i] = static_cast<std::uint8_t>(i * 31 + seed);
  return b;
}
std::vector<Bytes> fragments(std::uint32_t id, const Bytes& payload) {
  std::vector<Bytes> out(fragment_count(payload.size()));
  for (std::size_t i = 0; i < out.size(); ++i) EXPECT_TRUE(encode_fragment(id, payload, i, out[i]));
  return out;
}
Bytes header(std::uint32_t id, std::uint16_t idx, std::uint16_t total, std::size_t payload = 0) {
  Bytes b{static_cast<std::uint8_t>(id >> 24), static_cast<std::uint8_t>(id >> 16), static_cast<std::uint8_t>(id >> 8),
          static_cast<std::uint8_t>(id), static_cast<std::uint8_t>(idx >> 8), static_cast<std::uint8_t>(idx),
          static_cast<std::uint8_t>(total >> 8), static_cast<std::uint8_t>(total)};
  b.resize(b.size() + payload, 0x5a);
  return b;
}
const Deadline t0{};
}  // namespace

TEST(DcFragment, HeaderIsBigEndianMsgIdIndexTotal) {
  Bytes out;
  const Bytes payload{'h', 'i'};
  ASSERT_TRUE(encode_fragment(0x01020304, payload, 0, out));
  EXPECT_EQ(out, (Bytes{1, 2, 3, 4, 0, 0, 0, 1, 'h', 'i'}));
  auto f = decode_fragment(out);
  ASSERT_TRUE(f);
  EXPECT_EQ(f->header, (FragmentHeader{0x01020304, 0, 1}));
  EXPECT_EQ(Bytes(f->payload.begin(), f->payload.end()), payload);
}

TEST(DcFragment, SplitsAt65527AndNeverExceeds65535) {
  EXPECT_EQ(kDcMaxFragmentPayload, 65527u);
  EXPECT_EQ(fragment_count(0), 1u);
  EXPECT_EQ(fragment_count(65527), 1u);
  EXPECT_EQ(fragment_count(65528), 2u);
  EXPECT_EQ(fragment_count(16u << 20), 257u);
  const auto payload = pattern(65527 * 2 + 10);
  auto fr = fragments(7, payload);
  ASSERT_EQ(fr.size(), 3u);
  EXPECT_EQ(fr[0].size(), kDcMaxMessageSize);
  EXPECT_EQ(fr[1].size(), kDcMaxMessageSize);
  EXPECT_EQ(fr[2].size(), 8u + 10u);
  EXPECT_EQ(fr[2][5], 2);  // index 2
  EXPECT_EQ(fr[2][7], 3);  // total 3
  Bytes out;
  EXPECT_EQ(encode_fragment(7, payload, 3, out).error(), NetworkError::InvalidArgument);
}

TEST(DcFragment, SixtyFiveThousandFragmentsAtMost) {
  // The largest payload that fits the u16 fragment count; one byte more needs 65,536 fragments,
  // which encode_fragment refuses with MessageTooLarge before reading the payload.
  EXPECT_EQ(fragment_count(kDcMaxFragments * kDcMaxFragmentPayload), kDcMaxFragments);
  EXPECT_EQ(fragment_count(kDcMaxFragments * kDcMaxFragmentPayload + 1), kDcMaxFragments + 1);
}

TEST(DcFragment, DecodeRejectsMalformed) {
  EXPECT_EQ(decode_fragment(Bytes{1, 2, 3}).error(), NetworkError::MalformedFrame);           // short
  EXPECT_EQ(decode_fragment(header(1, 0, 0)).error(), NetworkError::MalformedFrame);          // total 0
  EXPECT_EQ(decode_fragment(header(1, 2, 2)).error(), NetworkError::MalformedFrame);          // index >= total
  EXPECT_EQ(decode_fragment(header(1, 0, 1, 65528)).error(), NetworkError::MalformedFrame);   // > 65535 bytes
  EXPECT_TRUE(decode_fragment(header(1, 0, 1, 65527)));
}

TEST(DcReassembly, WholeMessagesAndEmptyPayload) {
  Reassembler r;
  auto one = r.feed(fragments(1, pattern(100))[0], t0);
  ASSERT_TRUE(one);
  ASSERT_TRUE(*one);
  EXPECT_EQ(**one, pattern(100));
  auto empty = r.feed(fragments(2, Bytes{})[0], t0);
  ASSERT_TRUE(empty && *empty);
  EXPECT_TRUE((*empty)->empty());
  EXPECT_EQ(r.pending_messages(), 0u);
}

TEST(DcReassembly, InterleavedAndOutOfOrderFragmentsUpTo16MiB) {
  Reassembler r;
  const auto big = pattern(16u << 20, 3);
  const auto mid = pattern(200000, 9);
  auto fb = fragments(10, big);
  auto fm = fragments(11, mid);
  std::reverse(fm.begin(), fm.end());  // any order
  std::vector<Bytes> done;
  std::size_t i = 0, j = 0;
  while (i < fb.size() || j < fm.size()) {
    for (auto* src : {&fb, &fm}) {
      auto& k = src == &fb ? i : j;
      if (k >= src->size()) continue;
      auto got = r.feed((*src)[k++], t0);
      ASSERT_TRUE(got) << got.error().message();
      if (*got) done.push_back(std::move(**got));
    }
  }
  ASSERT_EQ(done.size(), 2u);
  EXPECT_EQ(done[0], mid);  // completes first: fewer fragments
  EXPECT_EQ(done[1], big);
  EXPECT_EQ(r.buffered_bytes(), 0u);
}

TEST(DcReassembly, ContradictoryFragmentsAreMalformedAndOnlyThatMessageIsDropped) {
  Reassembler r;
  const auto a = fragments(1, pattern(65527 * 3));
  const auto b = fragments(2, pattern(65527 + 5));
  ASSERT_TRUE(r.feed(a[0], t0));
  ASSERT_TRUE(r.feed(b[0], t0));
  // Same msg id, other total.
  EXPECT_EQ(r.feed(header(1, 1, 4, 65527), t0).error(), NetworkError::MalformedFrame);
  // The rest of message 1 is now ignored; message 2 completes undisturbed.
  auto ignored = r.feed(a[1], t0);
  ASSERT_TRUE(ignored);
  EXPECT_FALSE(*ignored);
  auto done = r.feed(b[1], t0);
  ASSERT_TRUE(done && *done);
  EXPECT_EQ(**done, pattern(65527 + 5));
  EXPECT_EQ(r.pending_messages(), 0u);
  EXPECT_EQ(r.buffered_bytes(), 0u);

  // Duplicate index.
  const auto c = fragments(3, pattern(65527 * 2));
  ASSERT_TRUE(r.feed(c[0], t0));
  EXPECT_EQ(r.feed(c[0], t0).error(), NetworkError::MalformedFrame);
  // A short non-final fragment.
  EXPECT_EQ(r.feed(header(4, 0, 2, 100), t0).error(), NetworkError::MalformedFrame);
  EXPECT_EQ(r.buffered_bytes(), 0u);
}

TEST(DcReassembly, OversizeIsRejectedFromTheFirstFragment) {
  ReassemblyLimits lim;
  lim.max_message_size = 100000;
  Reassembler r(lim);
  const auto big = fragments(5, pattern(200000));
  EXPECT_EQ(r.feed(big[0], t0).error(), NetworkError::MessageTooLarge);
  EXPECT_EQ(r.buffered_bytes(), 0u);  // nothing was held
  for (std::size_t i = 1; i < big.size(); ++i) {
    auto g = r.feed(big[i], t0);
    ASSERT_TRUE(g);
    EXPECT_FALSE(*g);
  }
  // A single-fragment message above the cap as well.
  lim.max_message_size = 10;
  Reassembler small(lim);
  EXPECT_EQ(small.feed(fragments(1, pattern(11))[0], t0).error(), NetworkError::MessageTooLarge);
}

TEST(DcReassembly, MemoryCapAcrossMessagesIsResourceExhausted) {
  ReassemblyLimits lim;
  lim.max_buffered_bytes = 3 * 65527;
  Reassembler r(lim);
  for (std::uint32_t id = 1; id <= 3; ++id) ASSERT_TRUE(r.feed(fragments(id, pattern(65527 * 2))[0], t0));
  EXPECT_EQ(r.buffered_bytes(), 3u * 65527);
  EXPECT_EQ(r.feed(fragments(4, pattern(65527 * 2))[0], t0).error(), NetworkError::ResourceExhausted);
  EXPECT_EQ(r.pending_messages(), 3u);
  // Pending-count cap.
  lim.max_pending_messages = 2;
  Reassembler few(lim);
  ASSERT_TRUE(few.feed(header(1, 0, 2, 65527), t0));
  ASSERT_TRUE(few.feed(header(2, 0, 2, 65527), t0));
  EXPECT_EQ(few.feed(header(3, 0, 2, 65527), t0).error(), NetworkError::ResourceExhausted);
}

TEST(DcReassembly, IncompleteMessagesExpireAfterTtl) {
  ReassemblyLimits lim;
  lim.ttl = std::chrono::milliseconds{1000};
  Reassembler r(lim);
  const auto lost = fragments(9, pattern(65527 * 2));
  ASSERT_TRUE(r.feed(lost[0], t0));
  EXPECT_EQ(r.pending_messages(), 1u);
  ASSERT_TRUE(r.feed(fragments(10, pattern(5))[0], t0 + std::chrono::milliseconds{999}));
  EXPECT_EQ(r.pending_messages(), 1u);
  ASSERT_TRUE(r.feed(fragments(11, pattern(5))[0], t0 + std::chrono::milliseconds{1000}));
  EXPECT_EQ(r.pending_messages(), 0u);
  EXPECT_EQ(r.buffered_bytes(), 0u);
}

TEST(DcReassembly, RandomGarbageNeverCrashesAndNeverLeaks) {
  std::mt19937 rng(42);
  ReassemblyLimits lim;
  lim.max_message_size = 1u << 20;
  lim.max_buffered_bytes = 4u << 20;
  Reassembler r(lim);
  for (int n = 0; n < 2000; ++n) {
    Bytes m = header(rng() % 8, static_cast<std::uint16_t>(rng() % 20), static_cast<std::uint16_t>(rng() % 20),
                     (rng() % 2) ? kDcMaxFragmentPayload : rng() % 300);
    (void)r.feed(m, t0);
    ASSERT_LE(r.buffered_bytes(), lim.max_buffered_bytes);
  }
}

// DataChannel reassembly of every channel and connection shares one global cap (issue 11): a
// partial past it is refused, the others are untouched, and completed or destroyed reassemblers
// give their bytes back.
TEST(DcReassembly, PartialsOfManyChannelsShareOneGlobalCap) {
  auto budget = std::make_shared<ByteBudget>(3 * kDcMaxFragmentPayload);
  ReassemblyLimits lim;
  lim.shared = budget;
  auto a = std::make_unique<Reassembler>(lim);
  auto b = std::make_unique<Reassembler>(lim);
  const auto msg_a = fragments(1, pattern(3 * kDcMaxFragmentPayload));  // 3 fragments
  const auto msg_b = fragments(2, pattern(2 * kDcMaxFragmentPayload, 2));
  const auto msg_c = fragments(3, pattern(2 * kDcMaxFragmentPayload, 3));
  ASSERT_TRUE(a->feed(msg_a[0], t0));
  ASSERT_TRUE(a->feed(msg_a[1], t0));
  ASSERT_TRUE(b->feed(msg_b[0], t0));
  EXPECT_EQ(budget->held(), 3 * kDcMaxFragmentPayload);
  // A new partial on either channel is past the cap: refused, nothing else dropped.
  auto refused = b->feed(msg_c[0], t0);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error(), NetworkError::ResourceExhausted);
  EXPECT_EQ(budget->held(), 3 * kDcMaxFragmentPayload);
  EXPECT_LE(budget->peak(), budget->limit());
  // The held ones complete: a's last fragment fits once b's message is done.
  auto done_b = b->feed(msg_b[1], t0);
  ASSERT_TRUE(done_b && *done_b);
  EXPECT_EQ(budget->held(), 2 * kDcMaxFragmentPayload);
  auto done_a = a->feed(msg_a[2], t0);
  ASSERT_TRUE(done_a && *done_a);
  EXPECT_EQ(**done_a, pattern(3 * kDcMaxFragmentPayload));
  EXPECT_EQ(budget->held(), 0u);
  // A reassembler destroyed with a partial gives its bytes back.
  ASSERT_TRUE(a->feed(msg_c[0], t0));
  EXPECT_EQ(budget->held(), kDcMaxFragmentPayload);
  a.reset();
  EXPECT_EQ(budget->held(), 0u);
}

TEST(DcReassembly, TooLargeNamesSizeAndLimit) {
  ReassemblyLimits lim;
  lim.max_message_size = 100000;
  Reassembler r(lim);
  auto frags = fragments(9, pattern(3 * kDcMaxFragmentPayload));
  auto e = r.feed(frags[0], t0);
  ASSERT_FALSE(e);
  EXPECT_EQ(e.error(), NetworkError::MessageTooLarge);
  EXPECT_NE(e.error().message().find("100000"), std::string::npos) << e.error().message();
  EXPECT_NE(e.error().message().find("131055"), std::string::npos) << e.error().message();  // 2 full + 1 byte
}
