// The node's receive path: one inbound frame, decoded and classified (inbound.cpp), goes to the
// correlation (responses) or to a handler queue under the node's in-flight limits.
#include <actr/error.hpp>
#include <actr/detail/log_limit.hpp>

#include "node/inbound.hpp"
#include "node/node_impl.hpp"

#include <spdlog/spdlog.h>

namespace actr {

using namespace detail;
using node::Inbound;

asio::awaitable<Result<void>> Node::Impl::on_frame(const std::shared_ptr<WireHandle>& via, ActrId peer,
                                                   PayloadType pt, ConstBytes payload) {
  Inbound in{std::move(peer), pt, via, {}, {}, {}};
  // Work for a handler holds a lease until done: at the connection's budget this waits (the
  // peer is not read; latency-first drops), at the node's global budget it is refused.
  // Most messages fit at once; only a wait costs a coroutine (take_work), and only a full queue
  // (this peer then waits: its reader holds) a push that awaits.
  auto work = via ? via->inbound_work() : std::make_shared<InboundWork>();
  const auto far = [] { return Clock::now() + std::chrono::hours(1); };
  // A well-framed message whose protobuf does not decode costs only itself: dropped, counted and
  // logged; the connection keeps serving (reference §6.5). Framing errors are the wire's to handle.
  auto malformed = [&]() -> Result<void> {
    std::uint64_t n = 0;
    {
      std::lock_guard lk(mu);
      n = ++stats.malformed;
    }
    if (detail::nth_is_logged(n))  // 1st, 2nd, 4th, 8th…: a flood cannot flood the log
      spdlog::warn("actr: dropped an undecodable {} message from {} ({} so far)", to_string(pt), in.from.to_string(), n);
    return ok();
  };
  switch (node::decode_inbound(pt, payload, in.env, in.chunk)) {
    case node::InboundKind::Malformed: co_return malformed();
    case node::InboundKind::Response: {
      const auto& id = in.env.request_id();
      RpcCorrelation::Completion c;
      if (in.env.has_error())
        c = correlation.complete_error(id, RemoteError{in.env.error().code(), in.env.error().message()});
      else
        c = correlation.complete(id, Bytes(in.env.payload().begin(), in.env.payload().end()));
      std::lock_guard lk(mu);
      ++(c == RpcCorrelation::Completion::Orphan ? stats.orphans : stats.responses);
      co_return ok();  // an orphan is dropped, never treated as a request (H-RPC-1)
    }
    case node::InboundKind::RequestOrTell: {
      auto l = node::try_take_work(work, payload.size(), cfg.limits, budgets.inflight);
      if (!l && l.error() == NetworkError::QueueFull)
        l = co_await node::take_work(work, payload.size(), cfg.limits, budgets.inflight, true, work_waits);
      if (!l && l.error() == NetworkError::ResourceExhausted && in.env.direction() == pb::DIRECTION_REQUEST) {
        const Bytes refused = node::refusal(in.env, l.error());
        (void)co_await reply(in, refused, Clock::now() + cfg.manager.send_timeout);
        co_return ok();  // answered typed, handler not run
      }
      if (!l) co_return l.error();
      in.lease = std::make_shared<node::WorkLease>(std::move(*l));
      if (auto r = rpc_q.try_push_from(in); r || r.error() != NetworkError::QueueFull) co_return r;
      co_return co_await rpc_q.push(std::move(in), far());
    }
    case node::InboundKind::BadDirection: {
      std::lock_guard lk(mu);
      ++stats.bad_direction;
      co_return ok();
    }
    case node::InboundKind::Chunk: {
      const bool reliable = pt == PayloadType::StreamReliable;
      // Latency-first never waits: no lease, no delivery.
      auto l = node::try_take_work(work, payload.size(), cfg.limits, budgets.inflight);
      if (!l && l.error() == NetworkError::QueueFull && reliable)
        l = co_await node::take_work(work, payload.size(), cfg.limits, budgets.inflight, true, work_waits);
      if (!l && reliable) co_return l.error();
      if (l) in.lease = std::make_shared<node::WorkLease>(std::move(*l));
      if (reliable) {
        if (auto r = stream_q.try_push_from(in); r || r.error() != NetworkError::QueueFull) co_return r;
        co_return co_await stream_q.push(std::move(in), far());
      }
      if (!l || !latency_q.try_push(std::move(in))) {  // latency-first: drop the newest, never block
        std::lock_guard lk(mu);
        ++stats.latency_dropped;
      }
      co_return ok();
    }
    case node::InboundKind::Unsupported:
      break;
  }
  co_return make_error_code(NetworkError::NotImplemented);  // MEDIA_RTP does not travel on WebSocket
}

}  // namespace actr
