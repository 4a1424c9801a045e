#include "support/redis_server.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <csignal>

namespace actr::testing {

namespace {
// A port the kernel hands out now; redis binds it a moment later (SO_REUSEADDR on both sides).
std::uint16_t free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return 0;
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  std::uint16_t port = 0;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0)
    port = ntohs(a.sin_port);
  ::close(fd);
  return port;
}
}  // namespace

bool RedisServer::start() {
  if (port_ == 0) port_ = free_port();
  if (port_ == 0) {
    error_ = "no free port";
    return false;
  }
  proc_ = std::make_unique<ChildProcess>();
  const std::vector<std::string> argv{"/usr/bin/redis-server", "--port",        std::to_string(port_), "--bind", "127.0.0.1",
                                      "--save",       "",              "--appendonly",        "no",     "--daemonize",
                                      "no",           "--loglevel",    "notice",              "--logfile", ""};
  if (!proc_->start(argv)) {
    error_ = "cannot start redis-server";
    return false;
  }
  if (!proc_->read_until("Ready to accept connections", std::chrono::seconds{10})) {
    error_ = "redis-server did not get ready: " + proc_->output();
    return false;
  }
  return true;
}

void RedisServer::kill() {
  if (proc_) proc_->stop(SIGKILL);
  proc_.reset();
}

}  // namespace actr::testing
