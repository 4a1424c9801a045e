#include "node/inbound.hpp"

#include <climits>

namespace actr::node {

InboundKind decode_inbound(PayloadType pt, ConstBytes payload, pb::RpcEnvelope& env, pb::DataStream& chunk) {
  // libprotobuf takes an int size; a larger payload cannot be a message we sent.
  if (payload.size() > static_cast<std::size_t>(INT_MAX)) return InboundKind::Malformed;
  const int size = static_cast<int>(payload.size());
  // Partial parse + IsInitialized: what ParseFromArray accepts, without the ERROR line libprotobuf
  // logs for each message missing a required field (one per bad message: a peer could flood the log).
  auto parse = [&](google::protobuf::MessageLite& m) {
    return m.ParsePartialFromArray(payload.data(), size) && m.IsInitialized();
  };
  if (is_rpc(pt)) {
    if (!parse(env)) return InboundKind::Malformed;
    switch (env.direction()) {
      case pb::DIRECTION_RESPONSE: return InboundKind::Response;
      case pb::DIRECTION_REQUEST:
      case pb::DIRECTION_TELL: return InboundKind::RequestOrTell;
      default: return InboundKind::BadDirection;
    }
  }
  if (is_stream(pt)) {
    if (!parse(chunk)) return InboundKind::Malformed;
    return InboundKind::Chunk;
  }
  return InboundKind::Unsupported;
}

}  // namespace actr::node
