#pragma once
/// @file
/// Exponential backoff as a pure policy: no clock, no sleeping, randomness from a seeded generator.

#include <chrono>
#include <cstdint>
#include <optional>
#include <random>

namespace actr {

/// Configuration of `Backoff`. Defaults follow the original WirePool retry config (1 s, ×2, 10 s cap)
/// with jitter on.
struct BackoffConfig {
  std::chrono::milliseconds initial{1000};  ///< delay before the first *retry*
  std::chrono::milliseconds max{10000};     ///< cap on the un-jittered delay
  double multiplier = 2.0;                  ///< growth per retry (≥ 1)
  double jitter = 0.2;                      ///< ± fraction applied after the cap (0 disables)
  /// Total attempts allowed (first attempt included); nullopt = unlimited.
  std::optional<std::uint32_t> max_attempts;
  /// Give up once the caller-reported elapsed time plus the next delay would exceed this.
  std::optional<std::chrono::milliseconds> max_total;
  /// If true (default) the first attempt runs with zero delay and `initial` is the wait before the
  /// second attempt. If false, `initial` is also waited before the first attempt.
  bool immediate_first_attempt = true;
};

/// Yields the delay to wait before each attempt.
///
/// Contract: call `next_delay(elapsed)` once before every attempt; it returns the time to sleep
/// before making that attempt, or nullopt when no attempt may be made any more. With the default
/// config the sequence is 0, 1 s, 2 s, 4 s, 8 s, 10 s, 10 s, ... each (except the 0) multiplied
/// by a jitter factor uniform in [1 - jitter, 1 + jitter]; the cap is applied before jitter, so
/// a jittered delay may exceed `max` by at most `jitter × max`. Jittered delays are never below 1 ms.
/// Not thread-safe: one instance per retry loop.
class Backoff {
 public:
  /// `seed` fixes the jitter sequence (tests); the default draws a fresh seed from a cheap
  /// process-wide generator (std::random_device costs ~25 µs here and is read once per process).
  explicit Backoff(BackoffConfig cfg = {}, std::uint64_t seed = fresh_seed());

  /// Throws std::invalid_argument if `cfg` is not a valid configuration (what the constructor
  /// checks: e.g. `initial` above `max`, a multiplier below 1, a negative jitter).
  static void validate(const BackoffConfig& cfg);

  /// A new seed per call: a process-wide counter (seeded once from std::random_device) mixed by
  /// splitmix64. Thread-safe.
  static std::uint64_t fresh_seed() noexcept;

  /// Delay before the next attempt, or nullopt when exhausted (max_attempts reached, or
  /// `elapsed` + delay > max_total). `elapsed` is the caller's measure of time since the first attempt.
  std::optional<std::chrono::milliseconds> next_delay(
      std::chrono::milliseconds elapsed = std::chrono::milliseconds{0});

  /// Attempts handed out so far.
  std::uint32_t attempts() const noexcept { return attempts_; }

  /// Start over: the next call behaves like the first (the original hard-coded 100 ms here; we
  /// return to the configured `initial`).
  void reset() noexcept { attempts_ = 0; }

  const BackoffConfig& config() const noexcept { return cfg_; }

 private:
  BackoffConfig cfg_;
  // splitmix64: 8 bytes of state, good enough for jitter, far cheaper to seed than mt19937_64.
  struct SplitMix64 {
    using result_type = std::uint64_t;
    std::uint64_t state;
    static constexpr result_type min() noexcept { return 0; }
    static constexpr result_type max() noexcept { return ~result_type{0}; }
    result_type operator()() noexcept {
      std::uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
      z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
      z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
      return z ^ (z >> 31);
    }
  };
  SplitMix64 rng_;
  std::uint32_t attempts_ = 0;
};

}  // namespace actr
