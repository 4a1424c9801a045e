#include <actr/ip_limiter.hpp>

#include <algorithm>
#include <iterator>

namespace actr {

std::string_view to_string(IpVerdict v) noexcept {
  switch (v) {
    case IpVerdict::Admit: return "admit";
    case IpVerdict::RateLimited: return "rate_limited";
    case IpVerdict::TooManyOpen: return "too_many_open";
    case IpVerdict::TooManyAddresses: return "too_many_addresses";
  }
  return "unknown";
}

std::shared_ptr<IpLimiter> IpLimiter::create(IpLimitConfig cfg) {
  return std::shared_ptr<IpLimiter>(new IpLimiter(cfg));
}

void IpLimiter::refill(Entry& e, TimePoint now) const {
  if (now <= e.refilled) return;
  const double minutes = std::chrono::duration<double, std::ratio<60>>(now - e.refilled).count();
  e.tokens = std::min(static_cast<double>(cfg_.burst), e.tokens + minutes * cfg_.new_per_minute);
  e.refilled = now;
}

IpVerdict IpLimiter::admit(const std::string& ip, bool loopback, TimePoint now, Lease& lease) {
  lease.reset();
  if (!cfg_.enabled || (loopback && !cfg_.limit_loopback)) {
    lease = std::make_shared<int>(0);  // nothing to release
    return IpVerdict::Admit;
  }
  {
    std::lock_guard lk(mu_);
    auto it = entries_.find(ip);
    if (it == entries_.end()) {
      if (entries_.size() >= cfg_.max_addresses) return IpVerdict::TooManyAddresses;
      it = entries_.emplace(ip, Entry{static_cast<double>(cfg_.burst), now, 0}).first;
    }
    Entry& e = it->second;
    refill(e, now);
    if (e.open >= cfg_.max_concurrent) return IpVerdict::TooManyOpen;
    if (e.tokens < 1.0) return IpVerdict::RateLimited;
    e.tokens -= 1.0;
    ++e.open;
  }
  // The lease's deleter holds the limiter: the count drops whenever the connection ends.
  lease = Lease(new int(0), [self = shared_from_this(), ip](void* p) {
    delete static_cast<int*>(p);
    self->release(ip);
  });
  return IpVerdict::Admit;
}

void IpLimiter::release(const std::string& ip) {
  std::lock_guard lk(mu_);
  auto it = entries_.find(ip);
  if (it != entries_.end() && it->second.open > 0) --it->second.open;
}

std::size_t IpLimiter::sweep(TimePoint now) {
  std::lock_guard lk(mu_);
  for (auto it = entries_.begin(); it != entries_.end();) {
    refill(it->second, now);
    const bool idle = it->second.open == 0 && it->second.tokens >= static_cast<double>(cfg_.burst);
    it = idle ? entries_.erase(it) : std::next(it);
  }
  return entries_.size();
}

std::size_t IpLimiter::tracked() const {
  std::lock_guard lk(mu_);
  return entries_.size();
}

std::uint32_t IpLimiter::open(const std::string& ip) const {
  std::lock_guard lk(mu_);
  auto it = entries_.find(ip);
  return it == entries_.end() ? 0 : it->second.open;
}

}  // namespace actr
