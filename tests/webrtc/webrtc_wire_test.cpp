// The WebRTC wire between two peers in one process over 127.0.0.1: every payload class both ways,
// fragmentation up to 16 MiB, malformed and oversize input, bounded idempotent close, remote close.
#include "webrtc/webrtc_pair.hpp"

#include <actr/dc_fragment.hpp>

#include <boost/asio/experimental/awaitable_operators.hpp>

#include <gtest/gtest.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <cstdlib>

using namespace actr;
using namespace actr::testing;
using namespace std::chrono_literals;
namespace asio = boost::asio;

namespace {
// The process-wide runtime is shut down after the last test, before exit handlers run: a GStreamer
// thread that is still tearing a connection down must not outlive OpenSSL's atexit cleanup
// (its per-thread random state would then be leaked). A program does the same before main returns.
// ACTR_LOG_LEVEL (trace, debug, ...) raises the library's log level for a diagnostic run.
class RuntimeShutdown : public ::testing::Environment {
 public:
  void SetUp() override {
    if (const char* level = std::getenv("ACTR_LOG_LEVEL")) spdlog::set_level(spdlog::level::from_str(level));
  }
  void TearDown() override { WebRtcRuntime::process_default()->shutdown(); }
};
[[maybe_unused]] auto* const kRuntimeShutdown = ::testing::AddGlobalTestEnvironment(new RuntimeShutdown);

constexpr PayloadType kClasses[] = {PayloadType::RpcReliable, PayloadType::RpcSignal, PayloadType::StreamReliable,
                                    PayloadType::StreamLatencyFirst};

Bytes text(std::string_view s) { return Bytes(s.begin(), s.end()); }
}  // namespace

TEST(WebRtcWire, EveryPayloadClassBothWaysOnItsOwnChannel) {
  asio::io_context io;
  WirePair p(io);
  p.connect();
  EXPECT_EQ(p.a->identity().kind, WireKind::WebRtc);
  EXPECT_NE(p.a->identity().session_id, p.b->identity().session_id);
  for (auto pt : kClasses) {
    ASSERT_TRUE(send(io, p.a, pt, text(std::string("a->b ") + std::string(to_string(pt)))));
    ASSERT_TRUE(send(io, p.b, pt, text(std::string("b->a ") + std::string(to_string(pt)))));
  }
  run_until(io, [&] { return p.a_in.frames.size() == 4 && p.b_in.frames.size() == 4; }, 20000ms);
  for (auto pt : kClasses) {  // the answerer mapped every channel by its label, both ways
    auto has = [&](const Inbox& in, const std::string& want) {
      return std::any_of(in.frames.begin(), in.frames.end(), [&](const Frame& f) { return f.pt == pt && f.data == text(want); });
    };
    EXPECT_TRUE(has(p.b_in, std::string("a->b ") + std::string(to_string(pt)))) << to_string(pt);
    EXPECT_TRUE(has(p.a_in, std::string("b->a ") + std::string(to_string(pt)))) << to_string(pt);
  }
  auto media = p.a->get_lane(PayloadType::MediaRtp);
  ASSERT_FALSE(media);
  EXPECT_EQ(media.error(), NetworkError::NoRoute);
  // Every message on the wire carried the fragment header: one fragment each.
  EXPECT_EQ(p.a->stats().fragments_sent, 4u);
  EXPECT_EQ(p.b->stats().fragments_received, 4u);
  EXPECT_EQ(p.a->stats().peer_connections, 1u);
}

TEST(WebRtcWire, AnswererIgnoresChannelsWithUnknownLabels) {
  asio::io_context io;
  WirePair p(io);
  p.connect();
  std::shared_ptr<rtc::GstPc> pc;
  {
    std::lock_guard lk(p.a->impl().mu);
    pc = p.a->impl().gen->pc;
  }
  ASSERT_TRUE(p.a->impl().runtime->impl().invoke([pc] {
    pc->create_extra_channel("CHAT");
    pc->create_extra_channel("MEDIA_RTP");  // a PayloadType name, but not a DataChannel class
  }));
  run_until(io, [&] { return p.b->stats().channels_ignored == 2; }, 20000ms);
  for (auto pt : kClasses) ASSERT_TRUE(send(io, p.a, pt, text(std::string(to_string(pt)))));
  run_until(io, [&] { return p.b_in.frames.size() == 4; }, 20000ms);
  for (std::size_t i = 0; i < 4; ++i) EXPECT_EQ(p.b_in.frames[i].data, text(std::string(to_string(p.b_in.frames[i].pt))));
  EXPECT_TRUE(p.b->is_connected());
}

