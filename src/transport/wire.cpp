#include <actr/wire.hpp>

namespace actr {

std::string_view to_string(WireKind k) noexcept {
  switch (k) {
    case WireKind::WebSocket: return "WebSocket";
    case WireKind::WebRtc: return "WebRTC";
  }
  return "unknown";
}

std::uint64_t next_session_id() noexcept {
  static std::atomic<std::uint64_t> next{1};
  return next.fetch_add(1, std::memory_order_relaxed);
}

void WireHandle::set_on_closed(std::function<void(const WireIdentity&, Error)> cb) {
  std::unique_lock lk(cb_mu_);
  if (closed_reported_) {
    auto why = closed_why_;
    lk.unlock();
    if (cb) cb(identity_, why);
    return;
  }
  on_closed_ = std::move(cb);
}

void WireHandle::notify_closed(Error why) {
  std::function<void(const WireIdentity&, Error)> cb;
  {
    std::lock_guard lk(cb_mu_);
    if (closed_reported_) return;
    closed_reported_ = true;
    closed_why_ = why;
    cb = std::move(on_closed_);
    on_closed_ = nullptr;
  }
  // Invoked outside our lock: the observer takes its own locks (lock order rule, docs/concurrency.md).
  if (cb) cb(identity_, why);
}

}  // namespace actr
