#include <actr/error.hpp>
#include <actr/inproc_transport_manager.hpp>

#include <spdlog/spdlog.h>

namespace actr {

InprocTransportManager::InprocTransportManager(InprocConfig cfg)
    : cfg_(cfg),
      reliable_(std::make_shared<Queue>(cfg.queue_capacity)),
      signal_(std::make_shared<Queue>(cfg.queue_capacity)) {}

InprocTransportManager::~InprocTransportManager() { close(); }

void InprocTransportManager::create_channel(const std::string& channel) {
  std::lock_guard lk(mu_);
  auto& q = channels_[channel];
  if (!q) q = std::make_shared<Queue>(cfg_.queue_capacity);
}

Result<std::shared_ptr<InprocTransportManager::Queue>> InprocTransportManager::lane_for(
    PayloadType pt, const std::optional<std::string>& channel) {
  switch (pt) {
    case PayloadType::RpcReliable: return reliable_;
    case PayloadType::RpcSignal: return signal_;
    case PayloadType::StreamReliable:
    case PayloadType::StreamLatencyFirst:
    case PayloadType::MediaRtp: {
      if (!channel) return make_error_code(NetworkError::InvalidArgument);
      std::lock_guard lk(mu_);
      auto it = channels_.find(*channel);
      if (it == channels_.end()) return make_error_code(NetworkError::ChannelNotFound);
      return it->second;
    }
  }
  return make_error_code(NetworkError::InvalidArgument);
}

boost::asio::awaitable<Result<void>> InprocTransportManager::push(PayloadType pt,
                                                                  std::optional<std::string> channel,
                                                                  pb::RpcEnvelope env, Deadline deadline) {
  auto lane = lane_for(pt, channel);
  if (!lane) co_return lane.error();
  auto pushed = co_await (*lane)->push(std::move(env), deadline);
  if (!pushed) co_return pushed.error();
  // recv() multiplexes the two RPC lanes on one notifier.
  if (lane->get() == reliable_.get() || lane->get() == signal_.get()) rpc_readable_.notify();
  co_return ok();
}

boost::asio::awaitable<Result<Bytes>> InprocTransportManager::send_request(PayloadType pt,
                                                                           std::optional<std::string> channel,
                                                                           pb::RpcEnvelope env) {
  // A non-positive timeout would otherwise wrap to "forever" (H-IN-2).
  if (env.timeout_ms() <= 0 || env.request_id().empty()) co_return make_error_code(NetworkError::InvalidArgument);
  const auto deadline = Clock::now() + std::chrono::milliseconds(env.timeout_ms());
  env.set_direction(pb::DIRECTION_REQUEST);
  // Registered before the send so a fast response cannot arrive unannounced; the guard removes
  // it on every exit below.
  auto pending = correlation_.register_request(env.request_id(), Dest::local());
  auto pushed = co_await push(pt, std::move(channel), std::move(env), deadline);
  if (!pushed) co_return pushed.error();
  co_return co_await pending.wait(deadline);
}

boost::asio::awaitable<Result<void>> InprocTransportManager::send_message(PayloadType pt,
                                                                          std::optional<std::string> channel,
                                                                          pb::RpcEnvelope env, Deadline deadline) {
  if (!env.has_direction() || env.direction() == pb::DIRECTION_UNSPECIFIED) env.set_direction(pb::DIRECTION_TELL);
  if (env.direction() == pb::DIRECTION_RESPONSE) {
    co_return send_response(std::move(env));
  }
  co_return co_await push(pt, std::move(channel), std::move(env), deadline);
}

Result<void> InprocTransportManager::send_response(pb::RpcEnvelope response) {
  RpcCorrelation::Completion c;
  if (response.has_error()) {
    c = correlation_.complete_error(response.request_id(),
                                    RemoteError{response.error().code(), response.error().message()});
  } else {
    const auto& p = response.payload();
    c = correlation_.complete(response.request_id(), Bytes(p.begin(), p.end()));
  }
  if (c == RpcCorrelation::Completion::Orphan) {
    spdlog::debug("actr: inproc orphan response {} dropped", response.request_id());
    return make_error_code(NetworkError::InvalidArgument);
  }
  return ok();
}

boost::asio::awaitable<Result<pb::RpcEnvelope>> InprocTransportManager::recv(Deadline deadline) {
  for (;;) {
    const auto seen = rpc_readable_.version();
    // Signal first: a biased pick done with try_pop, so no item can be lost to a cancelled
    // receive the way a select over two channel receives could lose one.
    std::optional<pb::RpcEnvelope> got = signal_->try_pop();
    if (!got) got = reliable_->try_pop();
    if (got) {
      if (got->direction() == pb::DIRECTION_REQUEST || got->direction() == pb::DIRECTION_TELL) co_return std::move(*got);
      spdlog::debug("actr: inproc envelope {} with direction {} dropped", got->request_id(),
                    static_cast<int>(got->direction()));
      continue;
    }
    if (closed_.load(std::memory_order_acquire)) co_return make_error_code(NetworkError::ChannelClosed);
    auto w = co_await rpc_readable_.async_wait_change(seen, deadline);
    if (!w) co_return w.error();
  }
}

boost::asio::awaitable<Result<pb::RpcEnvelope>> InprocTransportManager::recv_channel(std::string channel,
                                                                                 Deadline deadline) {
  std::shared_ptr<Queue> q;
  {
    std::lock_guard lk(mu_);
    auto it = channels_.find(channel);
    if (it == channels_.end()) co_return make_error_code(NetworkError::ChannelNotFound);
    q = it->second;
  }
  co_return co_await q->pop(deadline);
}

void InprocTransportManager::close() {
  if (closed_.exchange(true)) return;
  reliable_->close();
  signal_->close();
  {
    std::lock_guard lk(mu_);
    for (auto& [id, q] : channels_) q->close();
  }
  rpc_readable_.notify();
  (void)correlation_.fail_where([](const Dest&) { return true; }, make_error_code(NetworkError::ChannelClosed));
}

}  // namespace actr
