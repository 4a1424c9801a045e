#pragma once
/// @file
/// `DestTransport`: sends to one destination over the best Ready wire of its `WirePool`.

#include <actr/connection_event.hpp>
#include <actr/detail/clock.hpp>
#include <actr/wire.hpp>
#include <actr/wire_pool.hpp>

#include <atomic>
#include <memory>
#include <vector>

namespace actr {

/// The transport to one destination: route table + wire pool.
///
/// `send` picks, per `PayloadType`, the first Ready wire in route order (WebRTC, then WebSocket).
/// A closed-like error evicts that wire by identity (WebRTC first gets one fresh lane) and the
/// send re-evaluates, falling back to the next kind. With no Ready wire it waits — level-triggered,
/// bounded by its deadline — while some candidate is still Connecting, and fails with `NoRoute`
/// as soon as none is.
/// Thread safety: all members may be called from any thread.
class DestTransport : public std::enable_shared_from_this<DestTransport> {
 public:
  /// Builds the pool and starts connecting every handle in the background; never waits.
  static std::shared_ptr<DestTransport> create(boost::asio::any_io_executor ex, Dest dest,
                                               std::vector<std::shared_ptr<WireHandle>> handles,
                                               WirePoolConfig cfg = {},
                                               std::shared_ptr<EventBus> events = nullptr);
  ~DestTransport();

  /// Sends one message. Returns the identity of the wire that accepted it (for identity-checked
  /// cleanup later). Errors: `NoRoute` (no wire for `pt`, or every candidate exhausted),
  /// `TimeoutError` (deadline passed while waiting for a wire), `ConnectionClosed` (transport
  /// closed), `Cancelled`, or the wire's own non-closed-like error.
  /// Cancellation: per-operation; the message may or may not have been sent.
  static boost::asio::awaitable<Result<WireIdentity>> send(std::shared_ptr<DestTransport> self, PayloadType pt,
                                                           ConstBytes bytes, Deadline deadline);

  /// Asks `builder` for new wires of the kinds whose slot is Failed, and adds them.
  /// Handles that turn out not to be needed are closed, not leaked.
  /// Errors: the builder's, or `ConfigurationError` if it returned nothing.
  static boost::asio::awaitable<Result<void>> retry_failed_connections(std::shared_ptr<DestTransport> self,
                                                                       std::shared_ptr<WireBuilder> builder);
  /// As `retry_failed_connections`, for the kinds whose slot is Failed or Empty (never built:
  /// e.g. WebRTC to a peer that was not registered with signaling when the transport was made).
  static boost::asio::awaitable<Result<void>> fill_missing_connections(std::shared_ptr<DestTransport> self,
                                                                       std::shared_ptr<WireBuilder> builder);

  /// True if some Ready wire reports `is_connected()` (lock-free per wire).
  bool has_healthy_connection() const;
  /// True if some wire is Ready or Connecting.
  bool has_live_candidate() const;
  /// Kinds whose slot is Failed (had a wire that gave up or died).
  WireKindSet failed_kinds() const;
  /// Kinds whose slot is Failed or Empty.
  WireKindSet missing_kinds() const;

  /// Closes one kind's wire only (e.g. WebRTC after a recovery timeout, keeping WebSocket).
  void close_connection(WireKind kind);
  /// Closes every wire; idempotent, bounded by the pool's close bounds. Senders waiting on this
  /// transport complete with `why` (default `ConnectionClosed`).
  boost::asio::awaitable<void> close(Error why = {});
  /// Synchronous, non-awaiting close (destructors).
  void abort();
  bool is_closed() const { return pool_->is_closed(); }

  const Dest& dest() const noexcept { return pool_->dest(); }
  WirePool& pool() noexcept { return *pool_; }
  const WirePool& pool() const noexcept { return *pool_; }

 private:
  explicit DestTransport(std::shared_ptr<WirePool> pool) : pool_(std::move(pool)) {}
  static boost::asio::awaitable<Result<void>> build_into(std::shared_ptr<DestTransport> self,
                                                         std::shared_ptr<WireBuilder> builder, WireKindSet wanted);
  std::shared_ptr<WirePool> pool_;
};

}  // namespace actr
