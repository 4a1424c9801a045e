#pragma once
// Boost 1.81 spellings in one place, so an upgrade touches one file (house style R1/R10).

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/io_context.hpp>
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

// A new strand on `ex`, type-erased. Over the io_context's own executor type when `ex` holds
// one: that strand fits in any_io_executor's inline storage and its inner executor is not
// type-erased, so running, copying and preferring it allocate nothing. A strand over an
// any_io_executor allocated on each of these (its inner executor's queries box their results):
// about a dozen small allocations per request in the Node's profile.
inline asio::any_io_executor strand_of(const asio::any_io_executor& ex) {
  if (const auto* io = ex.target<asio::io_context::executor_type>()) return asio::make_strand(*io);
  return asio::make_strand(ex);
}
}  // namespace actr::detail
