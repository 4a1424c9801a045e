#pragma once
/// @file
/// The WebRTC DataChannel wire (GStreamer webrtcbin underneath; no GStreamer or GLib type here).
///
/// One `WebRtcWire` is one peer connection to one remote actor, with four DataChannels, one per
/// data `PayloadType`, labelled with the protobuf enum names. The offerer creates them in-band
/// (`RPC_RELIABLE`, `RPC_SIGNAL`, `STREAM_RELIABLE`: ordered, reliable; `STREAM_LATENCY_FIRST`:
/// unordered, max 3 retransmits); the answerer maps them by label and ignores unknown labels.
/// Every DataChannel message carries the 8-byte fragment header of `dc_fragment.hpp`.
///
/// Signaling is not this wire's business: it speaks `PeerSignal`s to a `PeerSignalSink` and is
/// fed the remote's signals through `handle_signal`. Which side offers is decided outside (the
/// signaling server's role assignment).

#include <actr/backoff.hpp>
#include <actr/byte_budget.hpp>
#include <actr/framing.hpp>
#include <actr/peer_signal.hpp>
#include <actr/types.hpp>
#include <actr/websocket.hpp>
#include <actr/wire.hpp>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace actr {

/// A STUN or TURN server. `url` is "stun:host:port", "turn:host:port" or "turns:host:port";
/// TURN servers take `username` and `credential`. webrtcbin uses only the first STUN server.
struct IceServer {
  std::string url;
  std::string username;
  std::string credential;
};

struct WebRtcConfig {
  static BackoffConfig default_restart_backoff() {
    BackoffConfig b;
    b.initial = std::chrono::milliseconds{1000};
    b.max = std::chrono::milliseconds{5000};
    return b;
  }

  std::vector<IceServer> ice_servers;  ///< none by default: host candidates only
  bool relay_only = false;             ///< ICE transport policy "relay" (TURN only)
  /// Addresses ICE gathers candidates on, and the only ones whose local candidates are sent;
  /// {"127.0.0.1"} keeps a connection on loopback. Empty: every interface.
  std::vector<std::string> local_addresses;

  /// `connect()` gives up after this long (DataChannels not all open).
  std::chrono::milliseconds connect_timeout{10000};
  /// `close()` returns within this bound; the rest of the teardown finishes in the background.
  std::chrono::milliseconds close_timeout{500};
  /// A dropped connection that has not recovered after this long is reported closed.
  std::chrono::milliseconds recovery_timeout{15000};
  /// One restart attempt (offer out → DataChannels open again) may take this long.
  std::chrono::milliseconds restart_attempt_timeout{6000};
  /// Restart offers (and the answerer's restart requests) are at least this far apart.
  std::chrono::milliseconds restart_min_interval{2000};
  /// Wait between failed restart attempts (an `IceRestartRequest` cuts the wait short).
  BackoffConfig restart_backoff = default_restart_backoff();

  std::size_t max_message_size = kDefaultMaxMessageSize;  ///< one application message, both ways
  std::size_t max_reassembly_bytes = 32u << 20;   ///< incomplete inbound messages, per DataChannel
  /// Incomplete inbound messages of every DataChannel sharing it (a `Node` shares one with its
  /// WebSocket connections: `NodeLimits::reassembly_bytes`). A fragment past it is refused
  /// (`ResourceExhausted`): its message is dropped, the channel goes on. Null: no shared cap.
  std::shared_ptr<ByteBudget> reassembly_budget;
  std::chrono::milliseconds reassembly_ttl{30000};  ///< an incomplete message is dropped after this
  /// Complete inbound messages waiting for the frame handler. webrtcbin cannot be backpressured
  /// without blocking its streaming thread, so above this the latency-first class drops the
  /// newest message and the other classes fail the wire (`ResourceExhausted`).
  std::size_t max_inbound_queue_bytes = 64u << 20;
  /// A send waits while a DataChannel holds more than this many unsent bytes…
  std::size_t send_high_water = 1u << 20;
  /// …for at most this long at a time (`TimeoutError`): a stall bound, so a 16 MiB message on a
  /// slow link is not cut short while it keeps moving.
  std::chrono::milliseconds send_timeout{10000};
  std::size_t max_pending_candidates = 256;  ///< remote candidates buffered per wire
};

/// Owner of the GLib main loop thread that every WebRTC wire's GStreamer control work runs on
/// (GStreamer is initialised once per process). Wires hold a reference; `process_default()` is
/// created on first use and shut down at static destruction. Inject your own with `create()` to
/// control when the thread stops.
class WebRtcRuntime {
 public:
  static std::shared_ptr<WebRtcRuntime> create();
  static std::shared_ptr<WebRtcRuntime> process_default();
  ~WebRtcRuntime();  ///< shuts down
  WebRtcRuntime(const WebRtcRuntime&) = delete;
  WebRtcRuntime& operator=(const WebRtcRuntime&) = delete;

  /// Tears down every peer connection still open (without telling their peers), stops the
  /// loop and joins its thread. Idempotent; blocks briefly. Wires of a shut-down runtime fail.
  void shutdown();

  struct Impl;
  Impl& impl() noexcept { return *impl_; }

 private:
  WebRtcRuntime();
  std::unique_ptr<Impl> impl_;
};

