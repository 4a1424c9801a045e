#pragma once
// Private: the byte stream under a WebSocket connection — plain TCP or TLS, chosen at run time —
// with a cork that lets the single writer coalesce many WebSocket frames into one socket write,
// and an input buffer from which the connection's reader takes many frames per socket read.
// Included only by the Beast translation units of src/wire/websocket.
//
// Read contract (all on the connection's strand): bytes read from the socket land in one input
// buffer with two consumers, which never read the socket at the same time:
//  - the connection's reader (`fill`, `input`, `consume`), which parses plain binary frames
//    itself (ws_frame.hpp) and hands views of them to its handlers;
//  - Beast (`async_read_some`), for everything else. How much Beast may take is set by the
//    `ReadMode`: once the connection is open (`Framed`) it is fed whole frames only, one at a
//    time, so when its read of a message ends nothing it read ahead is left in Beast's own buffer
//    and the reader can take the next frame; during a client's upgrade (`HttpHead`) it is fed up
//    to the end of the response head, so frames sent right behind the 101 stay in the buffer.
//  - a Beast read that needs the socket while the reader's `fill` is in flight (the closing
//    handshake starting meanwhile) waits for that fill and is then served from the buffer;
//  - bytes the reader handed to a handler (`lend`) stay where they are until `end_lend`, whatever
//    Beast reads meanwhile.
//
// Cork contract (all on the connection's strand):
//  - while corked or flushing, every `async_write_some` (our frames, and Beast's own pings, pongs
//    and close frames) is appended to `pending_` and completes at once (posted) with its full size;
//  - `flush()` writes `pending_` in as few writes as possible, keeps absorbing writes that arrive
//    meanwhile, and ends uncorked; only one flush runs at a time (a second call returns at once);
//  - uncorked, writes go straight to the socket. Beast serialises its own writes, so a direct
//    write is never in flight while Beast frames are being absorbed, and vice versa;
//  - bytes the connection serialises itself (`append`) may join `pending_` only while no direct
//    write is in flight (`direct_write_in_flight()`): Beast does not know of them, so nothing
//    else keeps its half-written frame and theirs apart.

#include <boost/asio/append.hpp>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/consign.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/role.hpp>
#include <boost/beast/core/stream_traits.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <boost/beast/websocket/teardown.hpp>

#include "ws_frame.hpp"

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <memory>
#include <optional>
#include <vector>

namespace actr::ws {

namespace net_detail {
namespace asio = boost::asio;
namespace beast = boost::beast;
}  // namespace net_detail

class NetStream {
 public:
  using tcp_stream = boost::beast::tcp_stream;
  using tls_stream = boost::beast::ssl_stream<tcp_stream>;
  using executor_type = tcp_stream::executor_type;

  explicit NetStream(tcp_stream&& s) : tcp_(std::move(s)) {}
  /// Plain TCP, set-up over: drops tcp_stream's per-operation timer bookkeeping from the data
  /// path (the WebSocket stream has its own idle timer). TLS keeps its tcp_stream.
  void go_raw() {
    if (tcp_) {
      sock_.emplace(tcp_->release_socket());
      tcp_.reset();
    }
  }
  NetStream(tcp_stream&& s, boost::asio::ssl::context& ctx) : tls_(std::in_place, std::move(s), ctx) {}
  NetStream(NetStream&&) = default;
  NetStream& operator=(NetStream&&) = delete;

  executor_type get_executor() noexcept { return sock_ ? sock_->get_executor() : lowest().get_executor(); }
  /// The TCP layer with its timer, for the set-up phases (before `go_raw`).
  tcp_stream& lowest() noexcept { return tls_ ? boost::beast::get_lowest_layer(*tls_) : *tcp_; }
  boost::asio::ip::tcp::socket& socket() noexcept { return sock_ ? *sock_ : lowest().socket(); }
  /// The TLS layer, or null for plain TCP.
  tls_stream* tls() noexcept { return tls_ ? &*tls_ : nullptr; }

 private:
  template <class Buffers, class Token>
  auto read_raw(const Buffers& b, Token&& token) {
    return boost::asio::async_initiate<Token, void(boost::system::error_code, std::size_t)>(
        [this](auto handler, const Buffers& bufs) {
          if (sock_)
            sock_->async_read_some(bufs, std::move(handler));
          else if (tls_)
            tls_->async_read_some(bufs, std::move(handler));
          else
            tcp_->async_read_some(bufs, std::move(handler));
        },
        token, b);
  }

