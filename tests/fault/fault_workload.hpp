#pragma once
// The traffic the fault suite keeps running against a peer it kills: callers making echo calls
// and one sender of STREAM_RELIABLE chunks that asks the receiver, every few chunks, what it has
// handled. Every outcome is recorded with how long it took against its deadline; the test thread
// waits on `Workload::progress` for it to move and reads the record once the loops have ended.
//
// "Acknowledged", as the suite uses it:
//  - a call is acknowledged when `Node::call` returns OK: the receiver's handler ran and its
//    answer came back (the API's only end-to-end acknowledgement);
//  - a STREAM_RELIABLE chunk is *accepted* when `Node::send_chunk` returns OK (a wire queued it:
//    no end-to-end promise) and *acknowledged* when, in addition, a later "fault.acked" call to
//    the receiver succeeds and its answer "F L" (the first and the last sequence that receiver
//    process handled) brackets it: F <= seq <= L.
#include <actr/error.hpp>
#include <actr/node.hpp>

#include "detail/asio.hpp"

#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <sstream>
#include <vector>

namespace actr::testing::fault {

struct Outcomes {
  std::vector<std::uint64_t> ok_calls;        ///< numbers of calls that returned their own payload
  std::vector<std::uint64_t> accepted;        ///< chunk sequences send_chunk took
  std::vector<std::uint64_t> refused_chunks;  ///< chunk sequences send_chunk failed (never re-sent)
  std::vector<std::pair<long long, long long>> acks;  ///< "F L" answers of fault.acked
  std::map<std::string, int> errors;          ///< failed calls and sends by error name
  int untyped = 0;      ///< errors neither ours nor a named system network failure
  int wrong_echo = 0;   ///< an OK call whose answer was not its payload
  int hung = 0;         ///< operations that ended later than their deadline + slack
  std::chrono::milliseconds max_overshoot{0};  ///< the latest end past a deadline
};

class Workload {
 public:
  struct Config {
    ActrId to;
    int callers = 3;
    std::chrono::milliseconds call_timeout{1500};
    std::chrono::milliseconds send_timeout{2000};  ///< the node's manager.send_timeout
    std::chrono::milliseconds slack{1000};         ///< past a deadline, an operation counts as hung
  };
  explicit Workload(Config c) : cfg_(std::move(c)) {
    // Room for a 100-cycle run up front, so the survivor's heap figures show the library's
    // growth, not these records'.
    out_.ok_calls.reserve(1u << 15);
    out_.accepted.reserve(1u << 15);
    out_.refused_chunks.reserve(1u << 13);
    out_.acks.reserve(1u << 13);
  }

  /// Starts the loops on `ex`; they run until `stop()`.
  void start(Node& node, boost::asio::any_io_executor ex) {
    for (int i = 0; i < cfg_.callers; ++i) boost::asio::co_spawn(ex, caller(node), boost::asio::detached);
    boost::asio::co_spawn(ex, streamer(node), boost::asio::detached);
  }
  void stop() { running_ = false; }
  /// Waits until every loop has ended (each ends within its operation's deadline), or `until`.
  bool wait_stopped(std::chrono::steady_clock::time_point until) {
    std::unique_lock lk(mu_);
    return cv_.wait_until(lk, until, [&] { return ended_ == cfg_.callers + 1; });
  }
  /// Successful calls and acknowledgements so far.
  std::pair<std::size_t, std::size_t> progress() const {
    std::lock_guard lk(mu_);
    return {out_.ok_calls.size(), out_.acks.size()};
  }
  /// Waits until at least `calls` calls succeeded and `acks` acknowledgements came, or `until`.
  bool wait_progress(std::size_t calls, std::size_t acks, std::chrono::steady_clock::time_point until) {
    std::unique_lock lk(mu_);
    return cv_.wait_until(lk, until, [&] { return out_.ok_calls.size() >= calls && out_.acks.size() >= acks; });
  }
  /// Failed calls and sends so far.
  std::size_t failures() const {
    std::lock_guard lk(mu_);
    return failures_;
  }
  bool wait_failures(std::size_t n, std::chrono::steady_clock::time_point until) {
    std::unique_lock lk(mu_);
    return cv_.wait_until(lk, until, [&] { return failures_ >= n; });
  }
  Outcomes outcomes() const {
    std::lock_guard lk(mu_);
    return out_;
  }

