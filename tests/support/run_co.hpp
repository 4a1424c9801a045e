#pragma once
// Drivers for coroutine tests: deterministic single-threaded runs with a wall-clock safety limit
// (a hang fails the test instead of stalling CI), and a 2-thread pool for stress tests.

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_future.hpp>

#include <gtest/gtest.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <cstdlib>
#include <future>
#include <thread>

namespace actr::testing {

// Runs `aw` on `io` (single thread, this one) until it completes; aborts the test binary if it
// has not completed within `limit` — a hang is a failure, never a wait.
template <class T>
T run_co(boost::asio::io_context& io, boost::asio::awaitable<T> aw,
         std::chrono::milliseconds limit = std::chrono::milliseconds{20000}) {
  auto fut = boost::asio::co_spawn(io, std::move(aw), boost::asio::use_future);
  const auto give_up = std::chrono::steady_clock::now() + limit;
  while (fut.wait_for(std::chrono::seconds{0}) != std::future_status::ready) {
    if (std::chrono::steady_clock::now() > give_up) {
      ADD_FAILURE() << "coroutine did not complete within " << limit.count() << " ms";
      std::abort();
    }
    io.restart();
    io.run_for(std::chrono::milliseconds{10});
  }
  return fut.get();
}

// Runs handlers one at a time until `pred()` holds, re-checking after every handler: it waits on
// events (I/O, timers, posts), never on a fixed sleep. Aborts the test binary past `limit`.
template <class Pred>
void run_until(boost::asio::io_context& io, Pred pred,
               std::chrono::milliseconds limit = std::chrono::milliseconds{20000}) {
  const auto give_up = std::chrono::steady_clock::now() + limit;
  while (!pred()) {
    if (std::chrono::steady_clock::now() > give_up) {
      ADD_FAILURE() << "condition not reached within " << limit.count() << " ms";
      std::abort();
    }
    io.restart();
    io.run_one_for(std::chrono::milliseconds{10});
  }
}

// Like `run_until`, but returns false past `limit` instead of aborting, so the test can go on to
// report what it saw.
template <class Pred>
bool run_until_or(boost::asio::io_context& io, Pred pred, std::chrono::milliseconds limit) {
  const auto give_up = std::chrono::steady_clock::now() + limit;
  while (!pred()) {
    if (std::chrono::steady_clock::now() > give_up) return false;
    io.restart();
    io.run_one_for(std::chrono::milliseconds{10});
  }
  return true;
}

// Runs ready handlers until none is ready (timers still pending stay pending). Deterministic.
inline void drain(boost::asio::io_context& io) {
  io.restart();
  while (io.poll() > 0) {
  }
}

// Two threads running one io_context (stress tests), stopped and joined on destruction.
struct TwoThreads {
  // spdlog's registry (Debian's libspdlog.so, not built with TSan) is created on first use. Made
  // by a worker, TSan cannot see the static-init guard that orders it before the other worker's
  // first log call and reports a race (stress test, CI): create it here, before the threads.
  spdlog::logger* logger_made_before_threads = spdlog::default_logger_raw();
  boost::asio::io_context io;
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work = boost::asio::make_work_guard(io);
  std::thread a{[this] { io.run(); }};
  std::thread b{[this] { io.run(); }};
  ~TwoThreads() {
    work.reset();
    io.stop();
    a.join();
    b.join();
  }
};

}  // namespace actr::testing
