// `actr credential issue` and `actr credential inspect`: credentials offline, with the signing
// keys of an `actr signal --key-dir` (the same directory: what one issues, the other accepts).
#include "commands.hpp"
#include "identity_options.hpp"

#include <actr/error.hpp>
#include <actr/identity.hpp>

#include <nlohmann/json.hpp>

#include <cstdio>
#include <iostream>
#include <iterator>

namespace actr::cli {

namespace {

// The trust anchor of `inspect`, as the options name it; null ring: the file's own key.
std::shared_ptr<KeyRing> trust_of(const CredentialArgs& a, const AisIdentity& id, std::string& source, std::string& why) {
  auto ring = std::make_shared<KeyRing>();
  if (!a.key_dir.empty()) {
    auto dir = KeyDirectory::open(a.key_dir);
    if (!dir) {
      why = "--key-dir " + a.key_dir + ": " + dir.error().message();
      return nullptr;
    }
    for (const auto& k : dir->keys()) ring->add(k.verifying_key());
    source = "key-dir";
  } else if (!a.public_key.empty()) {
    auto raw = base64_decode(a.public_key);
    auto key = raw ? VerifyingKey::from_raw(id.credential.key_id, *raw) : Result<VerifyingKey>(raw.error());
    if (!key) {
      why = "--public-key: not base64 of a 32-byte Ed25519 key";
      return nullptr;
    }
    ring->add(*key);
    source = "public-key";
  } else {
    // Only shows the file is consistent: whoever wrote it chose that key too.
    ring->add(id.signing_key);
    source = "file (its own signing_pubkey: trust it only as far as you trust the file)";
  }
  return ring;
}

int issue(const CredentialArgs& a) {
  auto id = ActrId::parse(a.id);
  if (!id) {
    std::cerr << "actr credential issue: --id '" << a.id << "' is not an ActrId\n";
    return 2;
  }
  if (a.ttl_s <= 0) {
    std::cerr << "actr credential issue: --ttl-s must be positive\n";
    return 2;
  }
  auto dir = KeyDirectory::open(a.key_dir);
  auto issuer = dir ? dir->issuer(std::chrono::seconds(a.ttl_s)) : Result<std::shared_ptr<CredentialIssuer>>(dir.error());
  if (!issuer) {
    std::cerr << "actr credential issue: --key-dir " << a.key_dir << ": " << issuer.error().message() << "\n";
    return 2;
  }
  const Credential cred = (*issuer)->issue(*id);
  // The renewal token `actr signal --key-dir` takes back at POST /ais/renew for this id.
  const Credential token = (*issuer)->issue_subject(id->realm.realm_id, "renew:" + id->to_string());
  const auto claims = cred.unverified_claims();
  AisIdentity out{*id, cred, (*issuer)->current_key(), token.to_protobuf(), claims ? claims->expires_at : 0, 0};
  if (a.out.empty()) {
    std::cout << identity_json(out) << "\n";
    return 0;
  }
  std::string why;
  if (!write_identity_file(a.out, out, why)) {
    std::cerr << "actr credential issue: --out: " << why << "\n";
    return 1;
  }
  return 0;
}

int inspect(const CredentialArgs& a) {
  std::string text, why;
  if (a.file == "-") {
    text.assign(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
  } else if (auto parsed = read_identity_file(a.file, why); !parsed) {
    std::cerr << "actr credential inspect: " << a.file << ": " << why << "\n";
    return 2;
  } else {
    text = identity_json(*parsed);
  }
  auto id = parse_identity_json(text, why);
  if (!id) {
    std::cerr << "actr credential inspect: " << a.file << ": " << why << "\n";
    return 2;
  }
  std::string source;
  auto ring = trust_of(a, *id, source, why);
  if (!ring) {
    std::cerr << "actr credential inspect: " << why << "\n";
    return 2;
  }
  const auto claims = id->credential.unverified_claims();
  const auto now = unix_now();
  auto verified = ring->verify(id->credential, id->id, now);
  const bool expired = claims && claims->expires_at <= now;
  const std::string status = verified ? "valid" : expired ? "expired" : "invalid";
  nlohmann::json j;
  j["actr_id"] = id->id.to_string();
  j["key_id"] = id->credential.key_id;
  j["realm_id"] = claims ? claims->realm_id : 0;
  j["claims_actor_id"] = claims ? claims->actor_id : "";
  j["expires_at"] = claims ? claims->expires_at : 0;
  j["expires_in_s"] = claims ? static_cast<std::int64_t>(claims->expires_at) - static_cast<std::int64_t>(now) : 0;
  j["verified_with"] = source;
  j["status"] = status;
  if (!verified) j["error"] = error_name(verified.error());
  if (a.json) {
    std::cout << j.dump() << "\n";
  } else {
    std::printf("actor     %s\nclaims    realm %u, actor_id %s\nkey id    %u\nexpires   %llu (%lld s from now)\n",
                id->id.to_string().c_str(), claims ? claims->realm_id : 0, claims ? claims->actor_id.c_str() : "?",
                id->credential.key_id, static_cast<unsigned long long>(claims ? claims->expires_at : 0),
                static_cast<long long>(j["expires_in_s"].get<std::int64_t>()));
    std::printf("checked   against %s\nstatus    %s%s\n", source.c_str(), status.c_str(),
                verified ? "" : (" (" + error_name(verified.error()) + ")").c_str());
  }
  return verified ? 0 : 1;
}

}  // namespace

int run_credential(const CredentialArgs& a) { return a.inspect ? inspect(a) : issue(a); }

}  // namespace actr::cli
