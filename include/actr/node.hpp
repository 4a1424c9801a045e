#pragma once
/// @file
/// `Node`: actor messaging on top of `OutprocTransportManager` and the WebSocket wire — tell,
/// call (request/response with explicit Direction), handlers, receiver-side dedup, and bounded
/// per-class inbound queues.

#include <actr/default_wire_builder.hpp>
#include <actr/metrics.hpp>
#include <actr/outproc_transport_manager.hpp>
#include <actr/webrtc_coordinator.hpp>
#include <actr/websocket.hpp>

#include "package.pb.h"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>

namespace actr {

class WireEventLog;

/// Who a node is and whom it believes (docs/security.md).
struct NodeIdentityConfig {
  /// The gate serves a peer only with a valid credential for the `X-Actr-Source-ID` it presents
  /// (HTTP 401 otherwise, before the upgrade), and a peer's relayed WebRTC signals reach the
  /// node only with a valid credential for that peer (`SignalingClient::verify_relays`). Off:
  /// anyone may claim any id (logged once).
  bool require = false;
  /// Keys trusted to sign peers' credentials (e.g. the signaling server's, from configuration).
  std::vector<VerifyingKey> trusted_keys;
  /// With `require` and `signal_url`: also trust the key the signaling server names at
  /// registration (as far as the signal URL is trusted: use wss:// across machines).
  bool trust_signaling_key = true;
  /// Our own credential (for `id`): sent as `X-Actr-Credential` until signaling issues a newer
  /// one, and with `signal_url` presented in the signaling URL (`SignalingClient::use_identity`),
  /// so a server that requires identity registers the node.
  std::optional<Credential> credential;
};

/// What the node lets peers make it hold (docs/limits.md). The node applies these to its wires'
/// settings (`wires.ws`, `webrtc`), over what those say.
struct NodeLimits {
  /// Largest application message (protobuf envelope or chunk), both ways, on every wire. A send
  /// above it fails `MessageTooLarge` naming the size and the limit; a peer's message above it
  /// closes that WebSocket connection (1009) or drops that DataChannel message.
  std::size_t max_message_size = kDefaultMaxMessageSize;
  /// Global: bytes of inbound messages being read, reassembled or handed to the node, WebSocket
  /// and DataChannel together. A WebSocket read past it closes that connection with 1013; a
  /// DataChannel fragment past it drops its message.
  std::size_t reassembly_bytes = kDefaultReassemblyBudget;
  /// Per WebSocket connection: outbound bytes queued before sends wait and the connection is not
  /// read; a connection whose queue does not move for 2 keepalive intervals is ended.
  std::size_t send_queue_bytes = 8u << 20;
  /// Global: outbound bytes queued on all WebSocket connections; a send past it fails
  /// `ResourceExhausted`.
  std::size_t send_queue_bytes_total = kDefaultSendBudget;
  /// Per connection: requests accepted and not yet answered (and tells and reliable chunks not yet
  /// handled), by count and bytes. At either, that connection is not read until one is done
  /// (latency-first chunks are dropped instead). One is always let in.
  std::size_t inflight_per_connection = 256;
  std::size_t inflight_bytes_per_connection = 8u << 20;
  /// Global: bytes of that work across connections. Past it a request is answered
  /// `ResourceExhausted` without running its handler (an actr caller reads `Unavailable`); a tell
  /// or reliable chunk closes its WebSocket connection with 1013 (a WebRTC wire: closed); a
  /// latency-first chunk is dropped.
  std::size_t inflight_bytes_total = 256u << 20;
};

struct NodeConfig {
  ActrId id;
  bool listen = true;
  std::string listen_host = "127.0.0.1";
  std::uint16_t listen_port = 0;  ///< 0 picks a free port
  /// TLS of the inbound gate (`make_tls_server_context`): when set, the gate serves only wss://
  /// and the node registers a wss:// address with signaling. Null: plain ws://. The dialing side
  /// (wss:// peers, whom to trust) is `wires.ws.tls`; signaling's is `signaling.tls`.
  std::shared_ptr<TlsContext> listen_tls;
  DefaultWireBuilderConfig wires;  ///< how to reach peers (address book / URL template)
  ManagerConfig manager;
  /// Answered requests are remembered per (peer, request_id) so a retried request gets the same
  /// answer without running its handler again: for this long (> the 12 s RpcReliable retry
  /// window), and within this many bytes of cache (oldest out first): the answers, their keys
  /// and a fixed cost per entry (a few hundred bytes) are all counted.
  std::chrono::milliseconds dedup_ttl{30000};
  std::size_t dedup_max_bytes = 64u << 20;
  std::size_t rpc_queue = 256;                 ///< RPC_RELIABLE + RPC_SIGNAL, backpressure
  std::size_t stream_queue = 64;               ///< STREAM_RELIABLE, backpressure
  std::size_t latency_queue = 64;              ///< STREAM_LATENCY_FIRST, drop newest when full
  /// Requests run concurrently on a pool of workers that grows while every worker is busy, up to
  /// this many (past it a request waits for a worker), and shrinks by one for each worker idle
  /// for `request_worker_idle`. The in-flight limits (`limits`) bound the work accepted anyway.
  std::size_t max_request_workers = 4096;
  std::chrono::milliseconds request_worker_idle{10000};
  bool retry_sends = true;                     ///< per-PayloadType retry of transient send errors
  /// A call with no answer after this long sends its request again (same request_id: the
  /// receiver's dedup runs the handler at most once), so a request or response lost with a dying
  /// wire does not fail the call. 0 disables.
  std::chrono::milliseconds resend_after{1000};
  /// The manager's health checker: drops dead transports and rebuilds failed wire kinds (a
  /// WebRTC wire that died comes back while WebSocket carries the traffic). 0 disables.
  std::chrono::milliseconds health_check_interval{2000};
  /// ws://host:port of an `actr signal` server: the node registers there (with its WebSocket
  /// address), discovers peers it has no address for, and sets up WebRTC wires through it.
  /// Several servers: their URLs separated by commas ("ws://a:9000/,ws://b:9000/",
  /// `split_signal_urls`); the node connects to the first that answers and fails over to the next
  /// when its server goes away (`SignalingClient::connect(std::vector<std::string>)`), keeping
  /// its WebRTC connections. `ais_register` takes the same list.
  std::optional<std::string> signal_url;
  SignalingClientConfig signaling;
  /// WebRTC settings (used with `signal_url` when `wires.kinds` contains WebRtc).
  WebRtcConfig webrtc;
  /// Peer connections set up at once; offers past it are refused (`WebRtcCoordinatorConfig::max_setups`).
  std::size_t max_webrtc_setups = 16;
  NodeIdentityConfig identity;
  NodeLimits limits;
};

/// One actor endpoint. Thread safety: all members may be called from any thread.
class Node {
 public:
  /// Answers a request: the response payload, or an error sent back as `ErrorResponse`.
  using RequestHandler = std::function<boost::asio::awaitable<Result<Bytes>>(ActrId from, pb::RpcEnvelope request)>;
  using TellHandler = std::function<void(const ActrId& from, const pb::RpcEnvelope& tell)>;
  using ChunkHandler = std::function<void(const ActrId& from, PayloadType pt, const pb::DataStream& chunk)>;

