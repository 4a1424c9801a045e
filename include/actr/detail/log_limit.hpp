#pragma once
// Warnings a peer can trigger over and over (refused credentials, malformed frames, refused
// offers, failed accepts) are logged at their 1st, 2nd, 4th, 8th, … occurrence, with the count:
// a flood shows in the log without filling it, and a single event is never hidden.

#include <atomic>
#include <bit>
#include <cstdint>

namespace actr::detail {

/// True for the occurrences that are logged: n = 1, 2, 4, 8, … (false for 0).
constexpr bool nth_is_logged(std::uint64_t n) noexcept { return std::has_single_bit(n); }

/// Counts the occurrences of one repeated event. Thread-safe; a function-local `static` one counts
/// for the whole process.
class LogLimiter {
 public:
  /// Counts one occurrence; returns its number if it is to be logged, else 0.
  std::uint64_t tick() noexcept {
    const auto n = count_.fetch_add(1, std::memory_order_relaxed) + 1;
    return nth_is_logged(n) ? n : 0;
  }
  /// Occurrences counted so far.
  std::uint64_t count() const noexcept { return count_.load(std::memory_order_relaxed); }

 private:
  std::atomic<std::uint64_t> count_{0};
};

}  // namespace actr::detail
