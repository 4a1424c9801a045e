#pragma once
// Private: the byte stream under a WebSocket connection — plain TCP or TLS, chosen at run time —
// with a cork that lets the single writer coalesce many WebSocket frames into one socket write.
// Included only by the Beast translation units of src/wire/websocket.
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
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/role.hpp>
#include <boost/beast/core/stream_traits.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <boost/beast/websocket/teardown.hpp>

#include <array>
#include <cstdint>
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

  template <class MutableBuffers, class Token>
  auto async_read_some(const MutableBuffers& b, Token&& token) {
    return boost::asio::async_initiate<Token, void(boost::system::error_code, std::size_t)>(
        [this](auto handler, const MutableBuffers& bufs) {
          if (sock_)
            sock_->async_read_some(bufs, std::move(handler));
          else if (tls_)
            tls_->async_read_some(bufs, std::move(handler));
          else
            tcp_->async_read_some(bufs, std::move(handler));
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
};

}  // namespace actr::ws
