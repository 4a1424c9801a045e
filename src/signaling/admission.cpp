#include "signaling/admission.hpp"

#include "detail/asio.hpp"

#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>

#include <string_view>

namespace actr::sig {

using namespace actr::detail;
using tcp = asio::ip::tcp;

IpVerdict admit(IpLimiter& limiter, const tcp::socket& sock, IpLimiter::Lease& lease) {
  boost::system::error_code ec;
  const auto peer = sock.remote_endpoint(ec);
  if (ec) {
    lease = std::make_shared<int>(0);
    return IpVerdict::Admit;
  }
  const auto addr = peer.address();
  // An IPv4 peer on a dual-stack socket counts as its IPv4 address.
  const auto plain = addr.is_v6() && addr.to_v6().is_v4_mapped()
                         ? asio::ip::address(asio::ip::make_address_v4(asio::ip::v4_mapped, addr.to_v6()))
                         : addr;
  return limiter.admit(plain.to_string(), plain.is_loopback(), std::chrono::steady_clock::now(), lease);
}

asio::awaitable<void> refuse(tcp::socket sock, IpVerdict why, bool tls) {
  co_await asio::this_coro::throw_if_cancelled(false);
  if (!tls) {
    // A WebSocket client reads this as a declined upgrade with a status it can type (our dial
    // reports ResourceExhausted); Retry-After is the time one more bucket token takes at 5/min.
    constexpr std::string_view k429 =
        "HTTP/1.1 429 Too Many Requests\r\nRetry-After: 12\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
    constexpr std::string_view k503 =
        "HTTP/1.1 503 Service Unavailable\r\nRetry-After: 60\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
    const auto reply = why == IpVerdict::TooManyAddresses ? k503 : k429;
    asio::steady_timer bound(co_await asio::this_coro::executor, std::chrono::seconds{1});
    (void)co_await (asio::async_write(sock, asio::buffer(reply.data(), reply.size()), use_ec) ||
                    bound.async_wait(use_ec));
  }
  boost::system::error_code ignored;
  sock.shutdown(tcp::socket::shutdown_both, ignored);
  sock.close(ignored);
}

}  // namespace actr::sig
