#pragma once
// Shared by the examples: run a program's body with a deadline, so no example can hang.

#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <exception>

// Runs `body` on `io` (this thread) and returns the exit code it co_returns (1 if it throws). If
// it has not finished within `limit`, says so and ends the process with 1, whatever is stuck.
inline int run_with_deadline(boost::asio::io_context& io, boost::asio::awaitable<int> body, std::chrono::seconds limit,
                             const char* name) {
  int exit_code = 1;
  bool done = false;
  boost::asio::co_spawn(io, std::move(body), [&](std::exception_ptr e, int code) {
    done = true;
    exit_code = e ? 1 : code;
    io.stop();
  });
  io.run_for(limit);
  if (!done) {
    std::fprintf(stderr, "%s: not done within %lld s\n", name, static_cast<long long>(limit.count()));
    std::_Exit(1);
  }
  return exit_code;
}
