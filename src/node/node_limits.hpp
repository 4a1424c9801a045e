#pragma once
// Private: the node's limits at work (docs/limits.md) — the global budgets it shares with its
// wires, and the leases that count inbound work per connection and across connections.

#include <actr/node.hpp>

#include <boost/asio/awaitable.hpp>

#include <atomic>
#include <cstdint>
#include <memory>

namespace actr::node {

struct Budgets {
  std::shared_ptr<ByteBudget> reassembly, send, inflight;
};

/// Makes the global budgets of `cfg.limits` and applies the limits to the wires' settings.
Budgets apply_limits(NodeConfig& cfg);

/// Work accepted from one wire: counted on that wire's `InboundWork` and on the global in-flight
/// budget until the lease is destroyed (or reset). Movable.
class WorkLease {
 public:
  WorkLease() = default;
  WorkLease(std::shared_ptr<InboundWork> work, std::shared_ptr<ByteBudget> global, std::size_t bytes) noexcept
      : work_(std::move(work)), global_(std::move(global)), bytes_(bytes) {}
  WorkLease(WorkLease&& o) noexcept;
  WorkLease& operator=(WorkLease&& o) noexcept;
  WorkLease(const WorkLease&) = delete;
  WorkLease& operator=(const WorkLease&) = delete;
  ~WorkLease() { reset(); }
  void reset() noexcept;

 private:
  std::shared_ptr<InboundWork> work_;
  std::shared_ptr<ByteBudget> global_;
  std::size_t bytes_ = 0;
};

/// Takes a lease for `bytes` of work from the wire owning `work`. At the wire's per-connection
/// count or bytes (`lim`), waits for work to finish if `wait` (that peer is not read meanwhile),
/// else fails `QueueFull`; with nothing in flight it always lets one in. Each wait counts in
/// `waits`. Errors:
/// `ResourceExhausted` when `global` is full (nothing taken); `QueueFull`; the wait's `Cancelled`.
boost::asio::awaitable<Result<WorkLease>> take_work(std::shared_ptr<InboundWork> work, std::size_t bytes,
                                                    const NodeLimits& lim, std::shared_ptr<ByteBudget> global,
                                                    bool wait, std::atomic<std::uint64_t>& waits);

/// `take_work` without waiting, for the common case: the lease when it fits now, `QueueFull`
/// when `take_work` would have to wait, `ResourceExhausted` when `global` is full.
Result<WorkLease> try_take_work(const std::shared_ptr<InboundWork>& work, std::size_t bytes, const NodeLimits& lim,
                                const std::shared_ptr<ByteBudget>& global);

/// The encoded RESPONSE refusing `request` with `why`, its handler never run.
Bytes refusal(const pb::RpcEnvelope& request, Error why);

}  // namespace actr::node
