// The writer of a WebSocket connection: it takes what is queued in batches and serialises the
// data frames itself into NetStream's output buffer (ws_frame.hpp), so a batch is one socket
// write with no Beast operation per message; control frames stay Beast's. Beast translation unit.
#include "beast_conn.hpp"

#include "detail/asio.hpp"

#include <cstring>

namespace actr::ws {

using namespace actr::detail;

asio::awaitable<void> BeastConn::writer() {
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
      if (stream_.next_layer().pending_bytes() > 0) {
        // Frames packed before the last turn and nothing more came: they go out now.
        const bool flushed = co_await flush();
        if (!flushed) break;
        continue;
      }
      if (closing) {
        // Everything queued before close() is out: the closing handshake follows.
        fail(closed_error(), Ending::Normal);
        break;
      }
      (void)co_await queued_.async_wait_change(seen, kNoDeadline);
      continue;
    }
    drained_.notify();
    const bool written = co_await write_batch(batch);
    for (const auto& m : batch) let_go(m.size(), 1);  // not written: the connection failed
    batch.clear();
    if (!written) break;
    // Whoever runs on this strand (the reader answering, a sender) gets one turn before the
    // packed frames are written: what it queues joins the same socket write. Without it a
    // reader that answers each message it reads paid a write per answer.
    if (stream_.next_layer().pending_bytes() > 0) co_await asio::post(ex_, asio::use_awaitable);
  }
  loop_ended();
}

// Everything queued goes out back to back: small messages are serialised into the stream's
// output buffer (a socket write per `coalesce_bytes`, no Beast operation per message); a big one
// goes out on its own, its payload written in place after its header. The last small frames may
// stay packed for the writer's next turn. No lock is held across the writes. Written (or packed)
// messages leave `batch`. False once the connection failed.
asio::awaitable<bool> BeastConn::write_batch(std::deque<Bytes>& batch) {
  auto& net = stream_.next_layer();
  // Beast is writing a control frame straight to the socket, or has begun closing: it must
  // order our frames behind its own, so this batch goes through it.
  if (net.direct_write_in_flight() || !stream_.is_open()) co_return co_await write_batch_through_beast(batch);
  while (!batch.empty()) {
    auto& m = batch.front();
    std::uint8_t key[4];
    if (masks_) masks_->next(key);
    const std::uint8_t* mask = masks_ ? key : nullptr;
    if (m.size() <= cfg_.coalesce_bytes) {
      write_frame(net.append(frame_size(m.size(), mask != nullptr)), m.data(), m.size(), mask);
      let_go(m.size(), 1);
      batch.pop_front();
      if (net.pending_bytes() >= cfg_.coalesce_bytes) {
        const bool flushed = co_await flush();
        if (!flushed || !still_writing()) co_return flushed;
      }
    } else {
      std::uint8_t header[kMaxFrameHeader];
      const auto h = write_frame_header(header, m.size(), mask);
      if (mask) apply_mask(m.data(), m.size(), mask);  // the message is ours: masked in place
      const auto ec = co_await net.flush_then(asio::buffer(header, h), asio::buffer(m));
      if (ec) {
        fail(map_error(ec), Ending::Normal);
        co_return false;
      }
      let_go(m.size(), 1);
      batch.pop_front();
      if (!still_writing()) co_return true;
    }
  }
  co_return true;
}

// After a suspension: the connection is neither dead nor closing on Beast's side.
bool BeastConn::still_writing() {
  if (!stream_.is_open()) return false;
  std::lock_guard lk(mu_);
  return !dead_;
}

// The same through Beast's write operation, one per message (absorbed by the cork): used when
// Beast has a write of its own in flight.
asio::awaitable<bool> BeastConn::write_batch_through_beast(std::deque<Bytes>& batch) {
  auto& net = stream_.next_layer();
  while (!batch.empty()) {
    const auto& m = batch.front();
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
    let_go(m.size(), 1);
    batch.pop_front();
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

asio::awaitable<bool> BeastConn::flush() {
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

}  // namespace actr::ws
