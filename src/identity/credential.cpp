// IdentityClaims and AIdCredential to and from protobuf and the header form.
#include <actr/error.hpp>
#include <actr/identity.hpp>

#include "actr.pb.h"

#include <climits>
#include <ctime>

namespace actr {
namespace {

Error invalid() { return make_error_code(NetworkError::CredentialInvalid); }

Bytes encode(const google::protobuf::MessageLite& m) {
  Bytes out(m.ByteSizeLong());
  // Cannot fail: every required field is set and the buffer has exactly the computed size.
  m.SerializeToArray(out.data(), static_cast<int>(out.size()));
  return out;
}

// The partial parse plus IsInitialized rejects what ParseFromArray rejects, without libprotobuf
// logging an ERROR line for every peer that sends garbage.
bool decode(google::protobuf::MessageLite& m, ConstBytes bytes) {
  return bytes.size() <= static_cast<std::size_t>(INT_MAX) &&
         m.ParsePartialFromArray(bytes.data(), static_cast<int>(bytes.size())) && m.IsInitialized();
}

}  // namespace

std::uint64_t unix_now() {
  const auto now = std::chrono::system_clock::now().time_since_epoch();
  const auto s = std::chrono::duration_cast<std::chrono::seconds>(now).count();
  return s > 0 ? static_cast<std::uint64_t>(s) : 0;
}

Bytes IdentityClaims::to_protobuf() const {
  pb::IdentityClaims m;
  m.set_realm_id(realm_id);
  m.set_actor_id(actor_id);
  m.set_expires_at(expires_at);
  return encode(m);
}

Result<IdentityClaims> IdentityClaims::from_protobuf(ConstBytes bytes) {
  pb::IdentityClaims m;
  if (!decode(m, bytes)) return invalid();
  return IdentityClaims{m.realm_id(), m.actor_id(), m.expires_at()};
}

Bytes Credential::to_protobuf() const {
  pb::AIdCredential m;
  m.set_key_id(key_id);
  m.set_claims(claims.data(), claims.size());
  m.set_signature(signature.data(), signature.size());
  return encode(m);
}

Result<Credential> Credential::from_protobuf(ConstBytes bytes) {
  pb::AIdCredential m;
  if (!decode(m, bytes)) return invalid();
  return Credential{m.key_id(), Bytes(m.claims().begin(), m.claims().end()),
                    Bytes(m.signature().begin(), m.signature().end())};
}

std::string Credential::to_base64() const { return base64_encode(to_protobuf()); }

Result<Credential> Credential::from_base64(std::string_view text) {
  auto raw = base64_decode(text);
  if (!raw) return invalid();
  return from_protobuf(*raw);
}

Result<IdentityClaims> Credential::unverified_claims() const { return IdentityClaims::from_protobuf(claims); }

}  // namespace actr
