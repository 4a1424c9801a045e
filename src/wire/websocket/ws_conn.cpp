// The live WebSocket connection of actr, for the data wire and the signaling link alike: one
// reader, one writer that packs queued messages behind NetStream's cork, a bounded queue,
// Beast's keepalive, and a close that is bounded in time. Beast translation unit.
#include "ws_stream.hpp"

#include <actr/detail/notifier.hpp>
#include <actr/error.hpp>

#include "detail/asio.hpp"

#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/websocket/error.hpp>

#include <spdlog/spdlog.h>

#include <atomic>
#include <deque>
#include <mutex>

namespace actr::ws {

using namespace actr::detail;
namespace beast = boost::beast;
namespace websocket = beast::websocket;

void configure(Stream& s, const ConnConfig& cfg) {
  websocket::stream_base::timeout t;
  t.handshake_timeout = cfg.handshake_timeout;
  // Beast pings after half the idle timeout without inbound data and fails the read at the full
  // timeout: one interval to ping, two intervals of silence to declare the peer dead.
  t.idle_timeout = 2 * cfg.keepalive_interval;
  t.keep_alive_pings = true;
  s.set_option(t);
  s.binary(true);
  s.auto_fragment(false);
  s.read_message_max(cfg.max_message_size);
  s.write_buffer_bytes(cfg.write_buffer_bytes);
}

Error map_error(const Error& ec) {
  if (ec == websocket::error::closed) return make_error_code(NetworkError::WebSocketClosed);
  if (ec == websocket::error::message_too_big || ec == beast::http::error::body_limit)
    return make_error_code(NetworkError::MessageTooLarge);
  if (ec == beast::error::timeout) return make_error_code(NetworkError::TimeoutError);
  if (is_closed_like(ec) || ec == asio::error::operation_aborted) return make_error_code(NetworkError::WebSocketClosed);
  return make_error_code(NetworkError::WebSocketError);
}

namespace {

Error closed_error() { return make_error_code(NetworkError::ConnectionClosed); }

void report(const char* what, std::exception_ptr e) {
  if (!e) return;
  try {
    std::rethrow_exception(e);
  } catch (const std::exception& ex) {
    spdlog::error("actr: websocket {} loop failed: {}", what, ex.what());
  }
}

class BeastConn final : public Connection, public std::enable_shared_from_this<BeastConn> {
 public:
  BeastConn(Stream s, ConnConfig cfg)
      : ex_(s.get_executor()), cfg_(std::move(cfg)), stream_(std::move(s)), close_timer_(ex_) {}

  void start(OnMessage on_message, OnClosed on_closed) override {
    on_message_ = std::move(on_message);
    launch(std::move(on_closed));
  }
  void start_async(OnMessageAsync on_message, OnClosed on_closed) override {
    on_async_ = std::move(on_message);
    launch(std::move(on_closed));
  }

  Result<void> send(Bytes msg) override {
    {
      std::lock_guard lk(mu_);
      if (dead_ || closing_) return closed_error();
      if (queue_.size() >= cfg_.queue_limit) return make_error_code(NetworkError::QueueFull);
      queue_.push_back(std::move(msg));
    }
    queued_.notify();
    return ok();
  }

  asio::awaitable<Result<void>> send(Bytes msg, Deadline deadline) override {
    for (;;) {
      const auto seen = drained_.version();
      {
        std::lock_guard lk(mu_);
        if (dead_ || closing_) co_return closed_error();
        if (queue_.size() < cfg_.queue_limit) {
          queue_.push_back(std::move(msg));
          break;
        }
      }
      auto w = co_await drained_.async_wait_change(seen, deadline);  // backpressure, bounded
      if (!w) co_return w.error();
    }
    queued_.notify();
    co_return ok();
  }

  void close() override {
    {
      std::lock_guard lk(mu_);
      if (dead_ || closing_) return;
      closing_ = true;
    }
    queued_.notify();  // the writer drains the queue, then ends the connection normally
    // A peer that does not read (or never answers the close) is cut off in time. No timer is
    // armed for a connection that is already gone: it would keep the executor busy.
    asio::post(ex_, [self = shared_from_this()] {
      if (!self->reported_) self->arm_watchdog();
    });
  }

  void fail(Error why, Ending how) override {
    {
      std::lock_guard lk(mu_);
      if (dead_) return;
      dead_ = true;
      why_ = why;
      queue_.clear();
    }
    spdlog::debug("actr: websocket connection ended: {}", why.message());
    open_.store(false, std::memory_order_release);
    queued_.notify();
    drained_.notify();
    asio::post(ex_, [self = shared_from_this(), how] { self->teardown(how); });
  }

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
  // On the strand.
  void launch(OnClosed on_closed) {
    if (reported_) {
      // Failed before it was started: report once, run no loops (the socket is closing).
      asio::post(ex_, [on_closed = std::move(on_closed), why = why_] {
        if (on_closed) on_closed(why);
      });
      on_message_ = nullptr;
      on_async_ = nullptr;
      return;
    }
    on_closed_ = std::move(on_closed);
    auto self = shared_from_this();
    loops_.store(2);
    asio::co_spawn(ex_, [self]() { return self->reader(); }, [](std::exception_ptr e) { report("reader", e); });
    asio::co_spawn(ex_, [self]() { return self->writer(); }, [](std::exception_ptr e) { report("writer", e); });
  }

