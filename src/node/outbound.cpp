#include "node/outbound.hpp"

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/wire_format_lite.h>

#include <array>
#include <cassert>

namespace actr::node {

namespace {
using google::protobuf::internal::WireFormatLite;
using google::protobuf::io::CodedInputStream;
using google::protobuf::io::CodedOutputStream;
}  // namespace

Bytes encode_envelope(const pb::RpcEnvelope& head, ConstBytes payload) {
  assert(!head.has_payload());
  Bytes fields(head.ByteSizeLong());
  head.SerializePartialToArray(fields.data(), static_cast<int>(fields.size()));
  // Protobuf writes fields in number order: route_key (1), when set, comes before payload (2)
  // and everything else after it. The payload goes in between, where protobuf would put it.
  std::size_t split = 0;
  CodedInputStream in(fields.data(), static_cast<int>(fields.size()));
  std::uint32_t length = 0;
  if (in.ReadTag() ==
          WireFormatLite::MakeTag(pb::RpcEnvelope::kRouteKeyFieldNumber, WireFormatLite::WIRETYPE_LENGTH_DELIMITED) &&
      in.ReadVarint32(&length))
    split = static_cast<std::size_t>(in.CurrentPosition()) + length;
  std::array<std::uint8_t, 16> key{};  // payload's tag and length: at most 1 + 10 bytes
  auto* end = CodedOutputStream::WriteTagToArray(
      WireFormatLite::MakeTag(pb::RpcEnvelope::kPayloadFieldNumber, WireFormatLite::WIRETYPE_LENGTH_DELIMITED),
      key.data());
  end = CodedOutputStream::WriteVarint64ToArray(payload.size(), end);
  const auto key_size = static_cast<std::size_t>(end - key.data());
  Bytes out;
  out.reserve(fields.size() + key_size + payload.size());
  out.insert(out.end(), fields.begin(), fields.begin() + static_cast<std::ptrdiff_t>(split));
  out.insert(out.end(), key.begin(), key.begin() + static_cast<std::ptrdiff_t>(key_size));
  out.insert(out.end(), payload.begin(), payload.end());
  out.insert(out.end(), fields.begin() + static_cast<std::ptrdiff_t>(split), fields.end());
  return out;
}

}  // namespace actr::node
