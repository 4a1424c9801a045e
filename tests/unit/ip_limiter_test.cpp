#include <actr/ip_limiter.hpp>

#include <gtest/gtest.h>

#include <vector>

using namespace actr;
using namespace std::chrono_literals;

namespace {
const auto t0 = IpLimiter::TimePoint{} + 1h;
}  // namespace

TEST(IpLimiter, ABurstIsAdmittedThenNewConnectionsComeAtTheRefillRate) {
  auto lim = IpLimiter::create();  // actrix's defaults: 5 a minute, bursts of 10
  std::vector<IpLimiter::Lease> held;
  for (int i = 0; i < 10; ++i) {
    IpLimiter::Lease l;
    ASSERT_EQ(lim->admit("192.0.2.1", false, t0, l), IpVerdict::Admit) << i;
    held.push_back(l);
  }
  IpLimiter::Lease l;
  EXPECT_EQ(lim->admit("192.0.2.1", false, t0, l), IpVerdict::RateLimited);
  EXPECT_EQ(l, nullptr);
  EXPECT_EQ(lim->admit("192.0.2.2", false, t0, l), IpVerdict::Admit) << "another address has its own bucket";
  EXPECT_EQ(lim->admit("192.0.2.1", false, t0 + 11s, l), IpVerdict::RateLimited);
  EXPECT_EQ(lim->admit("192.0.2.1", false, t0 + 12s, l), IpVerdict::Admit) << "one token per 12 s at 5 a minute";
  held.clear();  // closing connections returns no tokens: the rate is of new connections
  EXPECT_EQ(lim->admit("192.0.2.1", false, t0 + 13s, l), IpVerdict::RateLimited);
}

TEST(IpLimiter, OpenConnectionsAreCappedAndReleasedWithTheirLease) {
  IpLimitConfig c;
  c.burst = 1000;
  c.max_concurrent = 2;
  auto lim = IpLimiter::create(c);
  IpLimiter::Lease a, b, x;
  ASSERT_EQ(lim->admit("2001:db8::1", false, t0, a), IpVerdict::Admit);
  ASSERT_EQ(lim->admit("2001:db8::1", false, t0, b), IpVerdict::Admit);
  EXPECT_EQ(lim->open("2001:db8::1"), 2u);
  EXPECT_EQ(lim->admit("2001:db8::1", false, t0, x), IpVerdict::TooManyOpen);
  auto copy = a;
  a.reset();
  EXPECT_EQ(lim->open("2001:db8::1"), 2u) << "released when the last copy goes";
  copy.reset();
  EXPECT_EQ(lim->open("2001:db8::1"), 1u);
  EXPECT_EQ(lim->admit("2001:db8::1", false, t0, x), IpVerdict::Admit);
}

TEST(IpLimiter, LoopbackIsExemptUnlessAskedAndDisabledLimitsAdmitAll) {
  IpLimitConfig c;
  c.burst = 1;
  auto lim = IpLimiter::create(c);
  IpLimiter::Lease l;
  for (int i = 0; i < 50; ++i) ASSERT_EQ(lim->admit("127.0.0.1", true, t0, l), IpVerdict::Admit);
  EXPECT_EQ(lim->tracked(), 0u);
  c.limit_loopback = true;
  auto strict = IpLimiter::create(c);
  ASSERT_EQ(strict->admit("127.0.0.1", true, t0, l), IpVerdict::Admit);
  EXPECT_EQ(strict->admit("127.0.0.1", true, t0, l), IpVerdict::RateLimited);
  c.enabled = false;
  auto off = IpLimiter::create(c);
  for (int i = 0; i < 50; ++i) ASSERT_EQ(off->admit("192.0.2.9", false, t0, l), IpVerdict::Admit);
}

TEST(IpLimiter, MemoryIsBoundedIdleAddressesAreForgotten) {
  IpLimitConfig c;
  c.max_addresses = 3;
  auto lim = IpLimiter::create(c);
  IpLimiter::Lease keep, l;
  ASSERT_EQ(lim->admit("192.0.2.1", false, t0, keep), IpVerdict::Admit);
  ASSERT_EQ(lim->admit("192.0.2.2", false, t0, l), IpVerdict::Admit);
  l.reset();
  ASSERT_EQ(lim->admit("192.0.2.3", false, t0, l), IpVerdict::Admit);
  l.reset();
  EXPECT_EQ(lim->admit("192.0.2.4", false, t0, l), IpVerdict::TooManyAddresses);
  // Two minutes on, the idle addresses' buckets are full again: forgotten; the one holding a
  // connection is kept.
  EXPECT_EQ(lim->sweep(t0 + 2min), 1u);
  EXPECT_EQ(lim->admit("192.0.2.4", false, t0 + 2min, l), IpVerdict::Admit);
  EXPECT_EQ(to_string(IpVerdict::TooManyOpen), "too_many_open");
}
