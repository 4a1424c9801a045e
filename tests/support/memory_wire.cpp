#include "memory_wire.hpp"

#include <actr/error.hpp>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace actr::testing {

namespace asio = boost::asio;

namespace {
// Waits until per-operation cancellation: the "hang" fault. Returns Cancelled.
asio::awaitable<Error> hang_until_cancelled() {
  asio::steady_timer t(co_await asio::this_coro::executor, Clock::time_point::max());
  co_await t.async_wait(asio::as_tuple(asio::use_awaitable));
  co_return make_error_code(NetworkError::Cancelled);
}
}  // namespace

asio::awaitable<void> Gate::wait() {
  // Runs as an operand of `||` in the layers above, i.e. on its own coroutine thread: ignoring
  // cancellation here affects nobody else.
  co_await asio::this_coro::throw_if_cancelled(false);
  waiting.fetch_add(1);
  while (!open_.load()) {
    auto seen = n_.version();
    if (open_.load()) break;
    (void)co_await n_.async_wait_change(seen, Clock::now() + std::chrono::hours(1));
  }
  waiting.fetch_sub(1);
}

class MemoryWire::Lane : public DataLane {
 public:
  Lane(MemoryWire* w, PayloadType pt, std::uint64_t gen) : w_(w), pt_(pt), gen_(gen) {}
  PayloadType payload_type() const noexcept override { return pt_; }
  asio::awaitable<Result<void>> send(ConstBytes bytes) override { co_return w_->deliver(pt_, bytes, gen_); }

 private:
  MemoryWire* w_;  // lanes are owned by the wire and handed out with it alive (see get_lane)
  PayloadType pt_;
  std::uint64_t gen_;
};

MemoryWire::MemoryWire(WireKind kind, Dest dest, std::shared_ptr<MemoryBuilder> owner, FaultPlan plan,
                       std::shared_ptr<Inbox> inbox, bool connected)
    : WireHandle(kind), dest_(std::move(dest)), owner_(owner), plan_(std::move(plan)), inbox_(std::move(inbox)),
      connected_(connected) {
  owner->live_wires_.fetch_add(1);
}

MemoryWire::~MemoryWire() {
  if (auto o = owner_.lock()) o->live_wires_.fetch_sub(1);
}

asio::awaitable<Result<void>> MemoryWire::connect() {
  auto owner = owner_.lock();
  const auto attempt = owner ? owner->next_connect_attempt(dest_, kind()) : 1;
  auto it = plan_.connect_attempt.find(attempt);
  const ConnectFault f = it != plan_.connect_attempt.end() ? it->second : plan_.every_connect;
  switch (f.kind) {
    case ConnectFault::Kind::Ok: break;
    case ConnectFault::Kind::Fail: co_return f.error;
    case ConnectFault::Kind::Hang: {
      auto e = co_await hang_until_cancelled();
      if (owner) owner->count_cancelled_connect();
      co_return e;
    }
    case ConnectFault::Kind::Gate: co_await f.gate->wait(); break;
  }
  if (dead_.load()) co_return make_error_code(NetworkError::ConnectionClosed);
  connected_.store(true, std::memory_order_release);
  co_return ok();
}

asio::awaitable<void> MemoryWire::close() {
  close_calls_.fetch_add(1);
  connected_.store(false, std::memory_order_release);
  dead_.store(true);
  if (plan_.close_gate) co_await plan_.close_gate->wait();
}

Result<std::shared_ptr<DataLane>> MemoryWire::get_lane(PayloadType pt) {
  if (pt == PayloadType::MediaRtp) return make_error_code(NetworkError::NoRoute);
  if (dead_.load(std::memory_order_acquire)) return make_error_code(NetworkError::ConnectionClosed);
  const auto i = static_cast<std::size_t>(pt);
  std::lock_guard lk(mu_);
  if (!lanes_[i]) lanes_[i] = std::make_shared<Lane>(this, pt, ++lane_gen_[i]);
  return lanes_[i];
}

void MemoryWire::invalidate_lane(PayloadType pt) {
  std::lock_guard lk(mu_);
  lanes_[static_cast<std::size_t>(pt)].reset();
}

void MemoryWire::break_lane(PayloadType pt) {
  std::lock_guard lk(mu_);
  broken_gen_[static_cast<std::size_t>(pt)] = lane_gen_[static_cast<std::size_t>(pt)];
}