TEST(WebRtcWire, ReliableClassesKeepOrder) {
  asio::io_context io;
  WirePair p(io);
  p.connect();
  constexpr int kCount = 200;
  for (int i = 0; i < kCount; ++i) ASSERT_TRUE(send(io, p.a, PayloadType::RpcReliable, text(std::to_string(i))));
  run_until(io, [&] { return p.b_in.frames.size() == kCount; }, 30000ms);
  for (int i = 0; i < kCount; ++i) EXPECT_EQ(p.b_in.frames[static_cast<std::size_t>(i)].data, text(std::to_string(i)));
}

TEST(WebRtcWire, FragmentedMessagesUpTo16MiBBothWays) {
  asio::io_context io;
  WirePair p(io);
  p.connect();
  const std::size_t sizes[] = {kDcMaxFragmentPayload, kDcMaxFragmentPayload + 1, (1u << 20) + 3, 16u << 20};
  std::uint8_t seed = 1;
  for (auto n : sizes) {
    ASSERT_TRUE(send(io, p.a, PayloadType::StreamReliable, pattern(n, seed))) << n;
    ASSERT_TRUE(send(io, p.b, PayloadType::RpcReliable, pattern(n, static_cast<std::uint8_t>(seed + 100)))) << n;
    ++seed;
  }
  run_until(io, [&] { return p.a_in.frames.size() == 4 && p.b_in.frames.size() == 4; }, 120000ms);
  seed = 1;
  for (std::size_t i = 0; i < 4; ++i, ++seed) {
    EXPECT_EQ(p.b_in.frames[i].pt, PayloadType::StreamReliable);
    EXPECT_TRUE(p.b_in.frames[i].data == pattern(sizes[i], seed)) << sizes[i];
    EXPECT_TRUE(p.a_in.frames[i].data == pattern(sizes[i], static_cast<std::uint8_t>(seed + 100))) << sizes[i];
  }
  const auto frags = 1 + 2 + fragment_count((1u << 20) + 3) + fragment_count(16u << 20);
  EXPECT_EQ(p.a->stats().fragments_sent, frags);
  EXPECT_EQ(p.b->stats().fragments_received, frags);
  EXPECT_EQ(p.b->stats().inbound_rejected, 0u);
  // Above the sender's own cap: refused locally, nothing sent.
  EXPECT_EQ(send(io, p.a, PayloadType::StreamReliable, Bytes((16u << 20) + 1, 0)).error(), NetworkError::MessageTooLarge);
}