 private:
  static Bytes be8(std::uint64_t n) {
    Bytes b(8);
    for (int i = 0; i < 8; ++i) b[static_cast<std::size_t>(i)] = static_cast<std::uint8_t>(n >> (56 - 8 * i));
    return b;
  }
  // Counts an operation that took `took` against `limit`; true if it failed.
  bool account(const Error& err, Clock::duration took, std::chrono::milliseconds limit) {
    const auto over = std::chrono::duration_cast<std::chrono::milliseconds>(took - limit);
    std::lock_guard lk(mu_);
    out_.max_overshoot = std::max(out_.max_overshoot, over);
    if (over > cfg_.slack) ++out_.hung;
    if (!err) return false;
    ++failures_;
    cv_.notify_all();
    ++out_.errors[error_name(err)];
    // Typed: one of ours, or a system network failure named by its POSIX condition (a refused
    // dial comes back as the system's connection_refused, docs/limits.md); error_name spells
    // anything else "category:value".
    if (err.category() != network_error_category() && error_name(err).find(':') != std::string::npos) ++out_.untyped;
    return true;
  }
  boost::asio::awaitable<void> pace_after_error() {
    // A peer that refuses fails calls at once; without a pause the loop would spin.
    boost::asio::steady_timer t(co_await boost::asio::this_coro::executor, std::chrono::milliseconds(20));
    co_await t.async_wait(actr::detail::use_ec);
  }
  void ended() {
    std::lock_guard lk(mu_);
    ++ended_;
    cv_.notify_all();
  }

  boost::asio::awaitable<void> caller(Node& node) {
    while (running_) {
      const auto n = next_call_++;
      const auto t0 = Clock::now();
      auto r = co_await node.call(cfg_.to, "fault.echo", be8(n), cfg_.call_timeout);
      const bool failed = account(r ? Error{} : r.error(), Clock::now() - t0, cfg_.call_timeout);
      if (!failed) {
        std::lock_guard lk(mu_);
        if (*r == be8(n)) out_.ok_calls.push_back(n);
        else ++out_.wrong_echo;
        cv_.notify_all();
      } else {
        co_await pace_after_error();
      }
    }
    ended();
  }

  boost::asio::awaitable<void> streamer(Node& node) {
    for (std::uint64_t s = 0; running_; ++s) {
      pb::DataStream c;
      c.set_stream_id("fault");
      c.set_sequence(s);
      c.set_payload(std::string(64, 'x'));
      const auto t0 = Clock::now();
      auto r = co_await node.send_chunk(cfg_.to, PayloadType::StreamReliable, c);
      const bool failed = account(r ? Error{} : r.error(), Clock::now() - t0, cfg_.send_timeout);
      {
        std::lock_guard lk(mu_);
        (failed ? out_.refused_chunks : out_.accepted).push_back(s);
      }
      if (failed) co_await pace_after_error();
      if (s % 8 != 7) continue;
      const auto t1 = Clock::now();
      auto a = co_await node.call(cfg_.to, "fault.acked", Bytes{}, cfg_.call_timeout);
      if (account(a ? Error{} : a.error(), Clock::now() - t1, cfg_.call_timeout)) {
        co_await pace_after_error();
        continue;
      }
      std::istringstream in(std::string(a->begin(), a->end()));
      long long f = -1, l = -1;
      in >> f >> l;
      std::lock_guard lk(mu_);
      if (f >= 0) out_.acks.emplace_back(f, l);
      cv_.notify_all();
    }
    ended();
  }

  const Config cfg_;
  std::atomic<bool> running_{true};
  std::atomic<std::uint64_t> next_call_{0};
  mutable std::mutex mu_;
  std::condition_variable cv_;
  Outcomes out_;
  int ended_ = 0;
  std::size_t failures_ = 0;
};

}  // namespace actr::testing::fault
