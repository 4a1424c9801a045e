#include <actr/error.hpp>
#include <actr/unreachable_cache.hpp>

#include <boost/asio/error.hpp>

#include <gtest/gtest.h>

using namespace actr;
using namespace std::chrono_literals;

namespace {
const Error kRefused = boost::asio::error::connection_refused;
const Error kUnreachable = make_error_code(NetworkError::NetworkUnreachable);

UnreachableConfig no_jitter() {
  UnreachableConfig c;
  c.backoff.jitter = 0;  // exact waits: 500 ms, 1 s, 2 s, ...
  return c;
}

Dest dest(std::uint64_t serial) { return Dest::actor(ActrId{Realm{101}, serial, ActrType{"acme", "echo", "1.0.0"}}); }
}  // namespace

TEST(UnreachableCache, RefusalsAreTheFailuresThatSayNothingIsThere) {
  EXPECT_TRUE(is_refusal(boost::asio::error::connection_refused));
  EXPECT_TRUE(is_refusal(boost::asio::error::host_unreachable));
  EXPECT_TRUE(is_refusal(boost::asio::error::network_unreachable));
  EXPECT_TRUE(is_refusal(std::make_error_code(std::errc::connection_refused)));
  EXPECT_FALSE(is_refusal(boost::asio::error::timed_out));
  EXPECT_FALSE(is_refusal(boost::asio::error::connection_reset));
  EXPECT_FALSE(is_refusal(make_error_code(NetworkError::TimeoutError)));
  EXPECT_FALSE(is_refusal(make_error_code(NetworkError::TlsCertificateUntrusted)));
  EXPECT_FALSE(is_refusal(make_error_code(NetworkError::AuthenticationError)));
  EXPECT_FALSE(is_refusal(make_error_code(NetworkError::ConnectionClosed)));
  EXPECT_FALSE(is_refusal(Error{}));
}

TEST(UnreachableCache, ARefusedDestinationFailsFastUntilItsWaitIsOverThenOneSenderProbes) {
  UnreachableCache c(no_jitter());
  const auto t0 = UnreachableCache::TimePoint{} + 1h;
  ASSERT_FALSE(c.admit(dest(1), t0));
  c.settle(dest(1), kRefused, t0);
  EXPECT_TRUE(c.contains(dest(1)));
  EXPECT_EQ(c.cause(dest(1)), kRefused);
  EXPECT_EQ(c.admit(dest(1), t0), kUnreachable);
  EXPECT_EQ(c.admit(dest(1), t0 + 499ms), kUnreachable);
  EXPECT_FALSE(c.admit(dest(2), t0)) << "only the refused destination is marked";
  // The wait is over: the first sender probes, the others still fail fast meanwhile.
  EXPECT_FALSE(c.admit(dest(1), t0 + 500ms));
  EXPECT_EQ(c.admit(dest(1), t0 + 501ms), kUnreachable);
  // The probe is refused too: the next wait is twice as long.
  c.settle(dest(1), kRefused, t0 + 510ms);
  EXPECT_EQ(c.admit(dest(1), t0 + 1509ms), kUnreachable);
  EXPECT_FALSE(c.admit(dest(1), t0 + 1510ms));
  // The probe got through: forgotten.
  c.settle(dest(1), Error{}, t0 + 1520ms);
  EXPECT_FALSE(c.contains(dest(1)));
  EXPECT_FALSE(c.admit(dest(1), t0 + 1521ms));
}

TEST(UnreachableCache, SendersRacingIntoOneRefusedDialMoveTheBackoffOnce) {
  UnreachableCache c(no_jitter());
  const auto t0 = UnreachableCache::TimePoint{} + 1h;
  for (int i = 0; i < 50; ++i) c.settle(dest(1), kRefused, t0 + std::chrono::milliseconds(i));
  EXPECT_EQ(c.admit(dest(1), t0 + 499ms), kUnreachable);
  EXPECT_FALSE(c.admit(dest(1), t0 + 500ms)) << "the wait is one step (500 ms), not fifty";
}

TEST(UnreachableCache, OwnAnswersAndCancelledSendersAreNotNewsAboutTheDestination) {
  UnreachableCache c(no_jitter());
  const auto t0 = UnreachableCache::TimePoint{} + 1h;
  c.settle(dest(1), kRefused, t0);
  c.settle(dest(1), kUnreachable, t0 + 1ms);
  EXPECT_TRUE(c.contains(dest(1)));
  // The probe's sender is cancelled: the next sender probes at once instead of waiting.
  ASSERT_FALSE(c.admit(dest(1), t0 + 600ms));
  c.settle(dest(1), make_error_code(NetworkError::Cancelled), t0 + 601ms);
  EXPECT_TRUE(c.contains(dest(1)));
  EXPECT_FALSE(c.admit(dest(1), t0 + 602ms));
  // A probe that never reports (its coroutine destroyed) stops holding others back after probe_timeout.
  EXPECT_EQ(c.admit(dest(1), t0 + 603ms), kUnreachable);
  EXPECT_FALSE(c.admit(dest(1), t0 + 602ms + c.config().probe_timeout));
}

TEST(UnreachableCache, AnyOtherOutcomeForgetsTheMark) {
  UnreachableCache c(no_jitter());
  const auto t0 = UnreachableCache::TimePoint{} + 1h;
  c.settle(dest(1), kRefused, t0);
  c.settle(dest(1), make_error_code(NetworkError::TimeoutError), t0 + 600ms);
  EXPECT_FALSE(c.contains(dest(1))) << "a timeout is not a refusal: normal deadlines apply again";
  c.settle(dest(1), kRefused, t0);
  c.forget(dest(1));
  EXPECT_FALSE(c.admit(dest(1), t0));
}

TEST(UnreachableCache, DisabledOrFullItRemembersNothing) {
  UnreachableConfig off = no_jitter();
  off.enabled = false;
  UnreachableCache disabled(off);
  const auto t0 = UnreachableCache::TimePoint{} + 1h;
  disabled.settle(dest(1), kRefused, t0);
  EXPECT_FALSE(disabled.admit(dest(1), t0));
  EXPECT_EQ(disabled.size(), 0u);

  UnreachableConfig small = no_jitter();
  small.max_entries = 3;
  UnreachableCache c(small);
  for (std::uint64_t i = 1; i <= 10; ++i) c.settle(dest(i), kRefused, t0);
  EXPECT_EQ(c.size(), 3u);
  EXPECT_FALSE(c.admit(dest(10), t0)) << "past max_entries a refusal is not cached";
}
