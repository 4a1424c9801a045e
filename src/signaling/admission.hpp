#pragma once
// Admission of new connections to the signaling listener by peer address (`IpLimiter`): the
// accept loop asks `admit`; a refused connection is answered by `refuse` in its own task.

#include <actr/ip_limiter.hpp>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>

namespace actr::sig {

/// The verdict for `sock`'s peer; on Admit `lease` is set (the connection holds it until it ends).
/// A socket whose peer address cannot be read is admitted unlimited (it is closing anyway).
IpVerdict admit(IpLimiter& limiter, const boost::asio::ip::tcp::socket& sock, IpLimiter::Lease& lease);

/// Answers a refused connection — HTTP 429 with Retry-After (503 when too many addresses are
/// tracked) unless the listener speaks TLS — and closes it; bounded by one second.
boost::asio::awaitable<void> refuse(boost::asio::ip::tcp::socket sock, IpVerdict why, bool tls);

}  // namespace actr::sig
