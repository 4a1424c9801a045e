// MetricsServer: one thread running one io_context; an accept loop and one coroutine per
// connection (HTTP/1.1 keep-alive), each bounded in time and size (the limits in the header).
// Beast lives in this file only. Every coroutine runs on the server's io_context, so stopping and
// joining that thread ends them all; the counters they share live on that thread.
#include "metrics_http.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <spdlog/spdlog.h>

#include <chrono>
#include <cstdio>
#include <exception>
#include <thread>

namespace actr::cli {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

namespace {

constexpr auto kUse = asio::as_tuple(asio::use_awaitable);
// An event stream with nothing new sends a comment this often, so a client that went away is
// noticed (the write fails) and proxies keep the stream open.
constexpr auto kEventKeepalive = std::chrono::seconds(5);

struct Counters {
  std::size_t connections = 0, streams = 0;
};

// Holds one unit of a counter for as long as the coroutine that took it (also when the
// io_context destroys an unfinished one).
class Held {
 public:
  Held(std::shared_ptr<Counters> c, std::size_t Counters::*field) : c_(std::move(c)), field_(field) {
    ++((*c_).*field_);
  }
  ~Held() { --((*c_).*field_); }
  Held(const Held&) = delete;
  Held& operator=(const Held&) = delete;

 private:
  std::shared_ptr<Counters> c_;
  std::size_t Counters::*field_;
};

}  // namespace

struct MetricsServer::Impl {
  Impl(CollectFn c, StateFn s, StatusServerLimits l)
      : collect(std::move(c)), state(std::move(s)), limits(l) {}

  asio::io_context io{1};  // first: destroyed last, after the coroutines it still holds
  tcp::acceptor acceptor{io};
  CollectFn collect;
  StateFn state;
  StatusServerLimits limits;
  std::shared_ptr<Counters> counters = std::make_shared<Counters>();
  std::thread thread;

