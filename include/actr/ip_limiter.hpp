#pragma once
/// @file
/// `IpLimiter`: per-address admission of new connections — a token bucket of new connections per
/// minute and a cap on connections open at once — as a policy with the clock injected.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

namespace actr {

/// Defaults are actrix's: 5 new connections per minute per address, bursts of 10, 100 open.
struct IpLimitConfig {
  bool enabled = true;
  double new_per_minute = 5.0;       ///< bucket refill rate
  std::uint32_t burst = 10;          ///< bucket size: new connections admitted back to back
  std::uint32_t max_concurrent = 100;  ///< connections open at once from one address
  /// Loopback peers (127.0.0.0/8, ::1) are local tools and tests; they are limited only if set.
  bool limit_loopback = false;
  /// Addresses tracked at once. Past it a new address is refused (memory stays bounded; an
  /// attacker with many addresses cannot make us remember all of them).
  std::size_t max_addresses = 65536;
};

enum class IpVerdict {
  Admit,
  RateLimited,        ///< the address opened `burst` connections faster than `new_per_minute`
  TooManyOpen,        ///< the address holds `max_concurrent` connections
  TooManyAddresses,   ///< `max_addresses` addresses are tracked already
};
std::string_view to_string(IpVerdict v) noexcept;

/// Admits or refuses each new connection by its peer address.
///
/// Contract: `admit` returns Admit together with a lease; the connection holds the lease for
/// its lifetime and the address's open count drops when the last copy of it is destroyed (from
/// any thread). An address with nothing open and a full bucket is forgotten by `sweep`.
/// Thread-safe (one leaf mutex). Create with `create` (leases keep the limiter alive).
class IpLimiter : public std::enable_shared_from_this<IpLimiter> {
 public:
  using TimePoint = std::chrono::steady_clock::time_point;
  using Lease = std::shared_ptr<void>;

  static std::shared_ptr<IpLimiter> create(IpLimitConfig cfg = {});

  /// `ip`: the peer address in text form; `loopback`: whether it is a loopback address.
  IpVerdict admit(const std::string& ip, bool loopback, TimePoint now, Lease& lease);
  /// Forgets idle addresses whose bucket has refilled. Returns how many are still tracked.
  std::size_t sweep(TimePoint now);

  std::size_t tracked() const;
  std::uint32_t open(const std::string& ip) const;
  const IpLimitConfig& config() const noexcept { return cfg_; }

 private:
  explicit IpLimiter(IpLimitConfig cfg) : cfg_(cfg) {}
  struct Entry {
    double tokens = 0;
    TimePoint refilled;
    std::uint32_t open = 0;
  };
  void refill(Entry& e, TimePoint now) const;
  void release(const std::string& ip);

  const IpLimitConfig cfg_;
  mutable std::mutex mu_;
  std::unordered_map<std::string, Entry> entries_;
};

}  // namespace actr