TEST(WebRtcWire, MalformedFragmentsAndOversizeAreRejectedTypedAndNothingElseIsDisturbed) {
  asio::io_context io;
  WebRtcConfig small = loopback_config();
  small.max_message_size = 200000;  // B accepts at most ~3 fragments per message
  WirePair p(io, 1, 2, loopback_config(), small);
  p.connect();
  auto good = [&](int n) {
    ASSERT_TRUE(send(io, p.a, PayloadType::RpcReliable, text("good " + std::to_string(n))));
    run_until(io, [&] { return !p.b_in.frames.empty() && p.b_in.frames.back().data == text("good " + std::to_string(n)); },
              20000ms);
  };
  auto rejected_with = [&](std::uint64_t count, NetworkError e) {
    run_until(io, [&] { return p.b->stats().inbound_rejected == count; }, 20000ms);
    EXPECT_EQ(p.b->stats().last_inbound_error, e);
  };
  good(0);
  ASSERT_TRUE(send_raw(*p.a, PayloadType::RpcReliable, Bytes{1, 2, 3}));  // shorter than the header
  rejected_with(1, NetworkError::MalformedFrame);
  good(1);
  ASSERT_TRUE(send_raw(*p.a, PayloadType::RpcSignal, Bytes{0, 0, 0, 9, 0, 5, 0, 2, 'x'}));  // index 5 of 2
  rejected_with(2, NetworkError::MalformedFrame);
  good(2);
  // Two fragments of one message that disagree on the total.
  Bytes first(kDcMaxMessageSize, 0x11), second(kDcMaxMessageSize, 0x22);
  const std::uint8_t h1[] = {0, 0, 1, 0, 0, 0, 0, 3}, h2[] = {0, 0, 1, 0, 0, 1, 0, 2};
  std::copy(std::begin(h1), std::end(h1), first.begin());
  std::copy(std::begin(h2), std::end(h2), second.begin());
  ASSERT_TRUE(send_raw(*p.a, PayloadType::StreamReliable, first));
  ASSERT_TRUE(send_raw(*p.a, PayloadType::StreamReliable, second));
  rejected_with(3, NetworkError::MalformedFrame);
  good(3);
  // Oversize for B (A would send it happily): rejected from its first fragment.
  ASSERT_TRUE(send(io, p.a, PayloadType::StreamReliable, pattern(400000, 7)));
  rejected_with(4, NetworkError::MessageTooLarge);
  good(4);
  EXPECT_EQ(p.b_in.frames.size(), 5u);  // only the good ones
  EXPECT_TRUE(p.a->is_connected());
  EXPECT_TRUE(p.b->is_connected());
  EXPECT_EQ(p.a_in.closed + p.b_in.closed, 0);
  // B's own sends are untouched too.
  ASSERT_TRUE(send(io, p.b, PayloadType::RpcReliable, text("back")));
  run_until(io, [&] { return p.a_in.frames.size() == 1; }, 20000ms);
}

TEST(WebRtcWire, CloseIsBoundedIdempotentAndThePeerReportsClosed) {
  asio::io_context io;
  WirePair p(io);
  p.connect();
  auto lane = p.a->get_lane(PayloadType::RpcReliable);
  ASSERT_TRUE(lane);
  const auto t0 = Clock::now();
  run_co(io, p.a->close());
  const auto took = Clock::now() - t0;
  EXPECT_LT(took, 500ms + 200ms) << "close must be bounded by close_timeout (500 ms)";
  EXPECT_FALSE(p.a->is_connected());
  run_co(io, p.a->close());  // idempotent
  EXPECT_LT(Clock::now() - t0, 500ms + 400ms);
  // Everything on A fails closed-like at once; the lane obtained earlier as well.
  auto again = p.a->get_lane(PayloadType::RpcReliable);
  ASSERT_FALSE(again);
  EXPECT_TRUE(is_closed_like(again.error()));
  auto r = run_co(io, (*lane)->send(text("late")));
  ASSERT_FALSE(r);
  EXPECT_TRUE(is_closed_like(r.error()));
  // A closed locally: it does not report itself; B sees the channels close and reports.
  run_until(io, [&] { return p.b_in.closed == 1; }, 20000ms);
  EXPECT_TRUE(is_closed_like(p.b_in.closed_why)) << p.b_in.closed_why.message();
  EXPECT_FALSE(p.b->is_connected());
  EXPECT_EQ(p.a_in.closed, 0);
  auto c = run_co(io, p.a->connect());
  ASSERT_FALSE(c);
  EXPECT_TRUE(is_closed_like(c.error()));
}

TEST(WebRtcWire, ConcurrentClosesAllCompleteWithinTheBound) {
  asio::io_context io;
  WirePair p(io);
  p.connect();
  const auto t0 = Clock::now();
  run_co(io, [&]() -> asio::awaitable<void> {
    using namespace asio::experimental::awaitable_operators;
    co_await (p.a->close() && p.a->close() && p.b->close());
  }());
  EXPECT_LT(Clock::now() - t0, 500ms + 300ms);
  EXPECT_EQ(p.a_in.closed + p.b_in.closed, 0);  // local closes are never reported as deaths
}

TEST(WebRtcWire, DroppingTheHandleClosesAndThePeerReportsClosed) {
  asio::io_context io;
  WirePair p(io);
  p.connect();
  p.a.reset();  // no close(): the destructor starts the teardown in the background
  run_until(io, [&] { return p.b_in.closed == 1; }, 20000ms);
  EXPECT_FALSE(p.b->is_connected());
}

