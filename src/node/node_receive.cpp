// The node's receive path: one inbound frame, decoded and classified (inbound.cpp), goes to the
// correlation (responses) or to a handler queue under the node's in-flight limits. Work for a
// handler holds a lease until done. Most frames fit at once (receive_now); only a wait for a
// lease or for queue room costs a coroutine (receive_later).
#include <actr/error.hpp>
#include <actr/detail/log_limit.hpp>

#include "node/inbound.hpp"
#include "node/node_impl.hpp"

#include <spdlog/spdlog.h>

namespace actr {

using namespace detail;
using node::Inbound;

namespace {
std::shared_ptr<InboundWork> work_of(const std::shared_ptr<WireHandle>& via) {
  return via ? via->inbound_work() : std::make_shared<InboundWork>();
}
}  // namespace

// Not a coroutine: most frames are decoded, admitted and queued without waiting, and a
// coroutine frame this big (Inbound alone is ~350 B; GCC keeps every local of a coroutine in
// its frame) is past the ~1 KiB Asio recycles, so each one was a trip through malloc's slow path.
std::optional<Result<void>> Node::Impl::receive_now(const std::shared_ptr<WireHandle>& via, ConstBytes payload,
                                                    Inbound& in) {
  const PayloadType pt = in.pt;
  switch (node::decode_inbound(pt, payload, in.env, in.chunk)) {
    case node::InboundKind::Malformed: {
      // A well-framed message whose protobuf does not decode costs only itself: dropped,
      // counted and logged; the connection keeps serving (reference §6.5). Framing errors are
      // the wire's to handle.
      std::uint64_t n = 0;
      {
        std::lock_guard lk(mu);
        n = ++stats.malformed;
      }
      if (detail::nth_is_logged(n))  // 1st, 2nd, 4th, 8th…: a flood cannot flood the log
        spdlog::warn("actr: dropped an undecodable {} message from {} ({} so far)", to_string(pt), in.from.to_string(),
                     n);
      return ok();
    }
    case node::InboundKind::Response: {
      const auto& id = in.env.request_id();
      RpcCorrelation::Completion c;
      if (in.env.has_error())
        c = correlation.complete_error(id, RemoteError{in.env.error().code(), in.env.error().message()});
      else
        c = correlation.complete(id, Bytes(in.env.payload().begin(), in.env.payload().end()));
      std::lock_guard lk(mu);
      ++(c == RpcCorrelation::Completion::Orphan ? stats.orphans : stats.responses);
      return ok();  // an orphan is dropped, never treated as a request (H-RPC-1)
    }
    case node::InboundKind::RequestOrTell: {
      auto l = node::try_take_work(work_of(via), payload.size(), cfg.limits, budgets.inflight);
      if (!l && l.error() == NetworkError::QueueFull) return std::nullopt;  // wait for the lease
      // Refused typed: the refusal is sent by receive_later.
      if (!l && l.error() == NetworkError::ResourceExhausted && in.env.direction() == pb::DIRECTION_REQUEST)
        return std::nullopt;
      if (!l) return l.error();
      in.lease = std::make_shared<node::WorkLease>(std::move(*l));
      if (auto r = rpc_q.try_push_from(in); r || r.error() != NetworkError::QueueFull) return r;
      return std::nullopt;  // wait for room
    }
    case node::InboundKind::BadDirection: {
      std::lock_guard lk(mu);
      ++stats.bad_direction;
      return ok();
    }
    case node::InboundKind::Chunk: {
      const bool reliable = pt == PayloadType::StreamReliable;
      // Latency-first never waits: no lease, no delivery.
      auto l = node::try_take_work(work_of(via), payload.size(), cfg.limits, budgets.inflight);
      if (!l && l.error() == NetworkError::QueueFull && reliable) return std::nullopt;
      if (!l && reliable) return l.error();
      if (l) in.lease = std::make_shared<node::WorkLease>(std::move(*l));
      if (reliable) {
        if (auto r = stream_q.try_push_from(in); r || r.error() != NetworkError::QueueFull) return r;
        return std::nullopt;
      }
      if (!l || !latency_q.try_push(std::move(in))) {  // latency-first: drop the newest, never block
        std::lock_guard lk(mu);
        ++stats.latency_dropped;
      }
      return ok();
    }
    case node::InboundKind::Unsupported:
      break;
  }
  return make_error_code(NetworkError::NotImplemented);  // MEDIA_RTP does not travel on WebSocket
}

asio::awaitable<Result<void>> Node::Impl::receive_later(std::shared_ptr<WireHandle> via, Inbound in,
                                                        std::size_t bytes) {
  const bool rpc = is_rpc(in.pt);
  if (!in.lease) {
    // At the connection's budget this waits (the peer is not read meanwhile); at the node's
    // global budget a request is refused typed and anything else fails.
    auto l = co_await node::take_work(work_of(via), bytes, cfg.limits, budgets.inflight, true, work_waits);
    if (!l && l.error() == NetworkError::ResourceExhausted && rpc && in.env.direction() == pb::DIRECTION_REQUEST) {
      const Bytes refused = node::refusal(in.env, l.error());
      (void)co_await reply(in, refused, Clock::now() + cfg.manager.send_timeout);
      co_return ok();  // answered typed, handler not run
    }
    if (!l) co_return l.error();
    in.lease = std::make_shared<node::WorkLease>(std::move(*l));
  }
  // A full queue: this peer waits (its reader holds) until a worker takes from it.
  co_return co_await (rpc ? rpc_q : stream_q).push(std::move(in), Clock::now() + std::chrono::hours(1));
}

}  // namespace actr
