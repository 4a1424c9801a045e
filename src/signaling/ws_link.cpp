// The signaling link: a WebSocket connection carrying whole binary messages, with one reader,
// one writer and a bounded queue. Client dial and server upgrade. The Beast translation unit of
// src/signaling (URL parsing and error mapping are shared with the WebSocket wire).
#include "signaling/ws_link.hpp"

#include <actr/detail/notifier.hpp>
#include <actr/error.hpp>

#include "detail/asio.hpp"
#include "wire/websocket/ws_common.hpp"

#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/websocket/error.hpp>
#include <boost/beast/websocket/stream.hpp>

#include <spdlog/spdlog.h>

#include <atomic>
#include <deque>
#include <mutex>

namespace actr::sig {

using namespace actr::detail;
namespace beast = boost::beast;
namespace websocket = beast::websocket;
using tcp = asio::ip::tcp;

namespace {

using Stream = websocket::stream<beast::tcp_stream>;

// Beast pings after half the idle timeout without inbound data and fails the read at the full
// timeout: one interval to ping, two intervals of silence to declare the peer dead.
void configure(Stream& s, const LinkConfig& c) {
  websocket::stream_base::timeout t;
  t.handshake_timeout = c.handshake_timeout;
  t.idle_timeout = 2 * c.keepalive_interval;
  t.keep_alive_pings = true;
  s.set_option(t);
  s.binary(true);
  s.read_message_max(c.max_message_size);
}

void report(const char* what, std::exception_ptr e) {
  if (!e) return;
  try {
    std::rethrow_exception(e);
  } catch (const std::exception& ex) {
    spdlog::error("actr: signaling link {} failed: {}", what, ex.what());
  }
}

class BeastLink final : public Link, public std::enable_shared_from_this<BeastLink> {
 public:
  BeastLink(Stream s, LinkConfig cfg)
      : ex_(s.get_executor()), cfg_(cfg), stream_(std::move(s)), close_timer_(ex_) {}

  void start(OnMessage on_message, OnClosed on_closed) override {
    on_message_ = std::move(on_message);
    on_closed_ = std::move(on_closed);
    auto self = shared_from_this();
    loops_.store(2);
    asio::co_spawn(ex_, [self]() { return self->reader(); }, [](std::exception_ptr e) { report("reader", e); });
    asio::co_spawn(ex_, [self]() { return self->writer(); }, [](std::exception_ptr e) { report("writer", e); });
  }

  Result<void> send(Bytes msg) override {
    {
      std::lock_guard lk(mu_);
      if (dead_ || closing_) return make_error_code(NetworkError::ConnectionClosed);
      if (queue_.size() >= cfg_.queue_limit) return make_error_code(NetworkError::QueueFull);
      queue_.push_back(std::move(msg));
    }
    queued_.notify();
    return ok();
  }

  void close() override {
    {
      std::lock_guard lk(mu_);
      if (dead_ || closing_) return;
      closing_ = true;
    }
    queued_.notify();  // the writer flushes, then runs the closing handshake
    // Watchdog: a peer that does not read (or never answers the close) is cut off in time.
    asio::post(ex_, [self = shared_from_this()] {
      {
        std::lock_guard lk(self->mu_);
        if (self->dead_) return;  // already gone: no timer to keep the executor busy
      }
      self->close_timer_.expires_after(self->cfg_.close_timeout);
      self->close_timer_.async_wait([self](const boost::system::error_code& ec) {
        if (!ec) self->die(make_error_code(NetworkError::ConnectionClosed));
      });
    });
  }

  void abort() override { die(make_error_code(NetworkError::ConnectionClosed)); }

  bool is_open() const noexcept override { return open_.load(std::memory_order_acquire); }

  asio::awaitable<Result<void>> wait_closed(Deadline deadline) override {
    for (;;) {
      const auto seen = ended_.version();
      if (loops_.load() == 0) co_return ok();
      auto w = co_await ended_.async_wait_change(seen, deadline);
      if (!w) co_return w.error();
    }
  }

  std::size_t queued() const override {
    std::lock_guard lk(mu_);
    return queue_.size();
  }

 private:
  asio::awaitable<void> reader() {
    auto self = shared_from_this();
    beast::flat_buffer buf;
    for (;;) {
      buf.clear();
      auto [ec, n] = co_await stream_.async_read(buf, use_ec);
      if (ec) {
        die(ws::map_error(ec));
        break;
      }
      const auto data = buf.cdata();
      const auto* p = static_cast<const std::uint8_t*>(data.data());
      if (on_message_) on_message_(Bytes(p, p + data.size()), stream_.got_binary());
    }
    loop_ended();
  }

