// libFuzzer target: the node's receive path for RpcEnvelope / DataStream, i.e. the pure decode
// and classification `Node::Impl::on_frame` runs on every inbound frame (src/node/inbound.hpp).
// Input: [u8 payload type (mod 5)][payload bytes]. Invariants: the class matches the payload type
// and the decoded Direction; whatever decoded is complete and decodes to the same class again
// after re-encoding (what the node passes on, e.g. to the dedup cache, is well-formed); no
// message makes libprotobuf log a line.
#include "fuzz_check.hpp"

#include "node/inbound.hpp"

#include <cstdint>

namespace {

using actr::node::InboundKind;

actr::Bytes encode(const google::protobuf::MessageLite& m) {
  actr::Bytes b(m.ByteSizeLong());
  FUZZ_CHECK(m.SerializeToArray(b.data(), static_cast<int>(b.size())));
  return b;
}

void check_rpc(InboundKind k, const actr::pb::RpcEnvelope& env) {
  FUZZ_CHECK(k != InboundKind::Chunk && k != InboundKind::Unsupported);
  if (k == InboundKind::Malformed) return;
  FUZZ_CHECK(env.IsInitialized());
  const auto d = env.direction();
  FUZZ_CHECK((k == InboundKind::Response) == (d == actr::pb::DIRECTION_RESPONSE));
  FUZZ_CHECK((k == InboundKind::RequestOrTell) == (d == actr::pb::DIRECTION_REQUEST || d == actr::pb::DIRECTION_TELL));
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  actr::fuzz::forbid_protobuf_logs();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const auto pt = static_cast<actr::PayloadType>(data[0] % actr::kPayloadTypeCount);
  const actr::ConstBytes payload(data + 1, size - 1);
  actr::pb::RpcEnvelope env;
  actr::pb::DataStream chunk;
  const auto k = actr::node::decode_inbound(pt, payload, env, chunk);
  if (actr::is_rpc(pt)) {
    check_rpc(k, env);
    FUZZ_CHECK(chunk.ByteSizeLong() == 0);
    if (k == InboundKind::Malformed) return 0;
    actr::pb::RpcEnvelope env2;
    actr::pb::DataStream unused;
    const auto again = encode(env);
    FUZZ_CHECK(actr::node::decode_inbound(pt, again, env2, unused) == k);
    FUZZ_CHECK(encode(env2) == again);
    return 0;
  }
  FUZZ_CHECK(env.ByteSizeLong() == 0);
  if (!actr::is_stream(pt)) {
    FUZZ_CHECK(k == InboundKind::Unsupported);
    return 0;
  }
  FUZZ_CHECK(k == InboundKind::Chunk || k == InboundKind::Malformed);
  if (k == InboundKind::Malformed) return 0;
  FUZZ_CHECK(chunk.IsInitialized());
  actr::pb::RpcEnvelope unused;
  actr::pb::DataStream chunk2;
  const auto again = encode(chunk);
  FUZZ_CHECK(actr::node::decode_inbound(pt, again, unused, chunk2) == InboundKind::Chunk);
  FUZZ_CHECK(encode(chunk2) == again);
  return 0;
}