  asio::awaitable<void> reader() {
    auto self = shared_from_this();
    beast::flat_buffer buf;
    for (;;) {
      buf.clear();
      auto [ec, n] = co_await stream_.async_read(buf, use_ec);
      if (ec) {
        fail(map_error(ec), ec == websocket::error::message_too_big ? Ending::Policy : Ending::Normal);
        break;
      }
      const auto d = buf.cdata();
      const ConstBytes data(static_cast<const std::uint8_t*>(d.data()), d.size());
      const bool binary = stream_.got_binary();
      if (on_async_) {
        auto handled = co_await on_async_(data, binary);
        if (!handled) {
          fail(handled.error(), Ending::Policy);
          break;
        }
      } else if (on_message_) {
        on_message_(data, binary);
      }
    }
    // The reader owns the message handlers; dropping them breaks the handler -> owner ->
    // connection cycle once nothing more can be delivered.
    on_message_ = nullptr;
    on_async_ = nullptr;
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
          // Everything queued before close() is out: the closing handshake follows.
          fail(closed_error(), Ending::Normal);
          break;
        }
        (void)co_await queued_.async_wait_change(seen, Clock::now() + std::chrono::hours(24));
        continue;
      }
      drained_.notify();
      const bool written = co_await write_batch(batch);
      batch.clear();
      if (!written) break;
    }
    loop_ended();
  }

  // Everything queued goes out back to back, small messages packed into as few socket writes as
  // possible (the cork absorbs Beast's per-frame writes); a big one goes out on its own, without
  // a copy. No lock is held across the writes. False once the connection failed.
  asio::awaitable<bool> write_batch(std::deque<Bytes>& batch) {
    auto& net = stream_.next_layer();
    for (auto& m : batch) {
      if (m.size() <= cfg_.coalesce_bytes) {
        net.cork();
      } else {
        const bool flushed = co_await flush();  // earlier messages first
        if (!flushed) co_return false;
      }
      auto [ec, n] = co_await stream_.async_write(asio::buffer(m), use_ec);
      if (ec) {
        fail(map_error(ec), Ending::Normal);
        co_return false;
      }
      if (net.pending_bytes() >= cfg_.coalesce_bytes) {
        const bool flushed = co_await flush();
        if (!flushed) co_return false;
      }
      std::lock_guard lk(mu_);
      if (dead_) break;
    }
    const bool flushed = co_await flush();
    co_return flushed;
  }

  asio::awaitable<bool> flush() {
    auto& net = stream_.next_layer();
    if (net.pending_bytes() == 0) {
      net.uncork();
      co_return true;
    }
    const auto ec = co_await net.flush();
    if (!ec) co_return true;
    fail(map_error(ec), Ending::Normal);
    co_return false;
  }

  // The connection is dead (first failure won): close the stream as asked, then report once.
  void teardown(Ending how) {
    if (how == Ending::Abort) {
      kill_socket();
    } else {
      arm_watchdog();  // bounds the flush of packed frames as well as the closing handshake
      auto self = shared_from_this();
      const bool policy = how == Ending::Policy;
      asio::co_spawn(ex_, [self, policy]() { return self->close_stream(policy); },
                     [](std::exception_ptr e) { report("close", e); });
    }
    reported_ = true;
    auto cb = std::move(on_closed_);
    on_closed_ = nullptr;
    if (cb) cb(why_);
  }

  asio::awaitable<void> close_stream(bool policy) {
    auto self = shared_from_this();
    if (stream_.is_open()) {
      websocket::stream_base::timeout t;
      t.handshake_timeout = cfg_.close_timeout;  // bounds the closing handshake
      t.idle_timeout = websocket::stream_base::none();
      t.keep_alive_pings = false;
      stream_.set_option(t);
      // Frames the writer already packed go out before the close frame (or, if the writer is
      // flushing right now, the close frame joins its flush).
      auto& net = stream_.next_layer();
      if (net.pending_bytes() > 0)
        (void)co_await net.flush();
      else
        net.uncork();
      const auto code = policy ? websocket::close_code::policy_error : websocket::close_code::normal;
      (void)co_await stream_.async_close(code, use_ec);
    }
    kill_socket();
  }

  void arm_watchdog() {
    close_timer_.expires_after(cfg_.close_timeout);
    close_timer_.async_wait([self = shared_from_this()](const Error& ec) {
      if (ec) return;
      self->fail(closed_error(), Ending::Abort);
      self->kill_socket();  // also cuts a closing handshake or flush that is stuck
    });
  }

  // Ends both loops: their pending operations fail.
  void kill_socket() {
    Error ignored;
    stream_.next_layer().socket().shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
    stream_.next_layer().close_socket();
    close_timer_.cancel();
  }

  void loop_ended() {
    if (loops_.fetch_sub(1) == 1) ended_.notify();
  }

  asio::any_io_executor ex_;  // a strand
  const ConnConfig cfg_;
  Stream stream_;                   // on ex_ only
  asio::steady_timer close_timer_;  // on ex_ only
  OnMessage on_message_;            // set at start; owned by the reader
  OnMessageAsync on_async_;
  OnClosed on_closed_;     // on ex_ only; called and dropped at teardown
  bool reported_ = false;  // on ex_ only: teardown ran
  mutable std::mutex mu_;  // guards queue_, dead_, closing_, why_ (written once, before teardown)
  std::deque<Bytes> queue_;
  bool dead_ = false;
  bool closing_ = false;
  Error why_;
  std::atomic<bool> open_{true};
  std::atomic<int> loops_{0};
  Notifier queued_;   // the writer wakes on new items, close and death
  Notifier drained_;  // waiting senders wake on room and death
  Notifier ended_;    // a loop ended
};

}  // namespace

std::shared_ptr<Connection> make_connection(Stream s, ConnConfig cfg) {
  return std::make_shared<BeastConn>(std::move(s), std::move(cfg));
}

}  // namespace actr::ws
