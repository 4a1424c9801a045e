// The baselines of `actr bench ws`, written the plain way: a raw Beast WebSocket peer (one
// message per write, as an application would use Beast directly) and a raw TCP peer (blocking
// sockets, 4-byte length prefix). The only translation unit of the `actr` executable with Beast.
#include "bench.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/buffers_to_string.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/websocket.hpp>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <arpa/inet.h>

#include <chrono>
#include <cstring>
#include <thread>

namespace actr::cli::bench {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace websocket = beast::websocket;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;
using namespace asio::experimental::awaitable_operators;

namespace {

Clock::duration secs(double s) { return std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(s)); }
double since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

// ---- raw Beast ---------------------------------------------------------------------------------

using Ws = websocket::stream<tcp::socket>;

void tune(Ws& w) {
  w.auto_fragment(false);
  w.write_buffer_bytes(65536);  // the tuned write buffer the 64 KiB target is stated against
  w.read_message_max(64u << 20);
}

asio::awaitable<void> beast_session(tcp::socket s) {
  s.set_option(tcp::no_delay(true));
  Ws w(std::move(s));
  tune(w);
  try {
    co_await w.async_accept(asio::use_awaitable);
    beast::flat_buffer buf;
    co_await w.async_read(buf, asio::use_awaitable);
    const auto mode = beast::buffers_to_string(buf.data());
    buf.consume(buf.size());
    if (mode == "oneway") {
      long long n = 0;
      for (;;) {
        co_await w.async_read(buf, asio::use_awaitable);
        const bool end = w.got_text();
        buf.consume(buf.size());
        if (end) break;
        ++n;
      }
      w.text(true);
      co_await w.async_write(asio::buffer(std::to_string(n)), asio::use_awaitable);
    }
    w.binary(true);
    for (;;) {  // echo
      co_await w.async_read(buf, asio::use_awaitable);
      co_await w.async_write(buf.data(), asio::use_awaitable);
      buf.consume(buf.size());
    }
  } catch (const boost::system::system_error&) {
  }  // the client went away
}

asio::awaitable<void> beast_listen(tcp::acceptor& acc) {
  for (;;) {
    auto s = co_await acc.async_accept(asio::use_awaitable);
    asio::co_spawn(acc.get_executor(), beast_session(std::move(s)), asio::detached);
  }
}

asio::awaitable<Measured> beast_client(const PeerArgs& a) {
  auto ex = co_await asio::this_coro::executor;
  tcp::socket s(ex);
  co_await s.async_connect({asio::ip::make_address("127.0.0.1"), a.port}, asio::use_awaitable);
  s.set_option(tcp::no_delay(true));
  Ws w(std::move(s));
  tune(w);
  co_await w.async_handshake("127.0.0.1", "/", asio::use_awaitable);
  const std::string msg(a.size, 'x');
  beast::flat_buffer buf;
  Measured m;
  w.text(true);
  co_await w.async_write(asio::buffer(std::string(a.mode == "oneway" ? "oneway" : "echo")), asio::use_awaitable);
  w.binary(true);
  if (a.mode == "oneway") {
    long long sent = 0;
    const auto t0 = Clock::now(), end = t0 + secs(a.seconds);
    while (Clock::now() < end) {
      co_await w.async_write(asio::buffer(msg), asio::use_awaitable);
      ++sent;
    }
    w.text(true);
    co_await w.async_write(asio::buffer(std::string("end")), asio::use_awaitable);
    co_await w.async_read(buf, asio::use_awaitable);
    m.msgs = std::stod(beast::buffers_to_string(buf.data()));
    m.secs = since(t0);
    if (m.msgs != static_cast<double>(sent)) m.msgs = -1;  // a lost message is a failed run
  } else if (a.mode == "echo") {
    long long sent = 0, got = 0;
    bool done = false;
    asio::steady_timer wake_writer(ex), wake_reader(ex);
    const auto t0 = Clock::now(), end = t0 + secs(a.seconds);
    auto writer = [&]() -> asio::awaitable<void> {
      while (Clock::now() < end) {
        while (sent - got >= static_cast<long long>(a.window)) {
          wake_writer.expires_at(Clock::time_point::max());
          co_await wake_writer.async_wait(asio::as_tuple(asio::use_awaitable));
        }
        co_await w.async_write(asio::buffer(msg), asio::use_awaitable);
        ++sent;
        wake_reader.cancel();
      }
      done = true;
      wake_reader.cancel();
    };
    auto reader = [&]() -> asio::awaitable<void> {
      for (;;) {
        while (got == sent && !done) {
          wake_reader.expires_at(Clock::time_point::max());
          co_await wake_reader.async_wait(asio::as_tuple(asio::use_awaitable));
        }
        if (got == sent) break;
        buf.consume(co_await w.async_read(buf, asio::use_awaitable));
        ++got;
        wake_writer.cancel();
      }
    };
    co_await (writer() && reader());
    m.msgs = static_cast<double>(got);
    m.secs = since(t0);
  } else {
    std::vector<double> us;
    for (int i = 0; i < 200; ++i) {  // warm-up
      co_await w.async_write(asio::buffer(msg), asio::use_awaitable);
      buf.consume(co_await w.async_read(buf, asio::use_awaitable));
    }
    const auto t0 = Clock::now(), end = t0 + secs(a.seconds);
    while (Clock::now() < end) {
      const auto t = Clock::now();
      co_await w.async_write(asio::buffer(msg), asio::use_awaitable);
      buf.consume(co_await w.async_read(buf, asio::use_awaitable));
      us.push_back(std::chrono::duration<double, std::micro>(Clock::now() - t).count());
    }
    m.msgs = static_cast<double>(us.size());
    m.secs = since(t0);
    m.p50_us = percentile_us(us, 0.5);
    m.p99_us = percentile_us(us, 0.99);
  }
  co_await w.async_close(websocket::close_code::normal, asio::as_tuple(asio::use_awaitable));
  co_return m;
}

// ---- raw TCP -----------------------------------------------------------------------------------

bool write_all(int fd, const char* p, std::size_t n) {
  while (n > 0) {
    const auto k = ::send(fd, p, n, MSG_NOSIGNAL);
    if (k <= 0) return false;
    p += k;
    n -= static_cast<std::size_t>(k);
  }
  return true;
}
bool read_all(int fd, char* p, std::size_t n) {
  while (n > 0) {
    const auto k = ::recv(fd, p, n, 0);
    if (k <= 0) return false;
    p += k;
    n -= static_cast<std::size_t>(k);
  }
  return true;
}
void append_frame(std::string& out, const std::string& payload) {
  const std::uint32_t len = htonl(static_cast<std::uint32_t>(payload.size()));
  out.append(reinterpret_cast<const char*>(&len), 4);
  out.append(payload);
}
constexpr std::uint32_t kEnd = 0xffffffffu;

void tcp_session(int fd) {
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  char mode = 0;
  if (!read_all(fd, &mode, 1)) return ::close(fd), void();
  std::vector<char> buf(1 << 20);
  if (mode == 'o') {  // count frames until the end marker, answer the count
    std::size_t have = 0;
    std::uint64_t n = 0;
    for (;;) {
      const auto k = ::recv(fd, buf.data() + have, buf.size() - have, 0);
      if (k <= 0) break;
      have += static_cast<std::size_t>(k);
      std::size_t at = 0;
      bool end = false;
      while (have - at >= 4) {
        std::uint32_t len;
        std::memcpy(&len, buf.data() + at, 4);
        len = ntohl(len);
        if (len == kEnd) { end = true; break; }
        if (have - at < 4 + len) break;
        at += 4 + len;
        ++n;
      }
      if (end) { (void)write_all(fd, reinterpret_cast<const char*>(&n), sizeof n); break; }
      std::memmove(buf.data(), buf.data() + at, have - at);
      have -= at;
    }
  } else {  // echo each recv batch with one send
    for (;;) {
      const auto k = ::recv(fd, buf.data(), buf.size(), 0);
      if (k <= 0 || !write_all(fd, buf.data(), static_cast<std::size_t>(k))) break;
    }
  }
  ::close(fd);
}

int tcp_connect(std::uint16_t port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(port);
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) return -1;
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  return fd;
}

