#include <actr/backoff.hpp>

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <set>
#include <stdexcept>
#include <vector>

namespace {

using actr::Backoff;
using actr::BackoffConfig;
using std::chrono::milliseconds;

BackoffConfig no_jitter() {
  BackoffConfig cfg;
  cfg.jitter = 0.0;
  return cfg;
}

// `n` delays in ms; -1 marks nullopt so exhaustion shows up in the same comparison.
std::vector<long long> take(Backoff& b, int n, milliseconds elapsed = milliseconds{0}) {
  std::vector<long long> out;
  for (int i = 0; i < n; ++i) {
    const auto d = b.next_delay(elapsed);
    out.push_back(d ? static_cast<long long>(d->count()) : -1);
  }
  return out;
}

TEST(Backoff, DefaultSequenceWithoutJitter) {
  Backoff b(no_jitter(), 1);
  EXPECT_EQ(take(b, 8), (std::vector<long long>{0, 1000, 2000, 4000, 8000, 10000, 10000, 10000}));
  EXPECT_EQ(b.attempts(), 8U);
}

TEST(Backoff, FirstAttemptDelayed) {
  BackoffConfig cfg = no_jitter();
  cfg.immediate_first_attempt = false;
  Backoff b(cfg, 1);
  EXPECT_EQ(take(b, 6), (std::vector<long long>{1000, 2000, 4000, 8000, 10000, 10000}));
}

TEST(Backoff, OriginalExamples) {
  BackoffConfig cfg = no_jitter();
  cfg.immediate_first_attempt = false;
  cfg.initial = milliseconds{100};
  cfg.max = milliseconds{2000};
  cfg.max_attempts = 4;
  Backoff a(cfg, 1);
  EXPECT_EQ(take(a, 5), (std::vector<long long>{100, 200, 400, 800, -1}));

  cfg.max = milliseconds{500};
  cfg.max_attempts = 5;
  Backoff b(cfg, 1);
  EXPECT_EQ(take(b, 6), (std::vector<long long>{100, 200, 400, 500, 500, -1}));

  cfg.max = milliseconds{2000};
  cfg.multiplier = 1.5;
  cfg.max_attempts = 3;
  Backoff c(cfg, 1);
  EXPECT_EQ(take(c, 4), (std::vector<long long>{100, 150, 225, -1}));
}

TEST(Backoff, CapIsAppliedBeforeJitter) {
  BackoffConfig cfg;
  cfg.initial = milliseconds{100};
  cfg.max = milliseconds{500};
  cfg.jitter = 0.2;
  for (std::uint64_t seed = 0; seed < 20; ++seed) {
    Backoff b(cfg, seed);
    EXPECT_EQ(b.next_delay(), milliseconds{0});
    const long long lo[] = {80, 160, 320};
    const long long hi[] = {120, 240, 480};
    for (int i = 0; i < 3; ++i) {
      const auto d = b.next_delay();
      ASSERT_TRUE(d);
      EXPECT_GE(d->count(), lo[i]);
      EXPECT_LE(d->count(), hi[i]);
    }
    // Un-jittered 800, 1600, ... are capped to 500 first, so jitter stays within ±100 and, since it
    // comes after the cap, goes both above and below 500.
    long long lowest = 1000;
    long long highest = 0;
    for (int i = 0; i < 50; ++i) {
      const auto d = b.next_delay();
      ASSERT_TRUE(d);
      EXPECT_GE(d->count(), 400);
      EXPECT_LE(d->count(), 600);
      lowest = std::min<long long>(lowest, d->count());
      highest = std::max<long long>(highest, d->count());
    }
    EXPECT_LT(lowest, 500);
    EXPECT_GT(highest, 500);
  }
}

TEST(Backoff, JitterStaysInBoundsAndVaries) {
  BackoffConfig cfg;
  cfg.initial = milliseconds{1000};
  cfg.max = milliseconds{1000};
  cfg.jitter = 0.3;
  Backoff b(cfg, 12345);
  ASSERT_EQ(b.next_delay(), milliseconds{0});
  std::set<long long> seen;
  long long lowest = std::numeric_limits<long long>::max();
  long long highest = 0;
  double sum = 0;
  for (int i = 0; i < 1000; ++i) {
    const auto d = b.next_delay();
    ASSERT_TRUE(d);
    ASSERT_GE(d->count(), 700);
    ASSERT_LE(d->count(), 1300);
    seen.insert(d->count());
    lowest = std::min<long long>(lowest, d->count());
    highest = std::max<long long>(highest, d->count());
    sum += static_cast<double>(d->count());
  }
  EXPECT_GT(seen.size(), 200U);
  EXPECT_LT(lowest, 750);
  EXPECT_GT(highest, 1250);
  EXPECT_NEAR(sum / 1000.0, 1000.0, 30.0);
}

TEST(Backoff, JitteredDelayIsAtLeastOneMillisecond) {
  BackoffConfig cfg;
  cfg.initial = milliseconds{1};
  cfg.max = milliseconds{1};
  cfg.jitter = 0.9;
  Backoff b(cfg, 7);
  ASSERT_EQ(b.next_delay(), milliseconds{0});
  for (int i = 0; i < 200; ++i) EXPECT_GE(b.next_delay()->count(), 1);
}

TEST(Backoff, DeterministicForTheSameSeed) {
  Backoff a(BackoffConfig{}, 42);
  Backoff b(BackoffConfig{}, 42);
  Backoff c(BackoffConfig{}, 43);
  const auto sa = take(a, 30);
  EXPECT_EQ(sa, take(b, 30));
  EXPECT_NE(sa, take(c, 30));
}

TEST(Backoff, MaxAttemptsCountsTheFirstAttempt) {
  BackoffConfig cfg = no_jitter();
  cfg.max_attempts = 3;
  Backoff b(cfg, 1);
  EXPECT_EQ(take(b, 5), (std::vector<long long>{0, 1000, 2000, -1, -1}));
  EXPECT_EQ(b.attempts(), 3U);

  cfg.max_attempts = 0;
  Backoff none(cfg, 1);
  EXPECT_FALSE(none.next_delay());
}

TEST(Backoff, MaxTotalBoundsElapsedPlusDelay) {
  BackoffConfig cfg = no_jitter();
  cfg.max_total = milliseconds{3000};
  Backoff b(cfg, 1);
  EXPECT_EQ(b.next_delay(milliseconds{0}), milliseconds{0});
  EXPECT_EQ(b.next_delay(milliseconds{0}), milliseconds{1000});
  EXPECT_EQ(b.next_delay(milliseconds{1000}), milliseconds{2000});  // 1000 + 2000 == limit: allowed
  EXPECT_FALSE(b.next_delay(milliseconds{1000}));                   // 1000 + 4000 > 3000
  EXPECT_EQ(b.attempts(), 3U);

  Backoff late(cfg, 1);
  EXPECT_FALSE(late.next_delay(milliseconds{3001}));  // even the immediate attempt is too late
}

TEST(Backoff, ResetReturnsToTheConfiguredInitial) {
  BackoffConfig cfg = no_jitter();
  cfg.initial = milliseconds{250};
  Backoff b(cfg, 1);
  const auto first = take(b, 5);
  EXPECT_EQ(first, (std::vector<long long>{0, 250, 500, 1000, 2000}));
  b.reset();
  EXPECT_EQ(b.attempts(), 0U);
  EXPECT_EQ(take(b, 5), first);
}

TEST(Backoff, HugeExponentsSaturateAtTheCap) {
  BackoffConfig cfg = no_jitter();
  cfg.initial = milliseconds{1};
  cfg.max = milliseconds{std::numeric_limits<milliseconds::rep>::max()};
  cfg.multiplier = 1000.0;
  Backoff b(cfg, 1);
  for (int i = 0; i < 200; ++i) {
    const auto d = b.next_delay();
    ASSERT_TRUE(d);
    EXPECT_GE(d->count(), 0);
  }
  EXPECT_EQ(b.next_delay(), cfg.max);

  cfg.jitter = 0.5;
  Backoff j(cfg, 3);
  for (int i = 0; i < 200; ++i) {
    const auto d = j.next_delay();
    ASSERT_TRUE(d);
    EXPECT_GE(d->count(), 0);
  }
}

TEST(Backoff, MultiplierOneIsConstant) {
  BackoffConfig cfg = no_jitter();
  cfg.multiplier = 1.0;
  cfg.initial = milliseconds{300};
  Backoff b(cfg, 1);
  EXPECT_EQ(take(b, 4), (std::vector<long long>{0, 300, 300, 300}));
}

TEST(Backoff, RejectsInvalidConfig) {
  const auto with = [](auto mutate) {
    BackoffConfig cfg;
    mutate(cfg);
    return cfg;
  };
  EXPECT_THROW(Backoff(with([](BackoffConfig& c) { c.multiplier = 0.5; })), std::invalid_argument);
  EXPECT_THROW(Backoff(with([](BackoffConfig& c) { c.multiplier = std::nan(""); })),
               std::invalid_argument);
  EXPECT_THROW(Backoff(with([](BackoffConfig& c) { c.jitter = -0.1; })), std::invalid_argument);
  EXPECT_THROW(Backoff(with([](BackoffConfig& c) { c.jitter = 1.0; })), std::invalid_argument);
  EXPECT_THROW(Backoff(with([](BackoffConfig& c) { c.initial = milliseconds{-1}; })),
               std::invalid_argument);
  EXPECT_THROW(Backoff(with([](BackoffConfig& c) { c.max = milliseconds{-1}; })),
               std::invalid_argument);
  EXPECT_THROW(Backoff(with([](BackoffConfig& c) { c.initial = milliseconds{20000}; })),
               std::invalid_argument);
  EXPECT_THROW(Backoff(with([](BackoffConfig& c) { c.max_total = milliseconds{-1}; })),
               std::invalid_argument);
  EXPECT_NO_THROW(Backoff(with([](BackoffConfig& c) {
    c.multiplier = 1.0;
    c.jitter = 0.0;
    c.initial = c.max;
  })));
}

}  // namespace
