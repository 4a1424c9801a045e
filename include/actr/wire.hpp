#pragma once
/// @file
/// The seam real wires plug into: `DataLane`, `WireHandle`, `WireBuilder`. A new wire (WebSocket,
/// WebRTC, in-memory) implements these three and nothing else.

#include <actr/detail/notifier.hpp>
#include <actr/result.hpp>
#include <actr/types.hpp>

#include <boost/asio/awaitable.hpp>

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string_view>
#include <vector>

namespace actr {

/// Kind of wire; also the index of its slot in a `WirePool`.
enum class WireKind : std::uint8_t { WebSocket = 0, WebRtc = 1 };
inline constexpr std::size_t kWireKindCount = 2;
std::string_view to_string(WireKind k) noexcept;

/// A small set of `WireKind`s.
class WireKindSet {
 public:
  constexpr WireKindSet() = default;
  constexpr WireKindSet(std::initializer_list<WireKind> ks) {
    for (auto k : ks) add(k);
  }
  static constexpr WireKindSet all() { return WireKindSet{WireKind::WebSocket, WireKind::WebRtc}; }
  constexpr void add(WireKind k) noexcept { bits_ |= bit(k); }
  constexpr void remove(WireKind k) noexcept { bits_ &= static_cast<std::uint8_t>(~bit(k)); }
  constexpr bool contains(WireKind k) const noexcept { return (bits_ & bit(k)) != 0; }
  constexpr bool empty() const noexcept { return bits_ == 0; }
  constexpr bool intersects(WireKindSet o) const noexcept { return (bits_ & o.bits_) != 0; }
  friend constexpr bool operator==(WireKindSet, WireKindSet) = default;

 private:
  static constexpr std::uint8_t bit(WireKind k) noexcept {
    return static_cast<std::uint8_t>(1u << static_cast<unsigned>(k));
  }
  std::uint8_t bits_ = 0;
};

/// Who a wire is: its kind plus a process-wide monotonic session id, fresh for every
/// `WireHandle` instance. Cleanup is compare-and-act on this identity, so a late callback of an
/// old connection can never tear down its replacement (reference §13 item 13).
struct WireIdentity {
  WireKind kind = WireKind::WebSocket;
  std::uint64_t session_id = 0;
  friend bool operator==(const WireIdentity&, const WireIdentity&) = default;
};

/// Allocates the next session id (starts at 1; never reused within a process).
std::uint64_t next_session_id() noexcept;

/// Inbound work its receiver accepted from one wire and has not finished (a `Node`'s requests not
/// yet answered, messages not yet handled), counted against the receiver's per-connection budget.
/// Each wire has one, kept alive by the receiver's leases after the wire is gone. The wire's
/// single reader is the only one that adds work (while it waits, that peer is not read); anyone
/// finishing work takes it off and, if the reader asked, wakes it.
struct InboundWork {
  std::atomic<std::size_t> count{0};
  std::atomic<std::size_t> bytes{0};
  std::atomic<bool> wanted{false};  // the reader waits for `finished`
  detail::Notifier finished;
};

/// One outbound QoS lane of a wire, for one `PayloadType`.
class DataLane {
 public:
  virtual ~DataLane() = default;
  virtual PayloadType payload_type() const noexcept = 0;
  /// Sends one application message (already protobuf-encoded). The bytes are copied or written
  /// before completion; the span need only live until then.
  /// Errors: closed-like codes (`is_closed_like`) when the wire is dead, closed or was never
  /// connected and the message was not sent (the caller may resend elsewhere); `MessageTooLarge`;
  /// others as the wire defines (a WebRTC wire that is recovering: transient `ConnectionError`).
  /// Cancellation: per-operation, terminal; the message may or may not have been sent.
  virtual boost::asio::awaitable<Result<void>> send(ConstBytes bytes) = 0;
};

/// One connection (of one kind) to one destination. Created unconnected or connected by a
/// `WireBuilder`; connected by `WirePool` with retries.
///
/// Implementations must: make `is_connected()` a lock-free read; make `close()` idempotent and
/// bounded in time; call `notify_closed()` exactly when a connected wire dies for any reason
/// other than `close()` (remote close, read error, keepalive timeout).
///
/// tests/contract/wire_contract_test.cpp checks every wire against these comments.
class WireHandle {
 public:
  explicit WireHandle(WireKind kind) : identity_{kind, next_session_id()} {}
  WireHandle(const WireHandle&) = delete;
  WireHandle& operator=(const WireHandle&) = delete;
  virtual ~WireHandle() = default;

