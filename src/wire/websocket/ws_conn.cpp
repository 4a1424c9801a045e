// The live WebSocket connection of actr, for the data wire and the signaling link alike: start,
// the bounded outbound queue, the reader, the keepalive, and a close that is bounded in time.
// The writer is in ws_writer.cpp. Beast translation unit.
#include "beast_conn.hpp"

#include <actr/detail/log_limit.hpp>

#include "detail/asio.hpp"

#include <boost/beast/websocket/error.hpp>

namespace actr::ws {

using namespace actr::detail;
namespace beast = boost::beast;
namespace websocket = beast::websocket;

namespace {

// Bytes an inbound message is read in at most, each charged to the read budget before the next:
// a trickling peer holds what it sent plus at most this much.
constexpr std::size_t kReadChunk = 256 * 1024;
// A message's first read asks for no more than this, so a connection that only carries small
// messages never grows its buffer past it (asking for kReadChunk grew it to 256 KiB).
constexpr std::size_t kFirstRead = 64 * 1024;
// A read buffer grown past this by a large message is freed after it, not kept for the next one.
// Up to it the buffer is kept: freeing and growing it again for every message of a stream of
// 64 KiB messages cost a fresh allocation, and the page faults of fresh memory, twice per message.
constexpr std::size_t kKeptReadBuffer = 2 * kReadChunk;

}  // namespace

void BeastConn::start(OnMessage on_message, OnClosed on_closed) {
  on_message_ = std::move(on_message);
  launch(std::move(on_closed));
}

void BeastConn::start_async(OnMessageAsync on_message, OnClosed on_closed) {
  on_async_ = std::move(on_message);
  launch(std::move(on_closed));
}

Result<void> BeastConn::send(Bytes msg) {
  {
    std::lock_guard lk(mu_);
    if (dead_ || closing_) return closed_error();
    if (!has_room_locked(msg.size())) return make_error_code(NetworkError::QueueFull);
    if (auto e = enqueue_locked(std::move(msg)); e) return e;
  }
  queued_.notify();
  return ok();
}

asio::awaitable<Result<void>> BeastConn::send(Bytes msg, Deadline deadline) {
  bool announced = false;  // want_room_ set since the last wake-up
  for (;;) {
    const auto seen = drained_.version();
    {
      std::lock_guard lk(mu_);
      if (dead_ || closing_) co_return closed_error();
      if (has_room_locked(msg.size())) {
        if (auto e = enqueue_locked(std::move(msg)); e) co_return e;
        break;
      }
    }
    if (!announced) {  // ask the writer for a wake-up as bytes leave, then look again
      if (cfg_.counters) cfg_.counters->send_waits.fetch_add(1);
      announced = true;
      want_room_.store(true);
      continue;
    }
    auto w = co_await await_progress(seen, deadline);  // backpressure, bounded
    if (!w) co_return w.error();
    announced = false;
  }
  queued_.notify();
  co_return ok();
}

void BeastConn::close() {
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

void BeastConn::fail(Error why, Ending how) {
  std::size_t dropped_bytes = 0, dropped = 0;
  {
    std::lock_guard lk(mu_);
    if (dead_) return;
    dead_ = true;
    why_ = why;
    for (const auto& m : queue_) dropped_bytes += m.size();
    dropped = queue_.size();
    queue_.clear();
  }
  let_go(dropped_bytes, dropped);
  spdlog::debug("actr: websocket connection ended: {}", why.message());
  open_.store(false, std::memory_order_release);
  queued_.notify();
  drained_.notify();
  asio::post(ex_, [self = shared_from_this(), how] { self->teardown(how); });
}

asio::awaitable<Result<void>> BeastConn::wait_closed(Deadline deadline) {
  for (;;) {
    const auto seen = ended_.version();
    if (loops_.load() == 0) co_return ok();
    auto w = co_await ended_.async_wait_change(seen, deadline);
    if (!w) co_return w.error();
  }
}

std::size_t BeastConn::queued() const {
  std::lock_guard lk(mu_);
  return queue_.size();
}

// On the strand.
void BeastConn::launch(OnClosed on_closed) {
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
  arm_keepalive();
  asio::co_spawn(
      ex_, [self]() { return self->reader(); }, [](std::exception_ptr e) { report("reader", e); });
  asio::co_spawn(
      ex_, [self]() { return self->writer(); }, [](std::exception_ptr e) { report("writer", e); });
}

// Plain binary frames are taken straight from NetStream's input buffer, as many per socket read
// as arrived: no Beast operation, post or copy per message. A frame Beast must see (control,
// text, fragment, anything malformed or over the limit) goes to Beast's read of one message,
// which is fed exactly that message's frames (net_stream.hpp).
asio::awaitable<void> BeastConn::reader() {
  auto self = shared_from_this();
  auto& net = stream_.next_layer();
  beast::flat_buffer buf;                   // a message Beast reads
  ByteCharge held{cfg_.read_budget.get()};  // the current message's bytes, until it is handled
  for (;;) {
    held.reset();
    net.end_lend();
    net.trim(kKeptReadBuffer);
    // Reading never waits for the outbound queue: inbound answers and one-way messages add
    // nothing to it, and two ends that each stopped reading at a full queue would wait for each
    // other for ever. Work that does add to it waits in its handler (a send waiting for room),
    // which holds this reader, or under the node's in-flight leases.
    ConstBytes data;
    bool binary = true;
    const std::size_t have = net.input_size();
    // Once the connection failed, Beast reads what is left (it sees the closing handshake).
    const auto f =
        is_open() ? parse_frame(net.input(), have, !client_, cfg_.max_message_size) : FrameHead{FrameHead::Other};
    if (f.kind == FrameHead::Data && have - f.header >= f.payload) {
      const auto n = static_cast<std::size_t>(f.payload);
      if (!charge(held, f.header + n)) break;
      std::uint8_t* payload = net.input() + f.header;
      if (f.mask != nullptr) apply_mask(payload, n, f.mask);
      net.lend();  // the view stays valid while the handler runs, whatever Beast reads meanwhile
      net.consume(f.header + n);
      data = ConstBytes(payload, n);
    } else if (f.kind != FrameHead::Other) {
      // A message still arriving is charged as its bytes arrive: a trickling peer holds what it
      // sent plus at most one read.
      if (f.kind == FrameHead::Data && !charge(held, have)) break;
      const std::size_t rest = f.kind == FrameHead::Data ? f.header + f.payload - have : 0;
      begin_wait();
      const auto ec = co_await net.fill(std::max(kFirstRead, std::min(rest, kReadChunk)));
      reading_ = false;
      if (ec) {
        fail(map_error(ec), Ending::Normal);
        break;
      }
      continue;
    } else {
      buf.clear();
      if (buf.capacity() > kKeptReadBuffer) buf.shrink_to_fit();
      begin_wait();
      const bool got = co_await read_message(buf, held);
      reading_ = false;
      if (!got) break;
      const auto d = buf.cdata();
      data = ConstBytes(static_cast<const std::uint8_t*>(d.data()), d.size());
      binary = stream_.got_binary();
    }
    if (on_async_) {
      auto handled = co_await on_async_(data, binary);
      if (!handled) {
        const bool busy = handled.error() == NetworkError::ResourceExhausted;
        if (busy && cfg_.counters) cfg_.counters->refused.fetch_add(1);
        fail(handled.error(), busy ? Ending::TryAgain : Ending::Policy);
        break;
      }
    } else if (on_message_) {
      on_message_(data, binary);
    }
  }
  net.end_lend();
  // The reader owns the message handlers; dropping them breaks the handler -> owner ->
  // connection cycle once nothing more can be delivered.
  on_message_ = nullptr;
  on_async_ = nullptr;
  loop_ended();
}

// One whole message into `buf`, its bytes taken from the read budget as they arrive (Beast
// refuses a message above `max_message_size` from its frame header, before its payload).
// False once the connection failed.
asio::awaitable<bool> BeastConn::read_message(beast::flat_buffer& buf, ByteCharge& held) {
  do {
    auto [ec, n] = co_await stream_.async_read_some(buf, buf.size() == 0 ? kFirstRead : kReadChunk, use_ec);
    if (ec) {
      if (ec == websocket::error::message_too_big) fail(message_too_large(0, cfg_.max_message_size), Ending::Policy);
      else fail(map_error(ec), Ending::Normal);
      co_return false;
    }
    if (!charge(held, held.n + n)) co_return false;
  } while (!stream_.is_message_done());
  co_return true;
}

bool BeastConn::charge(ByteCharge& held, std::size_t n) {
  if (n <= held.n || held.take(n - held.n)) return true;
  if (cfg_.counters) cfg_.counters->refused.fetch_add(1);
  static detail::LogLimiter full;
  if (const auto nth = full.tick())
    spdlog::info(
        "actr: websocket message refused: the global reassembly budget ({} bytes) is full; closing 1013 "
        "({} so far)",
        cfg_.read_budget->limit(), nth);
  fail(make_error_code(NetworkError::ResourceExhausted), Ending::TryAgain);
  return false;
}

void BeastConn::arm_keepalive() {
  keepalive_timer_.expires_after(cfg_.keepalive_interval / 4);
  keepalive_timer_.async_wait([self = shared_from_this()](const Error& ec) {
    if (!ec) self->keepalive_tick();
  });
}

// A peer that went silent is pinged, as Beast did: its pong (or anything) counts as life. Only
// time in which the reader waits for bytes is silence (a handler holding the reader is not). The
// tick runs every quarter interval: a ping after 1 to 1.25 silent intervals, the peer declared
// dead after 2 to 2.25.
void BeastConn::keepalive_tick() {
  if (reported_ || !is_open()) return;
  if (reading_) {
    const auto now = Clock::now();
    const auto since = std::max(stream_.next_layer().last_read_at(), wait_began_);
    if (now - since >= 2 * cfg_.keepalive_interval) {
      spdlog::debug("actr: websocket peer silent for two keepalive intervals; closing");
      fail(make_error_code(NetworkError::TimeoutError), Ending::Abort);
      return;
    }
    if (now - since >= cfg_.keepalive_interval && pinged_at_ < since && !pinging_ && stream_.is_open()) {
      pinging_ = true;
      pinged_at_ = now;
      stream_.async_ping({}, [self = shared_from_this()](const Error&) { self->pinging_ = false; });
    }
  }
  arm_keepalive();
}

// Waits (bounded by `deadline`) for a message to leave the queue. The queue not moving for two
// keepalive intervals means the peer reads nothing at all (or one message took that long to
// write): the connection ends (`TimeoutError`, socket closed at once) and this returns
// `ConnectionClosed`. Whoever waits for room (a sender, a handler answering) watches.
asio::awaitable<Result<void>> BeastConn::await_progress(std::uint64_t seen, Deadline deadline) {
  const auto stall_at = Clock::now() + 2 * cfg_.keepalive_interval;
  auto w = co_await drained_.async_wait_change(seen, std::min(deadline, stall_at));
  if (w || w.error() != NetworkError::TimeoutError || deadline <= stall_at) co_return w;
  if (is_open()) {
    if (cfg_.counters) cfg_.counters->stalls.fetch_add(1);
    static detail::LogLimiter stalled;
    if (const auto nth = stalled.tick())
      spdlog::info("actr: websocket peer took none of its {} queued bytes for {} ms; closing ({} so far)",
                   out_bytes_.load(), (2 * cfg_.keepalive_interval).count(), nth);
    fail(make_error_code(NetworkError::TimeoutError), Ending::Abort);
  }
  co_return closed_error();
}

// Under mu_. One message larger than queue_bytes goes through alone.
bool BeastConn::has_room_locked(std::size_t n) const {
  const auto bytes = out_bytes_.load();
  return queue_.size() < cfg_.queue_limit && (bytes == 0 || bytes + n <= cfg_.queue_bytes);
}

// Under mu_: takes the message's bytes from the global budget and queues it.
Error BeastConn::enqueue_locked(Bytes msg) {
  if (cfg_.send_budget && !cfg_.send_budget->try_acquire(msg.size()))
    return make_error_code(NetworkError::ResourceExhausted);
  out_bytes_.fetch_add(msg.size());
  out_count_.fetch_add(1);
  queue_.push_back(std::move(msg));
  return {};
}

// `count` messages of `bytes` left the queue (written or dropped). Any thread, no lock held:
// wakes a paused reader or a waiting sender that asked for it.
void BeastConn::let_go(std::size_t bytes, std::size_t count) {
  if (count == 0) return;
  out_bytes_.fetch_sub(bytes);
  out_count_.fetch_sub(count);
  if (cfg_.send_budget) cfg_.send_budget->release(bytes);
  if (want_room_.load() && want_room_.exchange(false)) drained_.notify();
}

// The connection is dead (first failure won): close the stream as asked, then report once.
void BeastConn::teardown(Ending how) {
  keepalive_timer_.cancel();
  if (how == Ending::Abort) {
    kill_socket();
  } else {
    arm_watchdog();  // bounds the flush of packed frames as well as the closing handshake
    auto self = shared_from_this();
    const auto code = how == Ending::Policy     ? websocket::close_code::policy_error
                      : how == Ending::TryAgain ? websocket::close_code::try_again_later
                                                : websocket::close_code::normal;
    asio::co_spawn(
        ex_, [self, code]() { return self->close_stream(code); }, [](std::exception_ptr e) { report("close", e); });
  }
  reported_ = true;
  auto cb = std::move(on_closed_);
  on_closed_ = nullptr;
  if (cb) cb(why_);
}

asio::awaitable<void> BeastConn::close_stream(websocket::close_code code) {
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
    if (net.pending_bytes() > 0) (void)co_await net.flush();
    else net.uncork();
    (void)co_await stream_.async_close(code, use_ec);
  }
  kill_socket();
}

void BeastConn::arm_watchdog() {
  close_timer_.expires_after(cfg_.close_timeout);
  close_timer_.async_wait([self = shared_from_this()](const Error& ec) {
    if (ec) return;
    self->fail(closed_error(), Ending::Abort);
    self->kill_socket();  // also cuts a closing handshake or flush that is stuck
  });
}

// Ends both loops: their pending operations fail.
void BeastConn::kill_socket() {
  Error ignored;
  stream_.next_layer().socket().shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
  stream_.next_layer().close_socket();
  close_timer_.cancel();
  keepalive_timer_.cancel();
}

void BeastConn::loop_ended() {
  if (loops_.fetch_sub(1) == 1) ended_.notify();
}

std::shared_ptr<Connection> make_connection(Stream s, ConnConfig cfg, bool client) {
  return std::make_shared<BeastConn>(std::move(s), std::move(cfg), client);
}

}  // namespace actr::ws