/// Counters of one wire, for tests and metrics.
struct WebRtcStats {
  std::uint64_t messages_sent = 0;
  std::uint64_t messages_received = 0;
  std::uint64_t fragments_sent = 0;
  std::uint64_t fragments_received = 0;
  std::uint64_t inbound_rejected = 0;  ///< malformed / oversize / over-cap inbound messages
  Error last_inbound_error;            ///< why the last one was rejected
  std::uint64_t inbound_dropped = 0;   ///< latency-first messages dropped at the inbound cap
  std::uint64_t stale_signals = 0;     ///< answers, offers, candidates of an old exchange/generation
  std::uint64_t channels_ignored = 0;  ///< DataChannels the peer opened with a label we do not map
  std::uint64_t peer_connections = 0;  ///< built so far (1 + restarts)
  std::uint64_t restarts_completed = 0;
};

/// One WebRTC peer connection to `remote()`, as a `WireHandle` (`WireKind::WebRtc`).
///
/// Lifecycle: `connect()` (offerer: builds the peer connection, creates the channels, sends the
/// offer; answerer: waits for the offer) completes when all four DataChannels are open — not
/// on an ICE state — bounded by `connect_timeout` and cancellable; on failure the attempt is torn
/// down and `connect()` may be called again. While open, a dropped connection (webrtcbin reports
/// it disconnected or failed, or `report_connection_lost()`) starts a restart: the offerer sends
/// a restart offer (`PeerSignal::Kind::IceRestartOffer`), the answerer asks for one
/// (`IceRestartRequest`); after `recovery_timeout` without success the wire reports closed. A
/// remote close (a DataChannel closed by the peer, an SCTP association error) reports closed at
/// once. webrtcbin 1.22 cannot restart ICE on a live peer connection, so a restart builds a
/// fresh one (new ICE credentials, DTLS and SCTP) inside the same wire and session id; the
/// answerer replaces its own on the restart offer.
///
/// While restarting, `is_connected()` is false, `get_lane` fails with `ConnectionError` and
/// sends fail fast with `ConnectionError` (transient, not closed-like: the wire is not evicted).
/// Before the first connect and after death they fail closed-like (`DataChannelNotOpen`,
/// `DataChannelClosed`).
///
/// Staleness: every peer connection the wire builds gets a generation; its GStreamer callbacks
/// pass through a guard that `close()`/a rebuild shuts before anything else, and every event is
/// checked against (session id, generation) on arrival. Answers must echo the pending
/// `sdp_exchange_id`; candidates must carry the `username_fragment` of the current remote
/// description (candidates of older ones are dropped, unknown ones buffered up to
/// `max_pending_candidates` until their description arrives).
///
/// Inbound messages are reassembled per channel and handed to the frame handler one at a time,
/// in arrival order, on the wire's executor. Malformed fragments and oversize messages are
/// dropped with a typed error (`stats().last_inbound_error`: `MalformedFrame`,
/// `MessageTooLarge`, `ResourceExhausted`); the channel, the wire and other messages carry on.
///
/// Thread safety: all members may be called from any thread.
class WebRtcWire final : public WireHandle, public std::enable_shared_from_this<WebRtcWire> {
 public:
  ~WebRtcWire() override;  ///< closes without waiting (the teardown runs in the background)

  boost::asio::awaitable<Result<void>> connect() override;
  /// Idempotent, bounded by `close_timeout`. Marks the wire closed and silences every callback
  /// first, then (background) drains and closes the DataChannels so the peer sees the close.
  boost::asio::awaitable<void> close() override;
  bool is_connected() const noexcept override;
  void begin_close() noexcept override;
  Result<std::shared_ptr<DataLane>> get_lane(PayloadType pt) override;

  /// Feeds one signal the remote sent us. Non-blocking; processed in order on the executor.
  /// Offers and restart offers go to the answerer, answers and restart requests to the offerer;
  /// signals for the other role, of an old exchange or generation, or after close are dropped
  /// (counted in `stats().stale_signals`). A wire takes one plain `Offer` (a duplicate of it is
  /// ignored; a later one while connected is ignored too — a new offer means a new wire).
  void handle_signal(PeerSignal signal);
  /// Treat the connection as dropped now (e.g. signaling reports the peer gone): starts a
  /// restart as a webrtcbin-reported failure would. No-op unless connected.
  void report_connection_lost();

  const ActrId& local() const noexcept;
  const ActrId& remote() const noexcept;
  bool is_offerer() const noexcept;
  /// True while the first connection is being set up: not yet open, not restarting, not closed.
  bool is_setting_up() const;
  WebRtcStats stats() const;

  struct Impl;
  Impl& impl() noexcept { return *impl_; }

 private:
  friend std::shared_ptr<WebRtcWire> make_webrtc_wire(boost::asio::any_io_executor, WebRtcConfig, ActrId, ActrId,
                                                      bool, std::shared_ptr<PeerSignalSink>, FrameHandler,
                                                      std::shared_ptr<WebRtcRuntime>);
  friend struct Impl;
  WebRtcWire();
  void died(Error why) { notify_closed(why); }
  std::shared_ptr<Impl> impl_;
};

/// Creates an unconnected WebRTC wire from `local` to `remote`. `is_offerer` is the role the
/// signaling server assigned. Outbound signals go to `signals` (in order, one at a time; required:
/// without it nothing is negotiated);
/// inbound frames to `on_frame`. `runtime` defaults to `WebRtcRuntime::process_default()`.
std::shared_ptr<WebRtcWire> make_webrtc_wire(boost::asio::any_io_executor ex, WebRtcConfig cfg, ActrId local,
                                             ActrId remote, bool is_offerer, std::shared_ptr<PeerSignalSink> signals,
                                             FrameHandler on_frame, std::shared_ptr<WebRtcRuntime> runtime = nullptr);

}  // namespace actr
