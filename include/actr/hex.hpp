#pragma once
/// @file
/// Hex text for binary header values (`X-Actr-Source-ID` carries an ActrId's protobuf bytes).

#include <actr/result.hpp>
#include <actr/types.hpp>

#include <string>
#include <string_view>

namespace actr {

/// Lowercase hex of `bytes` / its inverse, which accepts either case
/// (errors: `InvalidArgument` for an odd length or a non-hex digit).
std::string to_hex(ConstBytes bytes);
Result<Bytes> from_hex(std::string_view hex);

/// `digits` random lowercase hex digits (a per-thread generator seeded from std::random_device):
/// ids and tokens that must not repeat across processes, not secrets.
std::string random_hex(std::size_t digits);

}  // namespace actr
