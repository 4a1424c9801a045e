// The node's limits at work: global budgets shared with the wires, per-connection work leases.
#include "node/node_limits.hpp"

#include <actr/error.hpp>
#include <actr/rpc_error_code.hpp>

#include <utility>

namespace actr::node {

Budgets apply_limits(NodeConfig& cfg) {
  const auto& l = cfg.limits;
  Budgets b{std::make_shared<ByteBudget>(l.reassembly_bytes), std::make_shared<ByteBudget>(l.send_queue_bytes_total),
            std::make_shared<ByteBudget>(l.inflight_bytes_total)};
  // One setting for the message size and one reassembly budget for every wire: dialed and
  // accepted WebSocket connections (the gate is configured from wires.ws) and DataChannels.
  cfg.wires.ws.max_message_size = l.max_message_size;
  cfg.wires.ws.send_queue_bytes = l.send_queue_bytes;
  cfg.wires.ws.reassembly_budget = b.reassembly;
  cfg.wires.ws.send_budget = b.send;
  cfg.webrtc.max_message_size = l.max_message_size;
  cfg.webrtc.reassembly_budget = b.reassembly;
  return b;
}

WorkLease::WorkLease(WorkLease&& o) noexcept
    : work_(std::move(o.work_)), global_(std::move(o.global_)), bytes_(std::exchange(o.bytes_, 0)) {}

WorkLease& WorkLease::operator=(WorkLease&& o) noexcept {
  if (this != &o) {
    reset();
    work_ = std::move(o.work_);
    global_ = std::move(o.global_);
    bytes_ = std::exchange(o.bytes_, 0);
  }
  return *this;
}

void WorkLease::reset() noexcept {
  if (!work_) return;
  work_->bytes.fetch_sub(bytes_);
  work_->count.fetch_sub(1);
  if (global_) global_->release(bytes_);
  // After the counts went down: a reader that announced itself sees them or gets the wake-up.
  if (work_->wanted.load() && work_->wanted.exchange(false)) work_->finished.notify();
  work_.reset();
  global_.reset();
  bytes_ = 0;
}

namespace {
bool work_fits(const InboundWork& work, std::size_t bytes, const NodeLimits& lim) {
  const auto n = work.count.load();
  return n == 0 || (n < lim.inflight_per_connection && work.bytes.load() + bytes <= lim.inflight_bytes_per_connection);
}
}  // namespace

Result<WorkLease> try_take_work(const std::shared_ptr<InboundWork>& work, std::size_t bytes, const NodeLimits& lim,
                                const std::shared_ptr<ByteBudget>& global) {
  if (!work_fits(*work, bytes, lim)) return make_error_code(NetworkError::QueueFull);
  if (global && !global->try_acquire(bytes)) return make_error_code(NetworkError::ResourceExhausted);
  work->count.fetch_add(1);
  work->bytes.fetch_add(bytes);
  return WorkLease(work, global, bytes);
}

boost::asio::awaitable<Result<WorkLease>> take_work(std::shared_ptr<InboundWork> work, std::size_t bytes,
                                                    const NodeLimits& lim, std::shared_ptr<ByteBudget> global,
                                                    bool wait, std::atomic<std::uint64_t>& waits) {
  // Only the wire's reader adds work, so what it sees fitting still fits when it adds.
  auto fits = [&] { return work_fits(*work, bytes, lim); };
  if (!fits()) {
    if (!wait) co_return make_error_code(NetworkError::QueueFull);
    waits.fetch_add(1, std::memory_order_relaxed);
    for (;;) {
      work->wanted.store(true);
      const auto seen = work->finished.version();
      if (fits()) break;
      // No deadline of its own: work finishes when handlers answer, and each answer is bounded.
      auto w = co_await work->finished.async_wait_change(seen, kNoDeadline);
      if (!w && w.error() != NetworkError::TimeoutError) co_return w.error();
    }
  }
  co_return try_take_work(work, bytes, lim, global);
}

Bytes refusal(const pb::RpcEnvelope& request, Error why) {
  pb::RpcEnvelope resp;
  resp.set_route_key(request.route_key());
  resp.set_request_id(request.request_id());
  resp.set_direction(pb::DIRECTION_RESPONSE);
  resp.set_timeout_ms(0);
  resp.mutable_error()->set_code(static_cast<std::uint32_t>(to_rpc_error_code(why)));
  resp.mutable_error()->set_message("the node's in-flight budget is full: " + why.message());
  Bytes b(resp.ByteSizeLong());
  resp.SerializeToArray(b.data(), static_cast<int>(b.size()));
  return b;
}

}  // namespace actr::node
