#pragma once
// A TCP relay on 127.0.0.1 that a test puts between two peers, with a switch that stops it
// forwarding while every socket stays open: the peers see a half-open connection (no FIN, no RST,
// nothing arrives), as across a network partition. Runs on the executor it is given (one thread);
// owned by the test, which closes it.

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/ip/tcp.hpp>

#include <cstdint>
#include <memory>

namespace actr::testing {

class TcpRelay {
 public:
  /// Listens on 127.0.0.1 (a free port) and relays each accepted connection to `target`.
  TcpRelay(boost::asio::any_io_executor ex, boost::asio::ip::tcp::endpoint target);
  ~TcpRelay();
  TcpRelay(const TcpRelay&) = delete;
  TcpRelay& operator=(const TcpRelay&) = delete;

  std::uint16_t port() const;
  /// Off: nothing more is read from or written to any socket, old or new (connections are still
  /// accepted and dialed through, then held); bytes already read wait. On: every pump goes on.
  /// Call on the relay's executor's thread.
  void set_forwarding(bool on);
  /// Connections accepted so far.
  std::uint64_t accepted() const;
  /// Closes the listener and every connection. Idempotent; the destructor calls it.
  void close();

  struct Impl;

 private:
  std::shared_ptr<Impl> impl_;
};

}  // namespace actr::testing