  asio::awaitable<void> writer() {
    auto self = shared_from_this();
    std::deque<Bytes> batch;
    for (;;) {
      const auto seen = queued_.version();
      bool closing = false;
      {
        std::lock_guard lk(mu_);
        if (dead_) break;
        batch.swap(queue_);
        closing = closing_;
      }
      if (batch.empty()) {
        if (closing) {
          // Everything queued before close() is out: say goodbye, bounded by the watchdog.
          (void)co_await stream_.async_close(websocket::close_code::normal, use_ec);
          die(make_error_code(NetworkError::ConnectionClosed));
          break;
        }
        (void)co_await queued_.async_wait_change(seen, Clock::now() + std::chrono::hours(24));
        continue;
      }
      bool failed = false;
      for (auto& m : batch) {
        auto [ec, n] = co_await stream_.async_write(asio::buffer(m), use_ec);
        if (ec) {
          die(ws::map_error(ec));
          failed = true;
          break;
        }
      }
      batch.clear();
      if (failed) break;
    }
    loop_ended();
  }

  // The link is dead: first call wins. Closes the socket on the strand (which ends both loops)
  // and reports once, posted.
  void die(Error why) {
    {
      std::lock_guard lk(mu_);
      if (dead_) return;
      dead_ = true;
      queue_.clear();
    }
    open_.store(false, std::memory_order_release);
    queued_.notify();
    asio::post(ex_, [self = shared_from_this(), why] {
      beast::error_code ignored;
      auto& sock = beast::get_lowest_layer(self->stream_).socket();
      sock.shutdown(tcp::socket::shutdown_both, ignored);
      sock.close(ignored);
      self->close_timer_.cancel();
      if (self->on_closed_) self->on_closed_(why);
      // Break the handler -> owner -> link cycle: nothing is delivered after death.
      self->on_message_ = nullptr;
      self->on_closed_ = nullptr;
    });
  }

  void loop_ended() {
    if (loops_.fetch_sub(1) == 1) ended_.notify();
  }

  asio::any_io_executor ex_;
  const LinkConfig cfg_;
  Stream stream_;                    // on ex_ only
  asio::steady_timer close_timer_;  // on ex_ only
  OnMessage on_message_;             // set before start; reset on ex_ after death
  OnClosed on_closed_;
  mutable std::mutex mu_;  // guards queue_, dead_, closing_
  std::deque<Bytes> queue_;
  bool dead_ = false;
  bool closing_ = false;
  std::atomic<bool> open_{true};
  std::atomic<int> loops_{0};
  Notifier queued_;  // the writer wakes on new items and on death
  Notifier ended_;   // a loop ended
};

}  // namespace

asio::awaitable<Result<std::shared_ptr<Link>>> dial_link(std::string url, LinkConfig cfg) {
  auto u = ws::parse_url(url);
  if (!u) co_return u.error();
  if (u->tls) co_return make_error_code(NetworkError::ConfigurationError);  // wss:// not supported here yet
  auto ex = co_await asio::this_coro::executor;
  tcp::resolver resolver(ex);
  auto [rec, endpoints] = co_await resolver.async_resolve(u->host, u->port, use_ec);
  if (rec) co_return make_error_code(NetworkError::ConnectionError);
  Stream s(ex);
  auto& tcp_layer = beast::get_lowest_layer(s);
  tcp_layer.expires_after(cfg.handshake_timeout);
  auto [cec, ep] = co_await tcp_layer.async_connect(endpoints, use_ec);
  if (cec) {
    co_return cec == beast::error::timeout ? make_error_code(NetworkError::TimeoutError)
                                           : make_error_code(NetworkError::ConnectionError);
  }
  tcp_layer.expires_never();  // the websocket stream's own timeouts take over
  boost::system::error_code nodelay_ec;
  tcp_layer.socket().set_option(tcp::no_delay(true), nodelay_ec);  // best effort
  configure(s, cfg);
  auto [hec] = co_await s.async_handshake(u->host + ":" + u->port, u->target, use_ec);
  if (hec) {
    co_return hec == beast::error::timeout ? make_error_code(NetworkError::TimeoutError)
                                           : make_error_code(NetworkError::WebSocketError);
  }
  co_return std::shared_ptr<Link>(std::make_shared<BeastLink>(std::move(s), cfg));
}

asio::awaitable<Result<std::shared_ptr<Link>>> accept_link(tcp::socket sock, LinkConfig cfg) {
  boost::system::error_code nodelay_ec;
  sock.set_option(tcp::no_delay(true), nodelay_ec);  // best effort
  Stream s(std::move(sock));
  configure(s, cfg);  // handshake_timeout bounds reading the upgrade request too
  auto [ec] = co_await s.async_accept(use_ec);
  if (ec) {
    co_return ec == beast::error::timeout ? make_error_code(NetworkError::TimeoutError)
                                          : make_error_code(NetworkError::WebSocketError);
  }
  co_return std::shared_ptr<Link>(std::make_shared<BeastLink>(std::move(s), cfg));
}

}  // namespace actr::sig
