#pragma once
// Private: the live WebSocket connection (`Connection` over a Beast stream), shared by its two
// translation units: ws_conn.cpp (start, send, the reader, close and teardown) and ws_writer.cpp
// (the writer, which serialises data frames itself). Include nowhere else.

#include "ws_frame.hpp"
#include "ws_stream.hpp"

#include <actr/detail/notifier.hpp>
#include <actr/error.hpp>

#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/flat_buffer.hpp>

#include <spdlog/spdlog.h>

#include <atomic>
#include <deque>
#include <exception>
#include <mutex>
#include <optional>
#include <random>

namespace actr::ws {

inline Error closed_error() { return make_error_code(NetworkError::ConnectionClosed); }

// Logs an exception that ended one of the connection's loops.
inline void report(const char* what, std::exception_ptr e) {
  if (!e) return;
  try {
    std::rethrow_exception(e);
  } catch (const std::exception& ex) {
    spdlog::error("actr: websocket {} loop failed: {}", what, ex.what());
  }
}

/// The `Connection` of ws_conn.hpp over a Beast stream. The stream lives on a strand (`ex_`); the
/// reader, the writer and the teardown run there. The writer owns the output side: it packs
/// queued messages as frames behind NetStream's cork and writes them (ws_writer.cpp).
class BeastConn final : public Connection, public std::enable_shared_from_this<BeastConn> {
 public:
  BeastConn(Stream s, ConnConfig cfg, bool client)
      : ex_(s.get_executor()), cfg_(std::move(cfg)), stream_(std::move(s)), close_timer_(ex_), keepalive_timer_(ex_),
        client_(client) {
    if (client) masks_.emplace((std::uint64_t{std::random_device{}()} << 32) | std::random_device{}());
    stream_.next_layer().read_mode(NetStream::ReadMode::Framed);
  }

  void start(OnMessage on_message, OnClosed on_closed) override;
  void start_async(OnMessageAsync on_message, OnClosed on_closed) override;

  Result<void> send(Bytes msg) override;

  boost::asio::awaitable<Result<void>> send(Bytes msg, Deadline deadline) override;

  void close() override;

  void fail(Error why, Ending how) override;

  bool is_open() const noexcept override { return open_.load(std::memory_order_acquire); }

  boost::asio::awaitable<Result<void>> wait_closed(Deadline deadline) override;

  std::size_t queued() const override;

 private:
  // On the strand.
  void launch(OnClosed on_closed);

  boost::asio::awaitable<void> reader();

  // One whole message into `buf`, its bytes taken from the read budget as they arrive (Beast
  // refuses a message above `max_message_size` from its frame header, before its payload).
  // False once the connection failed.
  boost::asio::awaitable<bool> read_message(boost::beast::flat_buffer& buf, ByteCharge& held);

  // Takes what `held` lacks of `n` bytes from the read budget; refuses the connection (1013)
  // when the budget is out. False once refused.
  bool charge(ByteCharge& held, std::size_t n);

  // Keepalive, on one timer per connection: a tick every quarter interval; while the reader waits
  // for bytes and none arrive, a ping after one interval and failure after two.
  void arm_keepalive();
  void keepalive_tick();
  void begin_wait() {
    reading_ = true;
    wait_began_ = Clock::now();
  }

  // Waits (bounded by `deadline`) for a message to leave the queue. The queue not moving for two
  // keepalive intervals means the peer reads nothing at all (or one message took that long to
  // write): the connection ends (`TimeoutError`, socket closed at once) and this returns
  // `ConnectionClosed`. Whoever waits for room (a sender, a handler answering) watches.
  boost::asio::awaitable<Result<void>> await_progress(std::uint64_t seen, Deadline deadline);

  // Under mu_. One message larger than queue_bytes goes through alone.
  bool has_room_locked(std::size_t n) const;

  // Under mu_: takes the message's bytes from the global budget and queues it.
  Error enqueue_locked(Bytes msg);

  // `count` messages of `bytes` left the queue (written or dropped). Any thread, no lock held:
  // wakes a paused reader or a waiting sender that asked for it.
  void let_go(std::size_t bytes, std::size_t count);

  boost::asio::awaitable<void> writer();

  // Everything queued goes out back to back: small messages are serialised into the stream's
  // output buffer (a socket write per `coalesce_bytes`, no Beast operation per message); a big one
  // goes out on its own, its payload written in place after its header. The last small frames may
  // stay packed for the writer's next turn. No lock is held across the writes. Written (or packed)
  // messages leave `batch`. False once the connection failed.
  boost::asio::awaitable<bool> write_batch(std::deque<Bytes>& batch);

  // After a suspension: the connection is neither dead nor closing on Beast's side.
  bool still_writing();

  // The same through Beast's write operation, one per message (absorbed by the cork): used when
  // Beast has a write of its own in flight.
  boost::asio::awaitable<bool> write_batch_through_beast(std::deque<Bytes>& batch);

  boost::asio::awaitable<bool> flush();

  // The connection is dead (first failure won): close the stream as asked, then report once.
  void teardown(Ending how);

  boost::asio::awaitable<void> close_stream(boost::beast::websocket::close_code code);

  void arm_watchdog();

  // Ends both loops: their pending operations fail.
  void kill_socket();

  void loop_ended();

  boost::asio::any_io_executor ex_;  // a strand
  const ConnConfig cfg_;
  Stream stream_;                              // on ex_ only
  boost::asio::steady_timer close_timer_;      // on ex_ only
  boost::asio::steady_timer keepalive_timer_;  // on ex_ only
  const bool client_;                          // dialed: inbound frames are unmasked
  bool reading_ = false;                       // on ex_ only: the reader waits for bytes
  bool pinging_ = false;                       // on ex_ only: our ping is being written
  Clock::time_point wait_began_{};             // on ex_ only: the reader's wait for bytes began
  Clock::time_point pinged_at_{};              // on ex_ only: our last keepalive ping
  std::optional<MaskSource> masks_;            // a client's masking keys; the writer's only
  OnMessage on_message_;                       // set at start; owned by the reader
  OnMessageAsync on_async_;
  OnClosed on_closed_;     // on ex_ only; called and dropped at teardown
  bool reported_ = false;  // on ex_ only: teardown ran
  mutable std::mutex mu_;  // guards queue_, dead_, closing_, why_ (written once, before teardown)
  std::deque<Bytes> queue_;
  // Outbound messages and bytes queued or in the writer's batch: raised under mu_ by a sender,
  // lowered by let_go; read lock-free by the reader.
  std::atomic<std::size_t> out_bytes_{0}, out_count_{0};
  std::atomic<bool> want_room_{false};  // a sender waits for let_go
  bool dead_ = false;
  bool closing_ = false;
  Error why_;
  std::atomic<bool> open_{true};
  std::atomic<int> loops_{0};
  detail::Notifier queued_;   // the writer wakes on new items, close and death
  detail::Notifier drained_;  // waiting senders wake on room and death
  detail::Notifier ended_;    // a loop ended
};

}  // namespace actr::ws
