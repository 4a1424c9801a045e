#pragma once
/// @file
/// `WebRtcCoordinator`: ties WebRTC wires to the signaling client for one local actor.
///
/// - Outbound (the wire builder asks for a wire to `peer`): negotiates the role with the signaling
///   server (exactly one offerer per pair) and returns an unconnected `WebRtcWire` of that role,
///   registered so the peer's signals reach it; the pool connects it (offerer: sends the offer;
///   answerer: waits for it). If the peer is already connecting to us, that wire is returned
///   instead (the peer may send before our side is open; replies must not need a second one).
/// - Inbound (the peer dialed us): an `Offer` for which no answerer wire is waiting creates one;
///   a pushed role assignment that makes us the offerer for a peer without a wire creates an
///   offerer wire. Either is connected in the background and, once its DataChannels are open,
///   handed to `on_inbound` (the node offers it to its manager, like an accepted WebSocket).
/// - Every relayed signal goes to the wire registered for its source; signals for no wire are
///   dropped (counted).
/// - Set-up is bounded: every wire it builds is connected by the coordinator itself from the
///   moment it exists (an offerer sends its offer whether or not its owner ever calls
///   `connect()`, which then waits on the same set-up). A wire not open within
///   `rtc.connect_timeout` of its creation (no offer or answer came, or the set-up failed) is
///   closed and forgotten: no wire waits for an offer that never comes, and the peer's next offer
///   or our next dial starts afresh (`stats().setups_failed`).
///
/// Threads: all members may be called from any thread. The dispatch tasks belong to the
/// coordinator; `stop()` ends them (bounded) and the destructor cancels them.

#include <actr/signaling_client.hpp>
#include <actr/webrtc.hpp>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include <functional>
#include <memory>

namespace actr {

struct WebRtcCoordinatorConfig {
  WebRtcConfig rtc;
  std::chrono::milliseconds negotiate_timeout{5000};  ///< role negotiation (reference: 5 s)
  /// Peer connections being set up at once (inbound and outbound). A peer's offer (or a role
  /// assignment making us offer) past it is refused: the offerer gets `SetupRefused` and its
  /// set-up fails at once with ResourceExhausted. Each costs a GStreamer pipeline and its threads
  /// (docs/limits.md); our own dials are never refused but count.
  std::size_t max_setups = 16;
};

struct WebRtcCoordinatorStats {
  std::uint64_t outbound_wires = 0;   ///< built for the wire builder
  std::uint64_t inbound_wires = 0;    ///< built because the peer dialed us
  std::uint64_t signals_routed = 0;
  std::uint64_t signals_dropped = 0;  ///< for no wire (late, stale, or unknown peer)
  /// `PeerRestarted` notices from the server: each closed every wire to that peer at once (its
  /// old process is gone; the manager falls back and the health checker dials the new one).
  std::uint64_t peer_restarts = 0;
  /// `PeerGone` notices: the peer's signaling registration ended with its connection; each closed
  /// every WebRTC wire to that peer at once (set up again when it is back).
  std::uint64_t peer_departures = 0;
  /// Wires closed and forgotten because their set-up did not finish: no offer or answer within
  /// `rtc.connect_timeout` of their creation, a failed set-up, or stop() during it.
  std::uint64_t setups_failed = 0;
  /// Offers (and role assignments) refused at the `max_setups` bound.
  std::uint64_t setups_refused = 0;
  /// Set-ups a peer started and then replaced by a newer offer before they finished (one per peer).
  std::uint64_t setups_replaced = 0;
};

class WebRtcCoordinator : public std::enable_shared_from_this<WebRtcCoordinator> {
 public:
  using InboundHandler = std::function<void(const ActrId& peer, const std::shared_ptr<WireHandle>& wire)>;

  /// Throws std::invalid_argument if `cfg.rtc.restart_backoff` is invalid (`Backoff::validate`).
  static std::shared_ptr<WebRtcCoordinator> create(boost::asio::any_io_executor ex, ActrId local,
                                                   std::shared_ptr<SignalingClient> signaling,
                                                   WebRtcCoordinatorConfig cfg, FrameHandler on_frame,
                                                   InboundHandler on_inbound);
  ~WebRtcCoordinator();

  /// Starts the dispatch tasks (relayed signals, pushed role assignments). Idempotent.
  void start();
  /// Ends the dispatch tasks and every set-up, and closes every wire it still tracks, all at once:
  /// bounded by about `rtc.close_timeout` however many wires there are. Idempotent; after it
  /// `create_wire` fails with `ShuttingDown`.
  boost::asio::awaitable<void> stop();

  /// A wire to `peer` for the wire builder: the connection the peer is setting up to us (still
  /// connecting, or connected and not yet handed to `on_inbound`'s owner) or the live one we
  /// already have, if any (connecting it waits for it); else a new unconnected wire in the role
  /// the server assigns. Errors: signaling errors (`UnknownTarget` when the peer is not
  /// registered, link errors), `TimeoutError`, `Cancelled`, `ConnectionError` (our answerer
  /// from an earlier negotiation is still waiting for the peer's offer, at most
  /// `rtc.connect_timeout`), `ShuttingDown` (after `stop()`).
  boost::asio::awaitable<Result<std::shared_ptr<WireHandle>>> create_wire(const ActrId& peer);

  WebRtcCoordinatorStats stats() const;

  /// Called (on the dispatch task, outside any lock) when the server says `peer` registered anew
  /// as a new process (`PeerRestarted`): the node clears its unreachable mark, so the next send
  /// dials the new process at once. Set before `start()`.
  void set_on_peer_restarted(std::function<void(const ActrId& peer)> cb);

  struct Impl;

 private:
  explicit WebRtcCoordinator(std::shared_ptr<Impl> impl);
  std::shared_ptr<Impl> impl_;
};

}  // namespace actr
