// The identity service next to signaling. Stateless by design: the serial is random, the
// credential and the renewal token are both signed by the server's CredentialIssuer, so a renewal
// needs no table of issued tokens and survives a restart whenever the key does (--key-dir).
#include "signaling/ais_handler.hpp"

#include <actr/detail/log_limit.hpp>
#include <actr/error.hpp>

#include "ais.pb.h"
#include "signaling/envelope.hpp"

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include <spdlog/spdlog.h>

#include <algorithm>

namespace actr::sig {

namespace {

constexpr std::string_view kContentType = "application/x-protobuf";
// actrix's header for the realm secret (platform/src/realm/secret.rs), so an actr HEAD client
// configured with a realm secret sends what we check.
constexpr std::string_view kRealmSecretHeader = "x-actrix-realm-secret";
// actrix's serials are 54-bit (Snowflake layout); ours are random in the same range, so a value
// from either server fits wherever the other's does (and stays exact in a JavaScript number up to
// 2^53 most of the time; protobufjs reads it as a Long anyway).
constexpr std::uint64_t kSerialBits = 54;

Bytes serialize(const google::protobuf::MessageLite& m) {
  Bytes b(m.ByteSizeLong());
  m.SerializeToArray(b.data(), static_cast<int>(b.size()));
  return b;
}

// An error status with the route's response message carrying `ErrorResponse{code = status}`: an
// actr client that reads the body (as HEAD's renew client does) and one that only reads the
// status (as HEAD's register client does) both see the same code.
template <class Response>
ws::PlainResponse refusal(unsigned status, std::string message) {
  Response r;
  r.mutable_error()->set_code(status);
  r.mutable_error()->set_message(std::move(message));
  return {status, std::string(kContentType), serialize(r)};
}

template <class Response>
ws::PlainResponse success(Response r) {
  return {200, std::string(kContentType), serialize(r)};
}

// A random serial in [1, 2^54). Random rather than counted: a serial names an actor to anyone
// who can register on the signaling socket, so the next one must not be guessable.
std::optional<std::uint64_t> random_serial() {
  for (int attempt = 0; attempt < 4; ++attempt) {
    std::uint64_t v = 0;
    if (RAND_bytes(reinterpret_cast<unsigned char*>(&v), sizeof v) != 1) return std::nullopt;
    v &= (std::uint64_t{1} << kSerialBits) - 1;
    if (v != 0) return v;
  }
  return std::nullopt;
}

// The type as ActrType::parse accepts it: names a header, URL or `ActrId::to_string()` carries
// unambiguously (no ':' '@' '/' inside a part), at most 32 bytes each.
bool valid_type(const pb::ActrType& t) { return ActrType{t.manufacturer(), t.name(), t.version()}.valid(); }

void set_time(google::protobuf::Timestamp* ts, std::uint64_t unix_s) {
  ts->set_seconds(static_cast<std::int64_t>(unix_s));
  ts->set_nanos(0);
}

// Strict (every required field present), without libprotobuf's log line per bad message: the
// sender decides how many of those we would write.
bool parse(google::protobuf::MessageLite& m, ConstBytes body) {
  return m.ParsePartialFromArray(body.data(), static_cast<int>(body.size())) && m.IsInitialized();
}

std::string_view path_of(std::string_view target) { return target.substr(0, target.find('?')); }

}  // namespace

AisHandler::AisHandler(AisPolicy policy, std::shared_ptr<CredentialIssuer> issuer, std::chrono::milliseconds heartbeat,
                       AddressSink on_address)
    : policy_(std::move(policy)), issuer_(std::move(issuer)),
      heartbeat_secs_(static_cast<std::uint32_t>(
          std::max<std::int64_t>(1, std::chrono::ceil<std::chrono::seconds>(heartbeat).count()))),
      on_address_(std::move(on_address)) {}

std::string AisHandler::renewal_subject(const ActrId& id) { return "renew:" + id.to_string(); }

ws::PlainResponse AisHandler::serve(const ws::PlainRequest& req) {
  const auto path = path_of(req.target);
  const bool reg = path == "/ais/register", renew = path == "/ais/renew";
  if (path.rfind("/ais/", 0) != 0) {
    // Not the AIS: what this listener always answered a request that is not an upgrade.
    const std::string_view text = "WebSocket upgrade required\n";
    return {400, "text/plain", Bytes(text.begin(), text.end())};
  }
  ws::PlainResponse out;
  if (!reg && !renew) {
    out = refusal<ais::RegisterResponse>(404, "no such AIS route (POST /ais/register, POST /ais/renew)");
  } else if (req.method != "POST") {
    out = refusal<ais::RegisterResponse>(405, "use POST");
  } else if (req.body_too_large) {
    out = reg ? refusal<ais::RegisterResponse>(413, "request body too large")
              : refusal<ais::RenewCredentialResponse>(413, "request body too large");
  } else {
    out = reg ? do_register(req) : do_renew(req);
  }
  if (out.status == 200) {
    issued_.fetch_add(1);
  } else {
    refused_.fetch_add(1);
  }
  return out;
}

bool AisHandler::type_allowed(const ActrType& type) const {
  if (policy_.allowed_types.empty()) return true;
  return std::any_of(policy_.allowed_types.begin(), policy_.allowed_types.end(), [&](const ActrType& a) {
    return a.manufacturer == type.manufacturer && a.name == type.name && (a.version.empty() || a.version == type.version);
  });
}

bool AisHandler::secret_ok(const ws::PlainRequest& req) const {
  if (!policy_.realm_secret) return true;
  const auto given = req.header(kRealmSecretHeader);
  const auto& want = *policy_.realm_secret;
  // Constant time in the secret's content (its length is no secret worth keeping). An empty
  // secret admits nobody: any client can send an empty header.
  return !want.empty() && given && given->size() == want.size() &&
         CRYPTO_memcmp(given->data(), want.data(), want.size()) == 0;
}

ws::PlainResponse AisHandler::do_register(const ws::PlainRequest& req) {
  using Response = ais::RegisterResponse;
  ais::RegisterRequest rr;
  if (!parse(rr, req.body))
    return refusal<Response>(400, "not a RegisterRequest (undecodable or a required field missing)");
  if (!valid_type(rr.actr_type()))
    return refusal<Response>(400, "actr_type: manufacturer and name must be names, version non-empty");
  if (rr.has_ws_address() && !plausible_ws_address(rr.ws_address()))
    return refusal<Response>(400, "ws_address must be a ws:// or wss:// URL of at most 1024 bytes");
  const bool closed = !policy_.open && !policy_.realm_secret && policy_.allowed_types.empty();
  if (closed) return refusal<Response>(403, "registration is closed on this server");
  ActrId id{Realm{rr.realm().realm_id()}, 0,
            ActrType{rr.actr_type().manufacturer(), rr.actr_type().name(), rr.actr_type().version()}};
  if (!policy_.open) {
    static detail::LogLimiter denied;  // a client may try again and again
    if (!secret_ok(req)) {
      if (const auto nth = denied.tick())
        spdlog::info("actr signal: AIS refused {} (realm secret missing or wrong; {} so far)", id.type.to_string(), nth);
      return refusal<Response>(403, "realm secret missing or invalid");
    }
    if (!type_allowed(id.type)) {
      if (const auto nth = denied.tick())
        spdlog::info("actr signal: AIS refused {} (type not allowed; {} so far)", id.type.to_string(), nth);
      return refusal<Response>(403, "actor type " + id.type.to_string() + " may not register here");
    }
  }
  const auto serial = random_serial();
  if (!serial) return refusal<Response>(500, "no random serial available");
  id.serial_number = *serial;
  Response r;
  if (!fill_ok(id, r.mutable_success())) return refusal<Response>(500, "signing key unavailable");
  spdlog::info("actr signal: AIS issued {}", id.to_string());
  if (rr.has_ws_address() && on_address_) on_address_(id, rr.ws_address());
  return success(std::move(r));
}

ws::PlainResponse AisHandler::do_renew(const ws::PlainRequest& req) {
  using Response = ais::RenewCredentialResponse;
  ais::RenewCredentialRequest rr;
  if (!parse(rr, req.body))
    return refusal<Response>(400, "not a RenewCredentialRequest (undecodable or a required field missing)");
  const ActrId id = from_pb(rr.actr_id());
  if (!id.type.valid()) return refusal<Response>(400, "actr_id.type: manufacturer and name must be names, version non-empty");
  const auto& raw = rr.renewal_token();
  auto token = Credential::from_protobuf(ConstBytes(reinterpret_cast<const std::uint8_t*>(raw.data()), raw.size()));
  if (!token) return refusal<Response>(401, "renewal token invalid");
  // Signature, key (current or retired but still vouching) and expiry, as for any credential;
  // then the subject: a renewal token of this id, never an actor's credential (which peers see).
  auto claims = issuer_->key_ring()->verify_any(*token, issuer_->now());
  if (!claims) return refusal<Response>(401, "renewal token rejected: " + claims.error().message());
  if (claims->actor_id != renewal_subject(id) || claims->realm_id != id.realm.realm_id)
    return refusal<Response>(401, "renewal token is not " + id.to_string() + "'s");
  if (!type_allowed(id.type)) return refusal<Response>(403, "actor type " + id.type.to_string() + " may not register here");
  Response r;
  if (!fill_ok(id, r.mutable_success())) return refusal<Response>(500, "signing key unavailable");
  spdlog::info("actr signal: AIS renewed {}", id.to_string());
  return success(std::move(r));
}

bool AisHandler::fill_ok(const ActrId& id, ais::RegisterResponse::RegisterOk* ok) const {
  const Credential cred = issuer_->issue(id);
  const Credential renewal = issuer_->issue_subject(id.realm.realm_id, renewal_subject(id));
  const auto key = issuer_->key_ring()->find(cred.key_id);
  const auto claims = cred.unverified_claims();
  const auto renewal_claims = renewal.unverified_claims();
  if (!key || !claims || !renewal_claims) return false;
  to_pb(id, ok->mutable_actr_id());
  to_pb(cred, ok->mutable_credential());
  auto* turn = ok->mutable_turn_credential();
  turn->set_username(std::to_string(claims->expires_at) + ":" + claims->actor_id);
  turn->set_password("");
  turn->set_expires_at(claims->expires_at);
  set_time(ok->mutable_credential_expires_at(), claims->expires_at);
  ok->set_signaling_heartbeat_interval_secs(heartbeat_secs_);
  ok->set_signing_pubkey(key->raw().data(), key->raw().size());
  ok->set_signing_key_id(key->key_id());
  const Bytes token = renewal.to_protobuf();
  ok->set_renewal_token(token.data(), token.size());
  set_time(ok->mutable_renewal_token_expires_at(), renewal_claims->expires_at);
  return true;
}

}  // namespace actr::sig