Measured tcp_client(const PeerArgs& a) {
  Measured m;
  const int fd = tcp_connect(a.port);
  if (fd < 0) return m;
  const std::string payload(a.size, 'x');
  std::string one;
  append_frame(one, payload);
  const auto t0 = Clock::now(), end = t0 + secs(a.seconds);
  if (a.mode == "oneway") {  // one send() per frame
    (void)write_all(fd, "o", 1);
    std::uint64_t sent = 0, got = 0;
    while (Clock::now() < end && write_all(fd, one.data(), one.size())) ++sent;
    const std::uint32_t marker = kEnd;
    (void)write_all(fd, reinterpret_cast<const char*>(&marker), 4);
    (void)read_all(fd, reinterpret_cast<char*>(&got), sizeof got);
    m.secs = since(t0);
    m.msgs = got == sent ? static_cast<double>(got) : -1;
  } else {
    (void)write_all(fd, "e", 1);
    const std::size_t frame = one.size();
    std::vector<char> buf(1 << 20);
    if (a.mode == "echo") {  // refill the window in batches: one send per batch of replies
      std::string batch;
      for (std::size_t i = 0; i < a.window; ++i) batch += one;
      (void)write_all(fd, batch.data(), batch.size());
      std::uint64_t outstanding = a.window, got = 0;
      std::size_t partial = 0;
      while (outstanding > 0) {
        const auto k = ::recv(fd, buf.data(), buf.size(), 0);
        if (k <= 0) break;
        partial += static_cast<std::size_t>(k);
        const auto done = partial / frame;
        partial %= frame;
        got += done;
        outstanding -= done;
        if (done > 0 && Clock::now() < end) {
          batch.clear();
          for (std::size_t i = 0; i < done; ++i) batch += one;
          (void)write_all(fd, batch.data(), batch.size());
          outstanding += done;
        }
      }
      m.secs = since(t0);
      m.msgs = static_cast<double>(got);
    } else {
      std::vector<double> us;
      for (int warm = 200; Clock::now() < end; --warm) {
        const auto t = Clock::now();
        if (!write_all(fd, one.data(), frame) || !read_all(fd, buf.data(), frame)) break;
        if (warm <= 0) us.push_back(std::chrono::duration<double, std::micro>(Clock::now() - t).count());
      }
      m.secs = since(t0);
      m.msgs = static_cast<double>(us.size());
      m.p50_us = percentile_us(us, 0.5);
      m.p99_us = percentile_us(us, 0.99);
    }
  }
  ::close(fd);
  return m;
}

}  // namespace