Result<void> MemoryWire::deliver(PayloadType pt, ConstBytes bytes, std::uint64_t lane_gen) {
  if (dead_.load(std::memory_order_acquire) || !connected_.load(std::memory_order_acquire)) {
    failed_sends_.fetch_add(1);
    return make_error_code(kind() == WireKind::WebRtc ? NetworkError::DataChannelClosed : NetworkError::WebSocketClosed);
  }
  {
    std::lock_guard lk(mu_);
    if (lane_gen <= broken_gen_[static_cast<std::size_t>(pt)]) {
      failed_sends_.fetch_add(1);
      return make_error_code(NetworkError::DataChannelClosed);
    }
  }
  auto n = sends_.fetch_add(1) + 1;
  auto r = inbox_->deliver(Message{dest_, identity(), pt, Bytes(bytes.begin(), bytes.end())});
  if (plan_.close_after_sends && n >= *plan_.close_after_sends) drop();
  return r;
}

void MemoryWire::drop() {
  dead_.store(true);
  connected_.store(false, std::memory_order_release);
  notify_closed(make_error_code(NetworkError::ConnectionClosed));
}

void MemoryWire::sever_silently() {
  dead_.store(true);
  connected_.store(false, std::memory_order_release);
}

// ---- builder ---------------------------------------------------------------------------------

std::shared_ptr<MemoryBuilder> MemoryBuilder::create(std::shared_ptr<Inbox> inbox) {
  return std::shared_ptr<MemoryBuilder>(new MemoryBuilder(std::move(inbox)));
}

void MemoryBuilder::set_default_plan(FaultPlan p) {
  std::lock_guard lk(mu_);
  default_plan_ = std::move(p);
}

void MemoryBuilder::set_plan(const Dest& d, FaultPlan p) {
  std::lock_guard lk(mu_);
  plans_[d] = std::move(p);
}

FaultPlan MemoryBuilder::plan_for(const Dest& d) const {
  std::lock_guard lk(mu_);
  auto it = plans_.find(d);
  return it != plans_.end() ? it->second : default_plan_;
}

asio::awaitable<Result<std::vector<std::shared_ptr<WireHandle>>>> MemoryBuilder::create_connections(
    Dest dest, WireKindSet kinds) {
  total_dials_.fetch_add(1);
  {
    std::lock_guard lk(mu_);
    ++dials_[dest];
  }
  const FaultPlan plan = plan_for(dest);
  if (plan.builder_hang) {
    auto e = co_await hang_until_cancelled();
    cancelled_dials_.fetch_add(1);
    co_return e;
  }
  if (plan.builder_gate) co_await plan.builder_gate->wait();
  if (plan.builder_error) co_return *plan.builder_error;
  std::vector<std::shared_ptr<WireHandle>> out;
  for (auto k : {WireKind::WebRtc, WireKind::WebSocket}) {
    if (!kinds.contains(k) || !plan.kinds.contains(k)) continue;
    auto w = std::make_shared<MemoryWire>(k, dest, shared_from_this(), plan, inbox_, plan.return_connected);
    {
      std::lock_guard lk(mu_);
      wires_[dest].push_back(w);
    }
    out.push_back(std::move(w));
  }
  co_return out;
}

std::uint64_t MemoryBuilder::dials(const Dest& d) const {
  std::lock_guard lk(mu_);
  auto it = dials_.find(d);
  return it == dials_.end() ? 0 : it->second;
}

std::uint64_t MemoryBuilder::connects(const Dest& d, WireKind k) const {
  std::lock_guard lk(mu_);
  auto it = connects_.find({d, k});
  return it == connects_.end() ? 0 : it->second;
}

std::uint32_t MemoryBuilder::next_connect_attempt(const Dest& d, WireKind k) {
  std::lock_guard lk(mu_);
  return static_cast<std::uint32_t>(++connects_[{d, k}]);
}

std::vector<std::shared_ptr<MemoryWire>> MemoryBuilder::wires(const Dest& d) const {
  std::lock_guard lk(mu_);
  std::vector<std::shared_ptr<MemoryWire>> out;
  auto it = wires_.find(d);
  if (it == wires_.end()) return out;
  for (auto& w : it->second)
    if (auto s = w.lock()) out.push_back(s);
  return out;
}

}  // namespace actr::testing