  std::chrono::milliseconds timeout() const { return std::chrono::milliseconds(limits.request_timeout_ms); }
  asio::awaitable<void> accept_loop();
  asio::awaitable<void> session(tcp::socket sock, std::unique_ptr<Held> held);
  asio::awaitable<void> event_stream(beast::tcp_stream& stream, unsigned version);
  http::response<http::string_body> answer(const http::request<http::string_body>& req, bool& events) const;
};

namespace {

http::response<http::string_body> reply(http::status st, unsigned version, std::string_view type, std::string body) {
  http::response<http::string_body> res{st, version};
  res.set(http::field::server, "actr");
  res.set(http::field::content_type, type);
  res.set(http::field::cache_control, "no-store");
  res.body() = std::move(body);
  res.prepare_payload();
  return res;
}

http::response<http::string_body> text(http::status st, unsigned version, std::string body) {
  return reply(st, version, "text/plain; charset=utf-8", std::move(body) + "\n");
}

void spawn(asio::io_context& io, asio::awaitable<void> task, const char* what) {
  asio::co_spawn(io, std::move(task), [what](std::exception_ptr e) {
    if (!e) return;
    try {
      std::rethrow_exception(e);
    } catch (const std::exception& ex) {
      spdlog::warn("actr: status server {}: {}", what, ex.what());
    }
  });
}

}  // namespace

http::response<http::string_body> MetricsServer::Impl::answer(const http::request<http::string_body>& req,
                                                              bool& events) const {
  const auto v = req.version();
  if (req.method() != http::verb::get && req.method() != http::verb::head) {
    auto res = text(http::status::method_not_allowed, v, "only GET and HEAD");
    res.set(http::field::allow, "GET, HEAD");
    return res;
  }
  auto target = std::string_view(req.target().data(), req.target().size());
  target = target.substr(0, target.find('?'));
  if (target == "/metrics")
    return reply(http::status::ok, v, "text/plain; version=0.0.4; charset=utf-8", render_prometheus(collect));
  if (state && (target == "/" || target == "/index.html"))
    return reply(http::status::ok, v, "text/html; charset=utf-8", std::string(status_page_html()));
  if (state && target == "/api/state") return reply(http::status::ok, v, "application/json", state());
  if (state && target == "/api/events") {
    events = true;
    return {};
  }
  return text(http::status::not_found, v, "not found (try /, /metrics, /api/state, /api/events)");
}

asio::awaitable<void> MetricsServer::Impl::accept_loop() {
  for (;;) {
    auto [ec, sock] = co_await acceptor.async_accept(kUse);
    if (ec == asio::error::operation_aborted || !acceptor.is_open()) co_return;
    if (ec) continue;  // e.g. too many open files: the next accept may succeed
    if (counters->connections >= limits.max_connections) {
      boost::system::error_code ignored;
      sock.close(ignored);  // over the bound: closed at once, nothing read
      continue;
    }
    // Counted here, not when the session starts: the next accept must see it.
    spawn(io, session(std::move(sock), std::make_unique<Held>(counters, &Counters::connections)), "connection");
  }
}

asio::awaitable<void> MetricsServer::Impl::session(tcp::socket sock, std::unique_ptr<Held> held) {
  (void)held;  // counts this connection until the coroutine ends
  beast::tcp_stream stream(std::move(sock));
  beast::flat_buffer buf;
  for (;;) {
    http::request_parser<http::string_body> parser;
    parser.header_limit(static_cast<std::uint32_t>(limits.max_request_bytes));
    parser.body_limit(limits.max_request_bytes);
    stream.expires_after(timeout());
    auto [ec, n] = co_await http::async_read(stream, buf, parser, kUse);
    if (ec == http::error::header_limit || ec == http::error::body_limit) {
      const auto st = ec == http::error::header_limit ? http::status::request_header_fields_too_large
                                                       : http::status::payload_too_large;
      auto res = text(st, 11, "request larger than " + std::to_string(limits.max_request_bytes) + " bytes");
      res.keep_alive(false);
      stream.expires_after(timeout());
      (void)co_await http::async_write(stream, res, kUse);
      break;
    }
    if (ec) break;  // closed, timed out or malformed: nothing more to say
    const auto& req = parser.get();
    bool events = false;
    auto res = answer(req, events);
    if (events) {
      co_await event_stream(stream, req.version());
      break;
    }
    res.keep_alive(req.keep_alive());
    if (req.method() == http::verb::head) res.body().clear();  // the Content-Length stays
    stream.expires_after(timeout());
    auto [wec, wn] = co_await http::async_write(stream, res, kUse);
    if (wec || !res.keep_alive()) break;
  }
  boost::system::error_code ignored;
  stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
}

// Server-Sent Events: the state as one `data:` line whenever it differs from the last one sent;
// `retry` tells the browser to reconnect after 1 s when the stream ends (the program restarted).
asio::awaitable<void> MetricsServer::Impl::event_stream(beast::tcp_stream& stream, unsigned version) {
  if (counters->streams >= limits.max_event_streams) {
    auto res = text(http::status::service_unavailable, version, "too many event streams; poll /api/state");
    res.keep_alive(false);
    stream.expires_after(timeout());
    (void)co_await http::async_write(stream, res, kUse);
    co_return;
  }
  Held held(counters, &Counters::streams);
  http::response<http::empty_body> head{http::status::ok, version};
  head.set(http::field::server, "actr");
  head.set(http::field::content_type, "text/event-stream");
  head.set(http::field::cache_control, "no-store");
  head.keep_alive(false);  // the body runs until the connection ends
  http::response_serializer<http::empty_body> sr{head};
  stream.expires_after(timeout());
  auto [hec, hn] = co_await http::async_write_header(stream, sr, kUse);
  if (hec) co_return;
  std::string last;
  auto quiet_since = std::chrono::steady_clock::now();
  asio::steady_timer timer(io);
  std::string out = "retry: 1000\n\n";
  for (;;) {
    auto now = state();
    if (now != last) {
      out += "data: " + now + "\n\n";  // JSON from nlohmann::dump() has no newline
      last = std::move(now);
    } else if (std::chrono::steady_clock::now() - quiet_since >= kEventKeepalive) {
      out += ": keepalive\n\n";
    }
    if (!out.empty()) {
      stream.expires_after(timeout());
      auto [wec, wn] = co_await asio::async_write(stream, asio::buffer(out), kUse);
      if (wec) co_return;
      stream.expires_never();  // an expiry while waiting for the next change would fail that write
      out.clear();
      quiet_since = std::chrono::steady_clock::now();
    }
    timer.expires_after(std::chrono::milliseconds(limits.event_interval_ms));
    auto [tec] = co_await timer.async_wait(kUse);
    if (tec) co_return;
  }
}

MetricsServer::MetricsServer(std::shared_ptr<Impl> impl, std::uint16_t port) : impl_(std::move(impl)), port_(port) {}

MetricsServer::~MetricsServer() {
  if (!impl_) return;
  impl_->io.stop();  // every coroutine is left suspended and destroyed with the io_context
  if (impl_->thread.joinable()) impl_->thread.join();
}

std::unique_ptr<MetricsServer> MetricsServer::start(const std::string& host, std::uint16_t port, CollectFn collect,
                                                    StateFn state, std::string& error, StatusServerLimits limits) {
  auto impl = std::make_shared<Impl>(std::move(collect), std::move(state), limits);
  boost::system::error_code ec;
  const auto addr = asio::ip::make_address(host, ec);
  if (ec) {
    error = "'" + host + "' is not an IP address";
    return nullptr;
  }
  const tcp::endpoint ep(addr, port);
  auto& a = impl->acceptor;
  a.open(ep.protocol(), ec);
  if (!ec) a.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) a.bind(ep, ec);
  if (!ec) a.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    error = "cannot listen on " + host + ":" + std::to_string(port) + " (" + ec.message() + ")";
    return nullptr;
  }
  const auto bound = a.local_endpoint().port();
  spawn(impl->io, impl->accept_loop(), "accept loop");
  impl->thread = std::thread([&io = impl->io] { io.run(); });
  return std::unique_ptr<MetricsServer>(new MetricsServer(std::move(impl), bound));
}

std::unique_ptr<MetricsServer> serve_metrics(const char* command, const std::string& host, std::uint16_t port,
                                             CollectFn collect, StateFn state, bool json) {
  std::string error;
  auto server = MetricsServer::start(host, port, std::move(collect), std::move(state), error);
  if (!server) {
    std::fprintf(stderr, "%s: --metrics: %s\n", command, error.c_str());
    return nullptr;
  }
  const auto url = "http://" + (host.find(':') == std::string::npos ? host : "[" + host + "]") + ":" +
                   std::to_string(server->port());
  if (json)
    std::printf("{\"event\":\"metrics\",\"url\":\"%s/metrics\",\"page\":\"%s/\"}\n", url.c_str(), url.c_str());
  else
    std::printf("metrics on %s/metrics (status page %s/)\n", url.c_str(), url.c_str());
  std::fflush(stdout);
  return server;
}

}  // namespace actr::cli
