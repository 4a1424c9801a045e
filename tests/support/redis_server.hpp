#pragma once
// A redis-server the test starts on 127.0.0.1 (a port free when it starts), with no persistence:
// the engine of the signaling cluster tests. Killed and reaped on destruction.

#include "support/child_process.hpp"

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

namespace actr::testing {

class RedisServer {
 public:
  /// Starts it; false (with the reason in `error()`) if it did not say it was ready within 10 s.
  bool start();
  /// SIGKILL; what it held is gone. `start()` again brings it back on the same port.
  void kill();
  std::uint16_t port() const { return port_; }
  std::string url() const { return "redis://127.0.0.1:" + std::to_string(port_); }
  const std::string& error() const { return error_; }

 private:
  std::unique_ptr<ChildProcess> proc_;
  std::uint16_t port_ = 0;
  std::string error_;
};

}  // namespace actr::testing
