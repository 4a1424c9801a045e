#pragma once
// Private: the pure last step of the node's send path. An RPC envelope is serialised with its
// payload copied once, straight into the output: setting the payload on the message first and
// serialising it after copied every payload twice and zero-filled the output before that.

#include <actr/types.hpp>

#include "package.pb.h"

namespace actr::node {

/// The bytes `head.SerializeAsString()` would give if `head`'s payload were `payload`. `head`
/// must not have a payload of its own (it is the caller's bug: the result would carry two).
/// The payload is copied once; the output is not zero-filled first.
Bytes encode_envelope(const pb::RpcEnvelope& head, ConstBytes payload);

}  // namespace actr::node
