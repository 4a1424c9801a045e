#pragma once
// Private: the identity service (actr's AIS) as `actr signal` serves it next to signaling —
// `POST /ais/register` (a new ActrId with a server-chosen serial, its credential, the key that
// verifies it, a renewal token) and `POST /ais/renew` (a fresh credential for the same id, in
// exchange for a valid renewal token). Protobuf bodies with actr HEAD's field numbers
// (proto/ais.proto); docs/signaling.md, "AIS", names where we differ from HEAD.

#include <actr/identity.hpp>
#include <actr/signaling.hpp>

#include "wire/websocket/ws_conn.hpp"

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

namespace actr::ais {
class RegisterResponse_RegisterOk;  // ais.pb.h
}

namespace actr::sig {

/// Serves the AIS routes; any other plain request gets the listener's usual "WebSocket upgrade
/// required" (400). Every refusal is an HTTP error status with a protobuf body of the route's
/// response type carrying `ErrorResponse{code = status, message}`: 400 malformed, 401 renewal
/// token invalid/expired/forged/not this id's, 403 registration not allowed by the policy, 404
/// unknown AIS route, 405 not a POST, 413 body over the limit. Thread-safe (stateless but for
/// counters); never blocks.
class AisHandler {
 public:
  /// `on_address`: told the `ws_address` of every identity issued with one (HEAD's pending
  /// registration: the signaling server hands it out once that actor connects). May be empty.
  using AddressSink = std::function<void(const ActrId&, const std::string&)>;
  AisHandler(AisPolicy policy, std::shared_ptr<CredentialIssuer> issuer, std::chrono::milliseconds heartbeat,
             AddressSink on_address = {});

  ws::PlainResponse serve(const ws::PlainRequest& req);

  /// The `claims.actor_id` of the renewal token of `id` ("renew:" + `id.to_string()`).
  static std::string renewal_subject(const ActrId& id);

  std::uint64_t issued() const noexcept { return issued_.load(); }
  std::uint64_t refused() const noexcept { return refused_.load(); }

 private:
  ws::PlainResponse do_register(const ws::PlainRequest& req);
  ws::PlainResponse do_renew(const ws::PlainRequest& req);
  /// Whether the policy admits `type` (and, for a registration, the request's realm secret).
  bool type_allowed(const ActrType& type) const;
  bool secret_ok(const ws::PlainRequest& req) const;
  /// A fresh credential and renewal token for `id`. False if the signing key is gone (rotated
  /// away between signing and lookup), which cannot happen with one issuer per server.
  bool fill_ok(const ActrId& id, ais::RegisterResponse_RegisterOk* ok) const;

  const AisPolicy policy_;
  const std::shared_ptr<CredentialIssuer> issuer_;
  const std::uint32_t heartbeat_secs_;
  const AddressSink on_address_;
  std::atomic<std::uint64_t> issued_{0}, refused_{0};
};

}  // namespace actr::sig
