#pragma once
/// @file
/// `RpcCorrelation`: request_id → waiting caller, with RAII cleanup. One component serves the
/// in-process and the cross-process paths (reference §11 REQ).

#include <actr/detail/clock.hpp>
#include <actr/detail/notifier.hpp>
#include <actr/result.hpp>
#include <actr/types.hpp>

#include <boost/asio/awaitable.hpp>

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

namespace actr {

/// An error the remote handler sent back (`ErrorResponse`).
struct RemoteError {
  std::uint32_t code = 0;
  std::string message;
};

/// Table of outstanding requests. Thread safety: all members may be called from any thread.
class RpcCorrelation {
 public:
  struct Entry;
  struct State;

  /// RAII registration of one request: destroying it removes the entry (on every exit path:
  /// success, timeout, send failure, cancellation), so the table never leaks (H-IN-1).
  class Pending {
   public:
    Pending(Pending&&) noexcept = default;
    Pending& operator=(Pending&&) noexcept = delete;
    ~Pending();
    /// Waits for the response. Errors: `TimeoutError` at `deadline`, `Cancelled`
    /// (per-operation cancellation), `ConnectionClosed` (failed by `fail_where`) or the error it was
    /// completed with; a remote handler error is `ProtocolError` with details in `remote_error()`.
    boost::asio::awaitable<Result<Bytes>> wait(Deadline deadline);
    const std::string& request_id() const noexcept;
    /// The remote handler's error, if the response carried one.
    std::optional<RemoteError> remote_error() const;

   private:
    friend class RpcCorrelation;
    Pending(std::shared_ptr<State> st, std::shared_ptr<Entry> e) : st_(std::move(st)), e_(std::move(e)) {}
    std::shared_ptr<State> st_;
    std::shared_ptr<Entry> e_;
  };

  enum class Completion { Completed, Orphan };

  RpcCorrelation();
  /// Registers `request_id` for a request to `target`. A duplicate id replaces the older entry,
  /// whose waiter fails with `Cancelled` (logged).
  [[nodiscard]] Pending register_request(std::string request_id, Dest target);
  /// Completes a request with a payload. `Orphan` if nobody waits for `request_id` (late or
  /// unknown response: drop it, never treat it as a request).
  Completion complete(const std::string& request_id, Bytes payload);
  Completion complete_error(const std::string& request_id, RemoteError err);
  Completion fail(const std::string& request_id, Error why);
  /// Fails every pending request whose target matches; returns how many.
  std::size_t fail_where(const std::function<bool(const Dest&)>& pred, Error why);
  std::size_t size() const;

 private:
  std::shared_ptr<State> st_;
};

}  // namespace actr
