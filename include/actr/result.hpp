#pragma once
/// @file
/// `Result<T>`: the return type of every fallible operation in actr-transport.

#include <boost/system/error_code.hpp>
#include <boost/system/result.hpp>

namespace actr {

/// The error half of every `Result`: a `NetworkError` (see error.hpp) or an Asio/system code.
using Error = boost::system::error_code;

/// A value or an `Error`. `[[nodiscard]]` because `boost::system::result` in Boost 1.81 is not, and a
/// silently dropped failure is the bug class this project exists to avoid.
///
/// Construct from a `T` (success) or from an `Error` / `NetworkError` (failure). Test with `if (r)`,
/// read with `*r` / `r.value()` (throws `boost::system::system_error` on failure) and `r.error()`.
template <class T = void>
class [[nodiscard]] Result : public boost::system::result<T, Error> {
 public:
  using boost::system::result<T, Error>::result;
  Result(const boost::system::result<T, Error>& r) : boost::system::result<T, Error>(r) {}  // NOLINT
  Result(boost::system::result<T, Error>&& r)                                            // NOLINT
      : boost::system::result<T, Error>(std::move(r)) {}
};

/// Success value for `Result<void>`.
inline Result<void> ok() { return {}; }

}  // namespace actr