  struct Stats {
    std::uint64_t requests = 0, tells = 0, chunks = 0, responses = 0;
    std::uint64_t duplicates = 0;      ///< retried requests answered from the dedup cache
    std::uint64_t orphans = 0;         ///< responses nobody waited for (dropped)
    std::uint64_t bad_direction = 0;   ///< envelopes without a valid Direction (dropped)
    std::uint64_t malformed = 0;       ///< well-framed messages whose protobuf did not decode (dropped)
    std::uint64_t latency_dropped = 0; ///< latency-first chunks dropped on a full queue
    std::uint64_t frames_websocket = 0, frames_webrtc = 0;  ///< inbound messages by the wire that carried them
    std::uint64_t sent_websocket = 0, sent_webrtc = 0;      ///< outbound messages by the wire that took them
    std::uint64_t bytes_in_websocket = 0, bytes_in_webrtc = 0;    ///< their bytes (encoded messages)
    std::uint64_t bytes_out_websocket = 0, bytes_out_webrtc = 0;
    /// Inbound messages waiting for a handler now, per class queue (RPC, STREAM_RELIABLE, latency-first).
    std::size_t rpc_queued = 0, stream_queued = 0, latency_queued = 0;
    std::size_t request_workers = 0;  ///< request workers alive now (NodeConfig::max_request_workers)
  };

