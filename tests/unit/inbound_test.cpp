// The node's inbound decode (src/node/inbound.hpp): each frame's payload classified by its
// PayloadType and Direction, and a bad message costing no libprotobuf log line.
#include "node/inbound.hpp"

#include <google/protobuf/stubs/logging.h>
#include <gtest/gtest.h>

namespace actr::node {
namespace {

Bytes encode_partial(const google::protobuf::MessageLite& m) {
  Bytes b(m.ByteSizeLong());
  EXPECT_TRUE(m.SerializePartialToArray(b.data(), static_cast<int>(b.size())));
  return b;
}

pb::RpcEnvelope envelope(pb::Direction d) {
  pb::RpcEnvelope env;
  env.set_route_key("echo");
  env.set_request_id("r1");
  env.set_timeout_ms(1000);
  env.set_direction(d);
  return env;
}

InboundKind decode(PayloadType pt, const Bytes& b) {
  pb::RpcEnvelope env;
  pb::DataStream chunk;
  return decode_inbound(pt, b, env, chunk);
}

TEST(InboundDecode, ClassifiesByPayloadTypeAndDirection) {
  EXPECT_EQ(decode(PayloadType::RpcReliable, encode_partial(envelope(pb::DIRECTION_REQUEST))), InboundKind::RequestOrTell);
  EXPECT_EQ(decode(PayloadType::RpcSignal, encode_partial(envelope(pb::DIRECTION_TELL))), InboundKind::RequestOrTell);
  EXPECT_EQ(decode(PayloadType::RpcReliable, encode_partial(envelope(pb::DIRECTION_RESPONSE))), InboundKind::Response);
  EXPECT_EQ(decode(PayloadType::RpcReliable, encode_partial(envelope(pb::DIRECTION_UNSPECIFIED))),
            InboundKind::BadDirection);
  pb::DataStream chunk;
  chunk.set_stream_id("s");
  chunk.set_sequence(1);
  chunk.set_payload("x");
  EXPECT_EQ(decode(PayloadType::StreamLatencyFirst, encode_partial(chunk)), InboundKind::Chunk);
  EXPECT_EQ(decode(PayloadType::StreamReliable, Bytes{0xff}), InboundKind::Malformed);
  EXPECT_EQ(decode(PayloadType::MediaRtp, Bytes{}), InboundKind::Unsupported);
}

int g_log_lines = 0;
void count_log_line(google::protobuf::LogLevel, const char*, int, const std::string&) { ++g_log_lines; }

// Found while fuzzing: ParseFromArray logged an ERROR line for every message missing a required
// field, so one peer could flood the log with malformed envelopes (the node's own warning is
// rate-limited). The decode must reject them silently.
TEST(InboundDecode, MissingRequiredFieldIsMalformedWithoutALogLine) {
  auto* previous = google::protobuf::SetLogHandler(&count_log_line);
  g_log_lines = 0;
  pb::RpcEnvelope env;
  env.set_route_key("echo");  // no request_id, no timeout_ms
  EXPECT_EQ(decode(PayloadType::RpcReliable, encode_partial(env)), InboundKind::Malformed);
  pb::DataStream chunk;
  chunk.set_stream_id("s");  // no sequence, no payload
  EXPECT_EQ(decode(PayloadType::StreamReliable, encode_partial(chunk)), InboundKind::Malformed);
  google::protobuf::SetLogHandler(previous);
  EXPECT_EQ(g_log_lines, 0);
}

}  // namespace
}  // namespace actr::node
