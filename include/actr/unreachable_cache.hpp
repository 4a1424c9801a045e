#pragma once
/// @file
/// `UnreachableCache`: destinations whose dials were just refused (a negative cache), as a pure
/// policy — no clock of its own, no I/O, no lock.

#include <actr/backoff.hpp>
#include <actr/result.hpp>
#include <actr/types.hpp>

#include <chrono>
#include <cstddef>
#include <optional>
#include <unordered_map>

namespace actr {

/// True for the failures that say "nothing is there now": the dial was refused (nothing listens
/// on the port) or the host or network cannot be reached. Timeouts, TLS refusals, authentication
/// refusals and closes by the peer are not refusals: they keep their own types and handling.
bool is_refusal(const Error& ec) noexcept;

struct UnreachableConfig {
  bool enabled = true;
  /// How long a destination stays marked after a refusal, growing with each consecutive one:
  /// 500 ms, 1 s, 2 s, ... up to 30 s, each ± 20 %.
  BackoffConfig backoff{.initial = std::chrono::milliseconds{500},
                        .max = std::chrono::milliseconds{30000},
                        .multiplier = 2.0,
                        .jitter = 0.2,
                        .max_attempts = std::nullopt,
                        .max_total = std::nullopt,
                        .immediate_first_attempt = false};
  /// A probe that has not reported back after this long (its sender was cancelled) no longer
  /// holds the others back: the next sender probes instead.
  std::chrono::milliseconds probe_timeout{10000};
  /// At most this many destinations are remembered; past it a refusal is not cached (the cache
  /// is only a shortcut, so forgetting is always safe) and memory stays bounded.
  std::size_t max_entries = 65536;
};

/// Which destinations to fail fast, and when to try one again.
///
/// Contract: a destination is marked by `refused`. While marked, `admit` answers
/// `NetworkUnreachable` at once, except for one sender — the probe — once the mark's wait is
/// over; the probe's outcome is reported with `settle`: a refusal marks it again for longer
/// (jittered exponential backoff), anything else forgets it. `forget` clears a mark by hand
/// (a user reset, or the peer connected to us).
/// Not thread-safe: the owner serialises calls.
class UnreachableCache {
 public:
  using TimePoint = std::chrono::steady_clock::time_point;

  /// Throws std::invalid_argument if `cfg.backoff` is invalid (`Backoff::validate`).
  explicit UnreachableCache(UnreachableConfig cfg = {});

  /// nullopt: the sender may dial (`d` is not marked, or this sender is the probe). Otherwise
  /// the error to fail with now (`NetworkUnreachable`).
  std::optional<Error> admit(const Dest& d, TimePoint now);
  /// Reports the outcome of a send or dial to `d` that `admit` let through.
  void settle(const Dest& d, const Error& outcome, TimePoint now);
  /// Clears the mark of `d`, if any.
  void forget(const Dest& d) { entries_.erase(d); }
  void clear() { entries_.clear(); }

  bool contains(const Dest& d) const { return entries_.contains(d); }
  /// The refusal that marked `d` (empty if `d` is not marked).
  Error cause(const Dest& d) const;
  std::size_t size() const noexcept { return entries_.size(); }
  const UnreachableConfig& config() const noexcept { return cfg_; }

 private:
  struct Entry {
    Backoff backoff;
    TimePoint retry_at;
    Error cause;
    std::optional<TimePoint> probe_started;
  };
  UnreachableConfig cfg_;
  std::unordered_map<Dest, Entry> entries_;
};

}  // namespace actr
