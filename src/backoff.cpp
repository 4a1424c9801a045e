#include <actr/backoff.hpp>

#include <atomic>
#include <random>

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>

namespace actr {
namespace {

using std::chrono::milliseconds;

// Largest double that still converts to milliseconds::rep without overflow (2^63 is not).
constexpr double kMaxRepAsDouble = 9.2e18;

void check_config(const BackoffConfig& cfg) {
  // `!(x >= y)` rather than `x < y` so NaN is rejected too.
  if (!(cfg.multiplier >= 1.0)) throw std::invalid_argument("Backoff: multiplier must be >= 1");
  if (!(cfg.jitter >= 0.0 && cfg.jitter < 1.0)) {
    throw std::invalid_argument("Backoff: jitter must be in [0, 1)");
  }
  if (cfg.initial.count() < 0 || cfg.max.count() < 0) {
    throw std::invalid_argument("Backoff: initial and max must not be negative");
  }
  if (cfg.initial > cfg.max) throw std::invalid_argument("Backoff: initial must not exceed max");
  if (cfg.max_total && cfg.max_total->count() < 0) {
    throw std::invalid_argument("Backoff: max_total must not be negative");
  }
}

// initial × multiplier^retry, capped at max. Evaluated in double and compared against the cap
// before converting back, so huge exponents saturate (pow gives inf) instead of overflowing.
milliseconds capped_base(const BackoffConfig& cfg, std::uint32_t retry) {
  const double grown = static_cast<double>(cfg.initial.count()) *
                       std::pow(cfg.multiplier, static_cast<double>(retry));
  if (!(grown < static_cast<double>(cfg.max.count()))) return cfg.max;
  // The epsilon keeps e.g. 100 × 1.1² = 121.00000000000001 and 999.9999999 style results on the
  // integer the user expects; the remaining fraction is dropped like the original's floor.
  return milliseconds{static_cast<milliseconds::rep>(std::floor(grown + 1e-6))};
}

}  // namespace

Backoff::Backoff(BackoffConfig cfg, std::uint64_t seed) : cfg_(cfg), rng_{seed} { check_config(cfg_); }

void Backoff::validate(const BackoffConfig& cfg) { check_config(cfg); }

std::uint64_t Backoff::fresh_seed() noexcept {
  static std::atomic<std::uint64_t> counter{[] {
    std::random_device rd;
    return (static_cast<std::uint64_t>(rd()) << 32) ^ rd();
  }()};
  SplitMix64 mix{counter.fetch_add(1, std::memory_order_relaxed)};
  return mix();
}

std::optional<milliseconds> Backoff::next_delay(milliseconds elapsed) {
  if (cfg_.max_attempts && attempts_ >= *cfg_.max_attempts) return std::nullopt;

  milliseconds delay{0};
  if (attempts_ > 0 || !cfg_.immediate_first_attempt) {
    const std::uint32_t retry = cfg_.immediate_first_attempt ? attempts_ - 1 : attempts_;
    delay = capped_base(cfg_, retry);
    if (cfg_.jitter > 0.0) {
      std::uniform_real_distribution<double> factor(1.0 - cfg_.jitter, 1.0 + cfg_.jitter);
      const double jittered = std::round(static_cast<double>(delay.count()) * factor(rng_));
      // max may be close to the rep's limit; 1 + jitter must not push us past it.
      delay =
          jittered >= kMaxRepAsDouble
              ? milliseconds::max()
              : std::max(milliseconds{1}, milliseconds{static_cast<milliseconds::rep>(jittered)});
    }
  }

  if (cfg_.max_total) {
    // Written as a subtraction so elapsed + delay cannot overflow.
    const milliseconds used = std::max(elapsed, milliseconds{0});
    if (used > *cfg_.max_total || delay > *cfg_.max_total - used) return std::nullopt;
  }
  // Saturating: wrapping to 0 would restart the sequence with an immediate attempt.
  if (attempts_ < std::numeric_limits<std::uint32_t>::max()) ++attempts_;
  return delay;
}

}  // namespace actr