  Node(boost::asio::any_io_executor ex, NodeConfig cfg);
  ~Node();
  Node(const Node&) = delete;
  Node& operator=(const Node&) = delete;

  /// Starts the inbound gate (if `listen`) and the dispatch workers. Returns the bound port (0
  /// if not listening).
  Result<std::uint16_t> start();
  /// Stops workers, closes the gate and every transport. Bounded, idempotent.
  boost::asio::awaitable<void> stop();

  void on_request(RequestHandler h);
  void on_tell(TellHandler h);
  void on_chunk(ChunkHandler h);

  /// Request/response. Errors: `TimeoutError` after `timeout`; the remote handler's error as it
  /// travels, through actr HEAD's code table (rpc_error_code.hpp: e.g. `PermissionError` comes
  /// back as itself, `ProtocolError` as `Internal`, an unknown code as `Unavailable`; its message
  /// in the log); transport errors after the PayloadType's retries. A handler that throws or
  /// fails with a foreign error category answers `Internal`.
  boost::asio::awaitable<Result<Bytes>> call(ActrId to, std::string route_key, Bytes payload,
                                             std::chrono::milliseconds timeout,
                                             PayloadType pt = PayloadType::RpcReliable);
  /// One-way message (Direction TELL); no response is ever produced for it.
  boost::asio::awaitable<Result<void>> tell(ActrId to, std::string route_key, Bytes payload,
                                            PayloadType pt = PayloadType::RpcReliable);
  /// One stream chunk on STREAM_RELIABLE or STREAM_LATENCY_FIRST.
  boost::asio::awaitable<Result<void>> send_chunk(ActrId to, PayloadType pt, pb::DataStream chunk);

  /// Adds or replaces a peer's address (e.g. from discovery).
  void set_peer_address(const ActrId& peer, std::string url);
  OutprocTransportManager& manager();
  /// The signaling client (null without `signal_url`).
  std::shared_ptr<SignalingClient> signaling() const;
  /// Completes once the node is registered with the signaling server (at once without one).
  /// Errors: `TimeoutError` at `deadline`; `ShuttingDown` after `stop()`; a TLS code
  /// (`is_tls_failure`) at once when the signaling server's certificate was refused, and
  /// `PermissionError` when the server answered HTTP 403 — the node then stops trying to reach
  /// signaling (neither goes away by itself; actr PR #398).
  boost::asio::awaitable<Result<void>> wait_registered(Deadline deadline);
  const ActrId& id() const;
  Stats stats() const;
  /// The keys the gate trusts (null unless `identity.require`); add keys at any time.
  std::shared_ptr<KeyRing> trusted_keys() const;
  /// Upgrades the gate refused for identity (HTTP 401).
  std::uint64_t unauthorized() const;

  /// What the node holds against its `NodeLimits`, now and at the peak (docs/limits.md).
  struct Held {
    std::size_t reassembly = 0, reassembly_peak = 0;  ///< inbound message bytes being read or reassembled
    std::size_t queued = 0, queued_peak = 0;          ///< outbound bytes queued on WebSocket connections
    std::size_t inflight = 0, inflight_peak = 0;      ///< inbound work accepted and not finished
    std::uint64_t refused = 0;      ///< acquisitions refused at the three global budgets
    /// Times a connection was not read: its in-flight budget was full (its requests' answers are
    /// not leaving, or its handlers are slow). Reading never waits for the outbound queue itself.
    std::uint64_t read_pauses = 0;
    std::uint64_t stalls = 0;       ///< gate connections ended: their peer took nothing for 2 keepalives
  };
  Held held() const;
  /// The WebRTC coordinator's counters (set-ups, refusals, relayed signals); nullopt without
  /// WebRTC wires (no `signal_url`, or `wires.kinds` without WebRtc).
  std::optional<WebRtcCoordinatorStats> webrtc_stats() const;
  /// The last wire events of the node's transports (include/actr/node_status.hpp).
  const WireEventLog& wire_events() const;
  /// Every figure of the node, for an exporter (include/actr/metrics.hpp).
  friend void collect_metrics(Node& node, Metrics& out);

  struct Impl;

 private:
  std::shared_ptr<Impl> impl_;
};

}  // namespace actr
