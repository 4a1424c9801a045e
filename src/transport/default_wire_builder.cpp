#include <actr/default_wire_builder.hpp>
#include <actr/error.hpp>

#include "detail/asio.hpp"

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
  if (kinds.contains(WireKind::WebSocket)) {
    if (auto url = resolve_url(dest)) {
      WebSocketConfig ws;
      std::optional<std::string> credential;
      {
        std::lock_guard lk(mu_);
        ws = cfg_.ws;
        credential = cfg_.credential;
      }
      out.push_back(make_websocket_client(ex_, std::move(*url), local_id_, *dest.as_actor_id(), ws, on_frame_,
                                          std::move(credential)));
    }
  }
  co_return out;
}

}  // namespace actr
