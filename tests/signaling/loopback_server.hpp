#pragma once
// A `SignalingServer` on 127.0.0.1 (port 0) with its own io_context, for tests that drive it and
// its clients on one thread (run_co); closed, bounded, on destruction.

#include <actr/signaling.hpp>

#include "signaling/fast_config.hpp"
#include "support/run_co.hpp"

#include <boost/asio/io_context.hpp>

#include <gtest/gtest.h>

#include <memory>
#include <string>

namespace actr::testing {

struct LoopbackServer {
  boost::asio::io_context io;
  std::unique_ptr<SignalingServer> server;
  std::uint16_t port = 0;
  explicit LoopbackServer(SignalingServerConfig cfg = fast_server()) {
    server = std::make_unique<SignalingServer>(io.get_executor(), cfg);
    auto p = server->listen("127.0.0.1", 0);
    EXPECT_TRUE(p);
    port = p ? *p : 0;
  }
  ~LoopbackServer() { run_co(io, server->close()); }
  std::string url() const { return "ws://127.0.0.1:" + std::to_string(port) + "/"; }
};

}  // namespace actr::testing
