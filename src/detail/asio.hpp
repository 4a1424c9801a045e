#pragma once
// Boost 1.81 spellings in one place, so an upgrade touches one file (house style R1/R10).

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/experimental/concurrent_channel.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace actr::detail {
namespace asio = boost::asio;
// I/O completions: failure is an expected event, returned as a tuple instead of thrown.
inline constexpr auto use_ec = asio::as_tuple(asio::use_awaitable);
using namespace boost::asio::experimental::awaitable_operators;  // NOLINT
}  // namespace actr::detail
