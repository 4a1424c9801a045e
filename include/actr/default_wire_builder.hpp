#pragma once
/// @file
/// `DefaultWireBuilder`: for each actor destination, a WebRTC wire (set up through signaling)
/// and a WebSocket wire (address from the address book, a URL template, or discovery).

#include <actr/signaling_client.hpp>
#include <actr/webrtc_coordinator.hpp>
#include <actr/websocket.hpp>
#include <actr/wire.hpp>

#include <map>
#include <mutex>
#include <optional>
#include <string>

namespace actr {

struct DefaultWireBuilderConfig {
  std::map<ActrId, std::string> address_book;  ///< actor → ws://host:port/path
  /// Used when the address book has no entry: every "{actor_id}" becomes the serial number in
  /// decimal (actr's template rule), e.g. "ws://10.0.0.1:8080/actor/{actor_id}".
  std::optional<std::string> url_template;
  WebSocketConfig ws;
  std::optional<std::string> credential;  ///< sent as X-Actr-Credential
  /// Which kinds to build (the route table prefers WebRTC and falls back to WebSocket).
  WireKindSet kinds = WireKindSet::all();
  /// WebRTC wires come from here (none without it).
  std::shared_ptr<WebRtcCoordinator> webrtc;
  /// Asked "where is actor X" when neither the address book nor the template knows; the answer
  /// is remembered in the address book.
  std::shared_ptr<SignalingClient> discovery;
};

/// Builds unconnected wires per actor destination (the pool connects them with retries): a
/// WebSocket wire when an address is known or discovered, a WebRTC wire when a coordinator is
/// configured and the role negotiation succeeds. Shell/Local and unknown actors yield nothing.
/// Thread-safe.
class DefaultWireBuilder : public WireBuilder {
 public:
  DefaultWireBuilder(boost::asio::any_io_executor ex, ActrId local_id, DefaultWireBuilderConfig cfg,
                     FrameHandler on_frame);

  boost::asio::awaitable<Result<std::vector<std::shared_ptr<WireHandle>>>> create_connections(
      Dest dest, WireKindSet kinds) override;

  /// Adds or replaces an address (e.g. from discovery).
  void set_address(const ActrId& id, std::string url);
  /// The URL a destination would be dialed at, if any.
  std::optional<std::string> resolve_url(const Dest& dest) const;

 private:
  boost::asio::any_io_executor ex_;
  const ActrId local_id_;
  const FrameHandler on_frame_;
  mutable std::mutex mu_;
  DefaultWireBuilderConfig cfg_;
};

}  // namespace actr
