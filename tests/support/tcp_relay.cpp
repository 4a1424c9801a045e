#include "support/tcp_relay.hpp"

#include "detail/asio.hpp"

#include <boost/asio/detached.hpp>
#include <boost/asio/write.hpp>

#include <array>
#include <list>

namespace actr::testing {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using actr::detail::use_ec;

struct TcpRelay::Impl : std::enable_shared_from_this<TcpRelay::Impl> {
  struct Pair {
    explicit Pair(const asio::any_io_executor& ex) : a(ex), b(ex) {}
    tcp::socket a, b;  // accepted, dialed
    void close() {
      boost::system::error_code ec;
      a.close(ec);
      b.close(ec);
    }
  };

  Impl(const asio::any_io_executor& e, tcp::endpoint t)
      : ex(e), target(t), acceptor(e, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)), resume(e) {
    resume.expires_at(asio::steady_timer::time_point::max());
  }

  // Waits while forwarding is off. The timer never expires: set_forwarding(true) cancels it.
  asio::awaitable<void> gate() {
    while (!forwarding) co_await resume.async_wait(use_ec);
  }

  asio::awaitable<void> pump(std::shared_ptr<Impl> self, std::shared_ptr<Pair> p, tcp::socket& from, tcp::socket& to) {
    (void)self;  // held, not used: the switch the gate reads lives in it
    std::array<char, 16384> buf;
    for (;;) {
      co_await gate();
      auto [rec, n] = co_await from.async_read_some(asio::buffer(buf), use_ec);
      if (rec) break;
      co_await gate();  // bytes read just before the switch wait for the way to open again
      auto [wec, w] = co_await asio::async_write(to, asio::buffer(buf.data(), n), use_ec);
      if (wec) break;
    }
    p->close();  // one way ended: the other ends with it, as a TCP proxy's does
  }

  asio::awaitable<void> serve(std::shared_ptr<Pair> p) {
    auto [ec] = co_await p->b.async_connect(target, use_ec);
    if (ec) {
      p->close();
      co_return;
    }
    // The pumps keep the relay's state (its switch) alive as long as they run.
    asio::co_spawn(ex, pump(shared_from_this(), p, p->a, p->b), asio::detached);
    asio::co_spawn(ex, pump(shared_from_this(), p, p->b, p->a), asio::detached);
  }

  asio::awaitable<void> accept_loop() {
    auto self = shared_from_this();
    for (;;) {
      auto p = std::make_shared<Pair>(ex);
      auto [ec] = co_await acceptor.async_accept(p->a, use_ec);
      if (ec) co_return;  // closed
      ++accepted;
      pairs.remove_if([](const std::weak_ptr<Pair>& w) { return w.expired(); });
      pairs.push_back(p);
      asio::co_spawn(ex, serve(p), asio::detached);
    }
  }

  asio::any_io_executor ex;
  tcp::endpoint target;
  tcp::acceptor acceptor;
  asio::steady_timer resume;
  bool forwarding = true;
  std::uint64_t accepted = 0;
  std::list<std::weak_ptr<Pair>> pairs;
};

TcpRelay::TcpRelay(asio::any_io_executor ex, tcp::endpoint target)
    : impl_(std::make_shared<Impl>(ex, target)) {
  asio::co_spawn(ex, impl_->accept_loop(), asio::detached);
}

TcpRelay::~TcpRelay() { close(); }

std::uint16_t TcpRelay::port() const { return impl_->acceptor.local_endpoint().port(); }

void TcpRelay::set_forwarding(bool on) {
  impl_->forwarding = on;
  if (on) impl_->resume.cancel();
}

std::uint64_t TcpRelay::accepted() const { return impl_->accepted; }

void TcpRelay::close() {
  boost::system::error_code ec;
  impl_->acceptor.close(ec);
  for (auto& w : impl_->pairs)
    if (auto p = w.lock()) p->close();
  impl_->pairs.clear();
  set_forwarding(true);  // pumps waiting at the gate see their closed sockets and end
}

}  // namespace actr::testing
