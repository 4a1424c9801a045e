#pragma once
/// @file
/// What a running node is connected to, for status pages and tools: its destinations, the
/// state of each one's wires and which payload classes route on them, and a bounded log of recent
/// wire events. Read on any thread, like `collect_metrics`; nothing is added to the send path.

#include <actr/connection_event.hpp>
#include <actr/types.hpp>
#include <actr/wire.hpp>
#include <actr/wire_pool.hpp>

#include <chrono>
#include <cstdint>
#include <deque>
#include <mutex>
#include <string>
#include <vector>

namespace actr {

class Node;

/// One wire kind of one destination.
struct WireStatus {
  WireKind kind = WireKind::WebSocket;
  SlotState state = SlotState::Empty;
  std::size_t standby = 0;  ///< older inbound WebSocket connections still open (`WirePool::standby_count`)
  /// The payload classes a send would put on this wire now: it is the first Ready kind of their
  /// `route_for` order. Empty unless `state` is Ready.
  std::vector<PayloadType> routes;
};

/// One destination with a transport (dials still in flight are not listed).
struct DestinationStatus {
  Dest dest;
  std::vector<WireStatus> wires;  ///< one per wire kind, in `WireKind` order
  bool unreachable = false;       ///< `OutprocTransportManager::is_unreachable`
};

/// One wire event as recorded (a `ConnectionEvent` with the time it was seen).
struct WireEvent {
  std::uint64_t seq = 0;  ///< 1, 2, ... in the order recorded; never reused by one log
  std::chrono::system_clock::time_point at;
  Dest dest = Dest::local();
  WireIdentity wire;
  ConnectionState state = ConnectionState::New;
  std::string error;  ///< `error_name` of the event's error ("connection_refused", ...); empty if none
};

/// The last `capacity` wire events. Thread safety: all members may be called from any thread
/// (one leaf mutex, held for a copy).
class WireEventLog {
 public:
  explicit WireEventLog(std::size_t capacity = 256) : capacity_(capacity == 0 ? 1 : capacity) {}
  void record(const ConnectionEvent& ev);
  /// The recorded events with `seq > after`, oldest first (at most `capacity`).
  std::vector<WireEvent> since(std::uint64_t after = 0) const;
  /// The `seq` of the newest event (0: none yet).
  std::uint64_t last_seq() const;

 private:
  const std::size_t capacity_;
  mutable std::mutex mu_;
  std::deque<WireEvent> ring_;
  std::uint64_t next_ = 1;
};

struct NodeStatus {
  ActrId id;
  std::vector<DestinationStatus> destinations;  ///< ordered by destination
  std::vector<WireEvent> events;                ///< `Node::wire_events().since(events_after)`
};

/// A snapshot of `node`. Thread-safe: `node` may be running on other threads; each wire pool is
/// read under its own lock, so two destinations may be seen at slightly different moments.
NodeStatus node_status(Node& node, std::uint64_t events_after = 0);

}  // namespace actr
