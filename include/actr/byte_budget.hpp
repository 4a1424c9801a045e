#pragma once
/// @file
/// `ByteBudget`: one cap on bytes held by many holders at once (connections, DataChannels),
/// shared by pointer. Lock-free: a holder takes bytes before it holds them and gives them back
/// when it lets them go. docs/limits.md lists every budget and what a peer gets at its cap.

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>

namespace actr {

/// Default global cap on inbound message bytes being reassembled or handled (WebSocket messages
/// and DataChannel fragments together).
inline constexpr std::size_t kDefaultReassemblyBudget = 256u << 20;
/// Default global cap on outbound bytes queued on WebSocket connections.
inline constexpr std::size_t kDefaultSendBudget = 256u << 20;

class ByteBudget {
 public:
  explicit ByteBudget(std::size_t limit) noexcept : limit_(limit) {}
  ByteBudget(const ByteBudget&) = delete;
  ByteBudget& operator=(const ByteBudget&) = delete;

  std::size_t limit() const noexcept { return limit_; }
  /// Takes `n` bytes if `held() + n <= limit()` and returns true; otherwise takes nothing,
  /// counts a refusal and returns false. Never blocks. Thread-safe.
  bool try_acquire(std::size_t n) noexcept {
    auto cur = held_.load(std::memory_order_relaxed);
    do {
      if (n > limit_ - std::min(cur, limit_)) {
        refused_.fetch_add(1, std::memory_order_relaxed);
        return false;
      }
    } while (!held_.compare_exchange_weak(cur, cur + n, std::memory_order_acq_rel, std::memory_order_relaxed));
    const auto now = cur + n;
    auto p = peak_.load(std::memory_order_relaxed);
    while (now > p && !peak_.compare_exchange_weak(p, now, std::memory_order_relaxed)) {
    }
    return true;
  }
  /// Gives back `n` bytes taken earlier.
  void release(std::size_t n) noexcept { held_.fetch_sub(n, std::memory_order_acq_rel); }

  std::size_t held() const noexcept { return held_.load(std::memory_order_acquire); }
  /// The most ever held at once.
  std::size_t peak() const noexcept { return peak_.load(std::memory_order_relaxed); }
  /// Acquisitions refused so far.
  std::uint64_t refused() const noexcept { return refused_.load(std::memory_order_relaxed); }

 private:
  const std::size_t limit_;
  std::atomic<std::size_t> held_{0};
  std::atomic<std::size_t> peak_{0};
  std::atomic<std::uint64_t> refused_{0};
};

}  // namespace actr