 public:
  enum class ReadMode {
    Free,      // set-up: whoever reads takes what there is (the buffered bytes first)
    HttpHead,  // a client's upgrade: Beast gets the bytes up to the end of the response head
    Framed,    // open: Beast gets whole frames only, one at a time
  };
  void read_mode(ReadMode m) noexcept { mode_ = m; }

  /// Bytes the set-up read past what it needed (frames pipelined behind an upgrade request):
  /// they are read first.
  void unread(boost::asio::const_buffer b) {
    if (b.size() == 0) return;
    std::memcpy(prepare(b.size()), b.data(), b.size());
    in_end_ += b.size();
  }

  /// The bytes read and not yet consumed (writable: a server unmasks frames in place).
  std::uint8_t* input() noexcept { return in_.get() + in_begin_; }
  std::size_t input_size() const noexcept { return in_end_ - in_begin_; }
  void consume(std::size_t n) noexcept {
    in_begin_ += n;
    if (in_begin_ == in_end_ && !lent_) in_begin_ = in_end_ = 0;
  }
  /// The bytes consumed next stay valid (not moved, not freed) until `end_lend`.
  void lend() noexcept { lent_ = true; }
  void end_lend() noexcept {
    lent_ = false;
    retired_.reset();
    if (in_begin_ == in_end_) in_begin_ = in_end_ = 0;
  }
  /// Frees an empty input buffer whose capacity grew past `keep`.
  void trim(std::size_t keep) noexcept {
    if (in_begin_ == in_end_ && !lent_ && in_cap_ > keep) {
      in_.reset();
      in_cap_ = in_begin_ = in_end_ = 0;
    }
  }
  /// When the socket last gave bytes (for keepalive).
  std::chrono::steady_clock::time_point last_read_at() const noexcept { return last_read_at_; }

  /// One socket read of up to `want` bytes into the input buffer (the reader's). Errors are the
  /// socket's; `in_progress` if Beast is reading the socket (never both).
  boost::asio::awaitable<boost::system::error_code> fill(std::size_t want) {
    if (feeding_) co_return boost::asio::error::in_progress;
    filling_ = true;
    auto* p = prepare(want);
    auto [ec, n] = co_await read_raw(boost::asio::buffer(p, want), boost::asio::as_tuple(boost::asio::use_awaitable));
    filling_ = false;
    if (!ec) {
      in_end_ += n;
      last_read_at_ = std::chrono::steady_clock::now();
    }
    if (parked_) parked_->cancel();  // a Beast read waiting for this fill looks again
    co_return ec;
  }

  /// Beast's reads (see the read contract above).
  template <class MutableBuffers, class Token>
  auto async_read_some(const MutableBuffers& b, Token&& token) {
    return boost::asio::async_initiate<Token, void(boost::system::error_code, std::size_t)>(
        [this](auto handler, const MutableBuffers& bufs) {
          if (mode_ == ReadMode::Free && in_begin_ == in_end_ && !filling_) read_raw(bufs, std::move(handler));
          else feed(bufs, std::move(handler));
        },
        token, b);
  }

  template <class ConstBuffers, class Token>
  auto async_write_some(const ConstBuffers& b, Token&& token) {
    return boost::asio::async_initiate<Token, void(boost::system::error_code, std::size_t)>(
        [this](auto handler, const ConstBuffers& bufs) {
          if (corked_ || flushing_) {
            // Absorbed into the next flush; completion is posted, never inline.
            const auto n = boost::asio::buffer_size(bufs);
            const auto at = pending_.size();
            pending_.resize(at + n);
            boost::asio::buffer_copy(boost::asio::buffer(pending_.data() + at, n), bufs);
            boost::asio::post(get_executor(),
                              boost::asio::append(std::move(handler), boost::system::error_code{}, n));
          } else if (sock_) {
            // The token travels with the handler (associations kept) and is dropped once it ran:
            // while a copy lives, a direct write is in flight.
            sock_->async_write_some(bufs, boost::asio::consign(std::move(handler), direct_));
          } else if (tls_) {
            tls_->async_write_some(bufs, boost::asio::consign(std::move(handler), direct_));
          } else {
            tcp_->async_write_some(bufs, boost::asio::consign(std::move(handler), direct_));
          }
        },
        token, b);
  }