  WireKind kind() const noexcept { return identity_.kind; }
  /// The receiver's count of work accepted from this wire and not finished.
  const std::shared_ptr<InboundWork>& inbound_work() const noexcept { return work_; }
  const WireIdentity& identity() const noexcept { return identity_; }

  /// Establishes the connection. Bounded by the implementation's own timeout. On a connected
  /// wire: succeeds at once and changes nothing. After `close()` the wire stays closed: fails
  /// closed-like (a new connection is a new wire).
  /// Cancellation: per-operation, terminal → completes promptly with `Cancelled`.
  virtual boost::asio::awaitable<Result<void>> connect() = 0;
  /// Closes the connection and releases its resources. Idempotent; completes within the
  /// implementation's close bound even if the peer does not answer. Does not call `notify_closed`.
  /// Once it has begun, no further inbound frame of this wire reaches its frame handler (one
  /// already being handled may finish), and sends fail closed-like.
  virtual boost::asio::awaitable<void> close() = 0;
  /// Lock-free: true between a successful `connect()` and the wire's death, `begin_close()` or
  /// `close()`.
  virtual bool is_connected() const noexcept = 0;
  /// Its owner has dropped the wire and will `close()` it soon (a pool closes retired wires in the
  /// background): from now on it reports not connected, so nobody picks it up again meanwhile.
  virtual void begin_close() noexcept {}
  /// The lane for `pt` (created on first use). Errors: `NoRoute` if this wire does not carry
  /// `pt` (whatever its state); closed-like codes if the wire is dead or closed. Before `connect()`
  /// a wire either fails here closed-like or hands out a lane whose sends fail closed-like.
  virtual Result<std::shared_ptr<DataLane>> get_lane(PayloadType pt) = 0;
  /// Drops a cached lane so the next `get_lane` builds a new lane object (which works as long as
  /// the wire does). It never reopens anything: on the real wires it is a no-op — a WebSocket's
  /// lanes share its one connection, and a WebRTC lane looks up the current DataChannel on every
  /// send (a DataChannel closing while the wire is open kills the whole wire).
  virtual void invalidate_lane(PayloadType /*pt*/) {}

  /// Registers the single observer of this wire's death (the owning `WirePool`). The callback
  /// runs on whatever thread detected the death, with no lock of the wire held; it runs at most
  /// once. Registering after the wire died invokes it immediately. Its error is closed-like when
  /// the peer closed or vanished; other deaths carry their cause (e.g. `TimeoutError` for a
  /// keepalive timeout, the frame handler's error, WebRTC's `ResourceExhausted` inbound cap).
  void set_on_closed(std::function<void(const WireIdentity&, Error)> cb);

 protected:
  /// For implementations: report that the connected wire died. Safe from any thread; only the
  /// first call has an effect.
  void notify_closed(Error why);

 private:
  WireIdentity identity_;
  const std::shared_ptr<InboundWork> work_ = std::make_shared<InboundWork>();
  std::mutex cb_mu_;
  std::function<void(const WireIdentity&, Error)> on_closed_;
  bool closed_reported_ = false;
  Error closed_why_;
};

/// Creates the wires for a destination.
class WireBuilder {
 public:
  virtual ~WireBuilder() = default;
  /// Builds one handle per kind in `kinds` that can reach `dest` (possibly fewer; an empty vector is
  /// returned as `ConfigurationError` by the caller). Handles may come back unconnected (the pool
  /// connects them) or already connected (e.g. WebRTC after signaling).
  /// Cancellation: per-operation, terminal → completes promptly with `Cancelled`, having closed
  /// anything it built.
  virtual boost::asio::awaitable<Result<std::vector<std::shared_ptr<WireHandle>>>> create_connections(
      Dest dest, WireKindSet kinds) = 0;
};

}  // namespace actr
