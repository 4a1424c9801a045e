#include <actr/default_wire_builder.hpp>
#include <actr/error.hpp>

#include "detail/asio.hpp"

#include <spdlog/spdlog.h>

namespace actr {

DefaultWireBuilder::DefaultWireBuilder(boost::asio::any_io_executor ex, ActrId local_id, DefaultWireBuilderConfig cfg,
                                       FrameHandler on_frame)
    : ex_(std::move(ex)), local_id_(std::move(local_id)), on_frame_(std::move(on_frame)), cfg_(std::move(cfg)) {}

void DefaultWireBuilder::set_address(const ActrId& id, std::string url) {
  std::lock_guard lk(mu_);
  cfg_.address_book[id] = std::move(url);
}

std::optional<std::string> DefaultWireBuilder::resolve_url(const Dest& dest) const {
  const ActrId* id = dest.as_actor_id();
  if (id == nullptr) return std::nullopt;
  std::lock_guard lk(mu_);
  if (auto it = cfg_.address_book.find(*id); it != cfg_.address_book.end()) return it->second;
  if (!cfg_.url_template) return std::nullopt;
  std::string url = *cfg_.url_template;
  const std::string key = "{actor_id}";
  const std::string serial = std::to_string(id->serial_number);
  for (auto pos = url.find(key); pos != std::string::npos; pos = url.find(key, pos + serial.size()))
    url.replace(pos, key.size(), serial);
  return url;
}

boost::asio::awaitable<Result<std::vector<std::shared_ptr<WireHandle>>>> DefaultWireBuilder::create_connections(
    Dest dest, WireKindSet kinds) {
  auto cs = co_await boost::asio::this_coro::cancellation_state;
  if (cs.cancelled() != boost::asio::cancellation_type::none) co_return make_error_code(NetworkError::Cancelled);
  std::vector<std::shared_ptr<WireHandle>> out;
  const ActrId* peer = dest.as_actor_id();
  if (peer == nullptr) co_return out;
  WireKindSet wanted;
  std::shared_ptr<WebRtcCoordinator> webrtc;
  std::shared_ptr<SignalingClient> discovery;
  WebSocketConfig ws;
  std::optional<std::string> credential;
  {
    std::lock_guard lk(mu_);
    wanted = cfg_.kinds;
    webrtc = cfg_.webrtc;
    discovery = cfg_.discovery;
    ws = cfg_.ws;
    credential = cfg_.credential;
  }
  if (kinds.contains(WireKind::WebSocket) && wanted.contains(WireKind::WebSocket)) {
    auto url = resolve_url(dest);
    if (!url && discovery) {
      auto where = co_await discovery->discover(*peer);
      if (where && where->ws_address) {
        set_address(*peer, *where->ws_address);
        url = where->ws_address;
      } else if (!where) {
        spdlog::debug("actr: discovery of {} failed: {}", peer->to_string(), where.error().message());
      }
    }
    if (url) out.push_back(make_websocket_client(ex_, std::move(*url), local_id_, *peer, ws, on_frame_, std::move(credential)));
  }
  if (kinds.contains(WireKind::WebRtc) && wanted.contains(WireKind::WebRtc) && webrtc) {
    auto w = co_await webrtc->create_wire(*peer);
    if (w)
      out.push_back(std::move(*w));
    else
      spdlog::info("actr: no WebRTC wire to {}: {}", peer->to_string(), w.error().message());
  }
  co_return out;
}

}  // namespace actr