int run_beast_peer(const PeerArgs& a) {
  pin(a.cpu);
  asio::io_context io(1);
  if (a.role == "server") {
    tcp::acceptor acc(io, {asio::ip::make_address("127.0.0.1"), 0});
    print_port(acc.local_endpoint().port());
    asio::co_spawn(io, beast_listen(acc), asio::detached);
    io.run();
    return 0;
  }
  Measured m;
  int rc = 1;
  asio::co_spawn(io, beast_client(a), [&](std::exception_ptr e, Measured r) {
    if (!e) m = r, rc = 0;
  });
  io.run();
  print_result(a, m);
  return rc;
}

int run_tcp_peer(const PeerArgs& a) {
  pin(a.cpu);
  if (a.role == "server") {
    const int lfd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof sa;
    if (::bind(lfd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0 || ::listen(lfd, 16) != 0 ||
        ::getsockname(lfd, reinterpret_cast<sockaddr*>(&sa), &len) != 0)
      return 1;
    print_port(ntohs(sa.sin_port));
    for (;;) {
      const int fd = ::accept(lfd, nullptr, nullptr);
      if (fd < 0) return 1;
      std::thread(tcp_session, fd).detach();  // one blocking thread per connection; the process is killed when done
    }
  }
  print_result(a, tcp_client(a));
  return 0;
}

}  // namespace actr::cli::bench
