#include <actr/error.hpp>
#include <actr/unreachable_cache.hpp>

namespace actr {

bool is_refusal(const Error& ec) noexcept {
  using boost::system::errc::errc_t;
  // Compared through generic conditions, so Asio's system-category codes match on POSIX.
  return ec == errc_t::connection_refused || ec == errc_t::host_unreachable ||
         ec == errc_t::network_unreachable || ec == errc_t::network_down ||
         ec == make_error_code(NetworkError::NetworkUnreachable);
}

UnreachableCache::UnreachableCache(UnreachableConfig cfg) : cfg_(std::move(cfg)) { Backoff::validate(cfg_.backoff); }

std::optional<Error> UnreachableCache::admit(const Dest& d, TimePoint now) {
  if (!cfg_.enabled) return std::nullopt;
  auto it = entries_.find(d);
  if (it == entries_.end()) return std::nullopt;
  Entry& e = it->second;
  const bool probe_out = e.probe_started && now - *e.probe_started < cfg_.probe_timeout;
  if (now < e.retry_at || probe_out) return make_error_code(NetworkError::NetworkUnreachable);
  e.probe_started = now;  // this sender is the probe; the others keep failing fast meanwhile
  return std::nullopt;
}

void UnreachableCache::settle(const Dest& d, const Error& outcome, TimePoint now) {
  if (!cfg_.enabled) return;
  // A fail-fast answer of our own is not news about the destination, nor is a sender that was
  // cancelled (if it was the probe, the next sender probes instead).
  if (outcome == make_error_code(NetworkError::NetworkUnreachable)) return;
  if (is_cancelled(outcome)) {
    if (auto it = entries_.find(d); it != entries_.end()) it->second.probe_started.reset();
    return;
  }
  if (!is_refusal(outcome)) {
    entries_.erase(d);
    return;
  }
  auto it = entries_.find(d);
  const bool fresh = it == entries_.end();
  if (fresh) {
    if (entries_.size() >= cfg_.max_entries) return;
    it = entries_.emplace(d, Entry{Backoff(cfg_.backoff), now, outcome, std::nullopt}).first;
  }
  Entry& e = it->second;
  e.cause = outcome;
  // Senders that raced into the same refused dial report it once each: only a new mark or a
  // failed probe (or a report after the wait ran out) moves the backoff a step.
  if (!fresh && !e.probe_started && now < e.retry_at) return;
  // Unlimited attempts and no total: next_delay always has a value.
  e.retry_at = now + e.backoff.next_delay().value_or(cfg_.backoff.max);
  e.probe_started.reset();
}

Error UnreachableCache::cause(const Dest& d) const {
  auto it = entries_.find(d);
  return it == entries_.end() ? Error{} : it->second.cause;
}

}  // namespace actr
