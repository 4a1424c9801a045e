#pragma once
/// @file
/// `DefaultWireBuilder`: WebSocket wires from a static address book and/or a URL template.
/// Designed so discovery (signaling) can later fill the address book at run time.

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
};

/// Builds one unconnected WebSocket wire per actor destination that has an address (the pool
/// connects it with retries). Shell/Local and unknown actors yield nothing. Thread-safe.
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
