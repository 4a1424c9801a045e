// actr HEAD's RPC error codes (10001–10011) both ways.
#include <actr/error.hpp>
#include <actr/rpc_error_code.hpp>

#include <boost/asio/error.hpp>
#include <gtest/gtest.h>

#include <set>

namespace {

using actr::NetworkError;
using actr::RpcErrorCode;
using E = NetworkError;

TEST(RpcErrorCode, HeadTableBothWays) {
  // The table of core/hyper/src/lifecycle/node.rs: each code reads as one NetworkError, which
  // is written back as the same code.
  const std::pair<std::uint32_t, E> table[] = {
      {10001, E::Unavailable},        {10002, E::TimeoutError},       {10003, E::NotFound},
      {10004, E::PermissionError},    {10005, E::InvalidArgument},    {10006, E::UnknownRoute},
      {10007, E::DependencyNotFound}, {10008, E::DeserializationError}, {10009, E::NotImplemented},
      {10010, E::Internal},           {10011, E::ConnectionNotReady},
  };
  for (const auto& [code, err] : table) {
    EXPECT_EQ(actr::from_rpc_error_code(code), err) << code;
    EXPECT_EQ(static_cast<std::uint32_t>(actr::to_rpc_error_code(err)), code) << actr::to_string(err);
  }
}

TEST(RpcErrorCode, UnknownCodesAreUnavailable) {
  for (std::uint32_t code : {0u, 1u, 7u, 39u, 403u, 10000u, 10012u, 0xffffffffu})
    EXPECT_EQ(actr::from_rpc_error_code(code), E::Unavailable) << code;
}

TEST(RpcErrorCode, EveryNetworkErrorHasACodeInTheTable) {
  std::set<std::uint32_t> seen;
  for (int i = 1; i <= static_cast<int>(actr::kLastNetworkError); ++i) {
    const auto code = static_cast<std::uint32_t>(actr::to_rpc_error_code(static_cast<E>(i)));
    EXPECT_GE(code, 10001u);
    EXPECT_LE(code, 10011u);
    seen.insert(code);
  }
  EXPECT_EQ(seen.size(), 11u);  // every code is reachable
  EXPECT_EQ(actr::to_rpc_error_code(E::CredentialExpired), RpcErrorCode::PermissionDenied);
  EXPECT_EQ(actr::to_rpc_error_code(E::IdentityMismatch), RpcErrorCode::PermissionDenied);
  EXPECT_EQ(actr::to_rpc_error_code(E::ConnectionClosed), RpcErrorCode::Unavailable);
  EXPECT_EQ(actr::to_rpc_error_code(E::MalformedFrame), RpcErrorCode::DecodeFailure);
  EXPECT_EQ(actr::to_rpc_error_code(E::ProtocolError), RpcErrorCode::Internal);
}

TEST(RpcErrorCode, ForeignErrors) {
  EXPECT_EQ(actr::to_rpc_error_code(actr::Error(boost::asio::error::operation_aborted)), RpcErrorCode::Unavailable);
  EXPECT_EQ(actr::to_rpc_error_code(actr::Error(boost::asio::error::connection_reset)), RpcErrorCode::Unavailable);
  EXPECT_EQ(actr::to_rpc_error_code(actr::Error(boost::asio::error::host_not_found)), RpcErrorCode::Internal);
  EXPECT_EQ(actr::to_rpc_error_code(make_error_code(E::NotFound)), RpcErrorCode::NotFound);
}

}  // namespace