  void cork() noexcept { corked_ = true; }
  /// Uncorks when nothing is waiting to be flushed (otherwise `flush()` must run).
  void uncork() noexcept {
    if (pending_.empty() && !flushing_) corked_ = false;
  }
  std::size_t pending_bytes() const noexcept { return pending_.size(); }

  /// A write Beast started on the socket itself (uncorked) has not completed yet.
  bool direct_write_in_flight() const noexcept { return direct_.use_count() > 1; }

  /// Corks and makes room for `n` more bytes at the end of what waits to be flushed; the caller
  /// fills them at once (before its next suspension). Only while no direct write is in flight.
  std::uint8_t* append(std::size_t n) {
    corked_ = true;
    const auto at = pending_.size();
    pending_.resize(at + n);
    return pending_.data() + at;
  }

  /// Writes everything absorbed so far and uncorks. Errors are the socket's.
  boost::asio::awaitable<boost::system::error_code> flush() { return flush_then({}, {}); }

  /// As `flush()`, with `a` and then `b` written (not copied) right after what is pending, in the
  /// same gather write. For a large frame: its header and its payload. Returns at once when a
  /// flush is already running (only the connection's writer passes `a`/`b`, and it never runs two).
  boost::asio::awaitable<boost::system::error_code> flush_then(boost::asio::const_buffer a,
                                                               boost::asio::const_buffer b) {
    if (flushing_) co_return boost::system::error_code{};
    flushing_ = true;
    boost::system::error_code ec;
    inflight_.swap(pending_);
    std::array<boost::asio::const_buffer, 3> first{boost::asio::buffer(inflight_), a, b};
    if (boost::asio::buffer_size(first) > 0) ec = co_await write_all(first);
    inflight_.clear();
    while (!pending_.empty() && !ec) {  // frames absorbed while the write ran
      inflight_.swap(pending_);
      ec = co_await write_all(boost::asio::buffer(inflight_));
      inflight_.clear();
    }
    if (ec) pending_.clear();
    flushing_ = false;
    corked_ = false;
    co_return ec;
  }

  void close_socket() noexcept {
    boost::system::error_code ignored;
    socket().close(ignored);
  }

  // Beast customisation points (found by ADL): how a WebSocket closes the layer beneath it.
  friend void beast_close_socket(NetStream& s) { s.close_socket(); }

  friend void teardown(boost::beast::role_type role, NetStream& s, boost::system::error_code& ec) {
    if (s.tls_)
      boost::beast::teardown(role, *s.tls_, ec);
    else
      boost::beast::websocket::teardown(role, s.socket(), ec);
  }

  template <class TeardownHandler>
  friend void async_teardown(boost::beast::role_type role, NetStream& s, TeardownHandler&& handler) {
    if (s.tls_)
      boost::beast::async_teardown(role, *s.tls_, std::forward<TeardownHandler>(handler));
    else
      boost::beast::websocket::async_teardown(role, s.socket(), std::forward<TeardownHandler>(handler));
  }

 private:
  // A Beast read: served from the input buffer as far as the mode allows, else after a socket
  // read into it (or after the reader's fill in flight). Completions are posted.
  template <class Buffers, class Handler>
  void feed(const Buffers& bufs, Handler&& handler) {
    namespace asio = boost::asio;
    const std::size_t want = asio::buffer_size(bufs);
    const std::size_t avail = in_end_ - in_begin_;
    std::size_t allowed = avail;
    bool head_ends = false;
    if (mode_ == ReadMode::Framed) {
      if (feed_left_ == 0) {
        if (auto e = frame_extent(input(), avail)) feed_left_ = *e;
      }
      allowed = static_cast<std::size_t>(std::min<std::uint64_t>(avail, feed_left_));
    } else if (mode_ == ReadMode::HttpHead) {
      static constexpr char kEnd[] = "\r\n\r\n";
      const auto* b = reinterpret_cast<const char*>(input());
      const auto* at = std::search(b, b + avail, kEnd, kEnd + 4);
      if (at != b + avail) {
        allowed = static_cast<std::size_t>(at - b) + 4;
        head_ends = true;
      } else if (avail < kMaxHttpHead) {
        allowed = 0;  // the head is not complete: nothing of it yet
      }
    }
    if (want == 0 || allowed > 0) {
      const std::size_t n = asio::buffer_copy(bufs, asio::buffer(input(), std::min(allowed, want)));
      consume(n);
      if (mode_ == ReadMode::Framed) feed_left_ -= n;
      if (head_ends && n == allowed) mode_ = ReadMode::Free;
      asio::post(get_executor(), asio::append(std::forward<Handler>(handler), boost::system::error_code{}, n));
      return;
    }
    if (filling_) {
      // Parked on a timer that `fill` cancels: the wait is the io_context's to destroy at
      // shutdown, so the handler (which may own this stream) is never held outside it.
      if (!parked_) parked_.emplace(get_executor());
      parked_->expires_at(boost::asio::steady_timer::time_point::max());
      parked_->async_wait([this, bufs, h = std::forward<Handler>(handler)](boost::system::error_code) mutable {
        feed(bufs, std::move(h));
      });
      return;
    }
    feeding_ = true;
    auto* p = prepare(kFeedRead);
    read_raw(asio::buffer(p, kFeedRead),
             [this, bufs, h = std::forward<Handler>(handler)](boost::system::error_code ec, std::size_t n) mutable {
               feeding_ = false;
               if (ec) {
                 asio::post(get_executor(), asio::append(std::move(h), ec, std::size_t{0}));
                 return;
               }
               in_end_ += n;
               last_read_at_ = std::chrono::steady_clock::now();
               feed(bufs, std::move(h));
             });
  }

