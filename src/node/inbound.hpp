#pragma once
// Private: the pure first step of the node's receive path. The payload bytes of one inbound
// frame are decoded for their PayloadType and classified; `Node::Impl::receive_now` acts on the
// result (queues, correlation, counters). No executor and no state, so it can be fuzzed alone.

#include <actr/types.hpp>

#include "package.pb.h"

namespace actr::node {

enum class InboundKind {
  Malformed,      ///< the protobuf did not decode (or lacks a required field)
  Response,       ///< RPC class, Direction RESPONSE: `env` completes a pending call
  RequestOrTell,  ///< RPC class, Direction REQUEST or TELL: `env` is for a handler
  BadDirection,   ///< RPC class with any other Direction
  Chunk,          ///< stream class: `chunk` holds the DataStream
  Unsupported,    ///< MEDIA_RTP: no handler on this path
};

/// Decodes `payload` as `pt`'s message: into `env` for the RPC classes, into `chunk` for the
/// stream classes (the other one is left untouched). Never throws; any byte string is accepted
/// as input.
InboundKind decode_inbound(PayloadType pt, ConstBytes payload, pb::RpcEnvelope& env, pb::DataStream& chunk);

}  // namespace actr::node
