// The limiter of repeated warnings: the 1st, 2nd, 4th, 8th, … occurrence is logged, from any
// number of threads, and every occurrence is counted.
#include <actr/detail/log_limit.hpp>

#include <gtest/gtest.h>

#include <thread>
#include <vector>

using actr::detail::LogLimiter;
using actr::detail::nth_is_logged;

TEST(LogLimit, PowersOfTwoAreLogged) {
  EXPECT_FALSE(nth_is_logged(0));
  LogLimiter l;
  std::vector<std::uint64_t> logged;
  for (int i = 0; i < 1000; ++i)
    if (auto n = l.tick()) logged.push_back(n);
  EXPECT_EQ(logged, (std::vector<std::uint64_t>{1, 2, 4, 8, 16, 32, 64, 128, 256, 512}));
  EXPECT_EQ(l.count(), 1000u);
}

TEST(LogLimit, ConcurrentTicksLogEachPowerOfTwoOnce) {
  LogLimiter l;
  std::atomic<int> logged{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&] {
      for (int i = 0; i < 4096; ++i)
        if (l.tick()) logged.fetch_add(1);
    });
  for (auto& t : threads) t.join();
  EXPECT_EQ(l.count(), 4u * 4096);
  EXPECT_EQ(logged.load(), 15);  // 1, 2, 4, …, 16384
}