  // Room for `want` more bytes at the end of the input buffer. Moves or reallocates what is
  // unread when needed, but never the bytes lent out: their buffer is kept until `end_lend`.
  std::uint8_t* prepare(std::size_t want) {
    if (in_cap_ - in_end_ >= want) return in_.get() + in_end_;
    const std::size_t live = in_end_ - in_begin_;
    const bool holds_lent = lent_ && !retired_;
    if (!holds_lent && live + want <= in_cap_) {
      if (live > 0) std::memmove(in_.get(), in_.get() + in_begin_, live);
    } else {
      const std::size_t cap = std::max(live + want, in_cap_ + in_cap_ / 2);
      auto grown = std::make_unique_for_overwrite<std::uint8_t[]>(cap);
      if (live > 0) std::memcpy(grown.get(), in_.get() + in_begin_, live);
      if (holds_lent) retired_ = std::move(in_);
      in_ = std::move(grown);
      in_cap_ = cap;
    }
    in_begin_ = 0;
    in_end_ = live;
    return in_.get() + in_end_;
  }

  template <class Buffers>
  boost::asio::awaitable<boost::system::error_code> write_all(const Buffers& bufs) {
    constexpr auto tok = boost::asio::as_tuple(boost::asio::use_awaitable);
    boost::system::error_code ec;
    std::size_t n = 0;
    if (sock_)
      std::tie(ec, n) = co_await boost::asio::async_write(*sock_, bufs, tok);
    else if (tls_)
      std::tie(ec, n) = co_await boost::asio::async_write(*tls_, bufs, tok);
    else
      std::tie(ec, n) = co_await boost::asio::async_write(*tcp_, bufs, tok);
    co_return ec;
  }

  std::optional<tcp_stream> tcp_;
  std::optional<boost::asio::ip::tcp::socket> sock_;
  std::optional<tls_stream> tls_;
  bool corked_ = false;
  bool flushing_ = false;
  std::vector<std::uint8_t> pending_;
  std::vector<std::uint8_t> inflight_;
  std::shared_ptr<int> direct_ = std::make_shared<int>(0);  // one copy per direct write in flight

  static constexpr std::size_t kFeedRead = 16 * 1024;     // a socket read on Beast's behalf
  static constexpr std::size_t kMaxHttpHead = 16 * 1024;  // past it, Beast gets the bytes and refuses them
  ReadMode mode_ = ReadMode::Free;
  std::unique_ptr<std::uint8_t[]> in_;  // input buffer: [in_begin_, in_end_) not yet consumed
  std::size_t in_cap_ = 0, in_begin_ = 0, in_end_ = 0;
  std::unique_ptr<std::uint8_t[]> retired_;  // the buffer lent bytes live in, once replaced
  bool lent_ = false;
  bool filling_ = false;         // the reader's socket read is in flight
  bool feeding_ = false;         // a socket read for Beast is in flight
  std::uint64_t feed_left_ = 0;  // Framed: bytes of the frame Beast is being fed
  std::chrono::steady_clock::time_point last_read_at_{};
  std::optional<boost::asio::steady_timer> parked_;  // a Beast read waits on it for the reader's fill
};

}  // namespace actr::ws
