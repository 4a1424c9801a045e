// The trust side (KeyRing: which keys, until when) and the issuing side (CredentialIssuer).
#include <actr/error.hpp>
#include <actr/identity.hpp>

namespace actr {

KeyRing::KeyRing(UnixClock clock) : clock_(clock ? std::move(clock) : UnixClock(unix_now)) {}

void KeyRing::add(const VerifyingKey& key, std::optional<std::uint64_t> accept_until) {
  std::lock_guard lk(mu_);
  keys_.insert_or_assign(key.key_id(), Entry{key, accept_until});
}

void KeyRing::retire(std::uint32_t key_id, std::uint64_t accept_until) {
  std::lock_guard lk(mu_);
  if (auto it = keys_.find(key_id); it != keys_.end()) it->second.accept_until = accept_until;
}

std::optional<VerifyingKey> KeyRing::find(std::uint32_t key_id) const {
  const auto now = clock_();
  std::lock_guard lk(mu_);
  auto it = keys_.find(key_id);
  if (it == keys_.end() || (it->second.accept_until && now >= *it->second.accept_until)) return std::nullopt;
  return it->second.key;
}

std::size_t KeyRing::size() const {
  std::lock_guard lk(mu_);
  return keys_.size();
}

Result<IdentityClaims> KeyRing::verify(const Credential& credential, const ActrId& expected) const {
  return verify(credential, expected, clock_());
}

Result<IdentityClaims> KeyRing::verify(const Credential& credential, const ActrId& expected, std::uint64_t now) const {
  auto claims = verify_any(credential, now);
  if (!claims) return claims;
  // The string form is the contract (actr compares `claims.actor_id` with the repr of the id it
  // was shown); the realm is checked too so a claims/realm disagreement cannot pass.
  if (claims->actor_id != expected.to_string() || claims->realm_id != expected.realm.realm_id)
    return make_error_code(NetworkError::IdentityMismatch);
  return claims;
}

Result<IdentityClaims> KeyRing::verify_any(const Credential& credential, std::uint64_t now) const {
  std::optional<Entry> entry;
  {
    std::lock_guard lk(mu_);
    auto it = keys_.find(credential.key_id);
    if (it != keys_.end()) entry = it->second;
    // A retired key past its last credential's expiry is forgotten: nothing it signed is valid.
    if (entry && entry->accept_until && now >= *entry->accept_until) {
      keys_.erase(it);
      entry.reset();
    }
  }
  if (!entry) return make_error_code(NetworkError::UnknownSigningKey);
  // Signature first: nothing in unsigned claims is worth reading.
  if (!entry->key.verify(credential.claims, credential.signature)) return make_error_code(NetworkError::CredentialInvalid);
  auto claims = IdentityClaims::from_protobuf(credential.claims);
  if (!claims) return claims;
  // A retired key signed nothing after its retirement, so nothing that outlives accept_until:
  // such claims mean the old private key is in someone else's hands.
  if (entry->accept_until && claims->expires_at > *entry->accept_until)
    return make_error_code(NetworkError::CredentialInvalid);
  if (claims->expires_at <= now) return make_error_code(NetworkError::CredentialExpired);
  return claims;
}

// ---- issuing ------------------------------------------------------------------------------------

CredentialIssuer::CredentialIssuer(SigningKey key, std::chrono::seconds lifetime, UnixClock clock)
    : lifetime_(lifetime), clock_(clock ? std::move(clock) : UnixClock(unix_now)),
      ring_(std::make_shared<KeyRing>(clock_)), current_(std::move(key)) {
  ring_->add(current_.verifying_key());
}

Result<std::shared_ptr<CredentialIssuer>> CredentialIssuer::create(SigningKey key, std::chrono::seconds lifetime,
                                                                   UnixClock clock) {
  if (lifetime.count() <= 0) return make_error_code(NetworkError::InvalidArgument);
  return std::shared_ptr<CredentialIssuer>(new CredentialIssuer(std::move(key), lifetime, std::move(clock)));
}

Result<std::shared_ptr<CredentialIssuer>> CredentialIssuer::ephemeral(std::chrono::seconds lifetime,
                                                                      std::uint32_t key_id, UnixClock clock) {
  auto key = SigningKey::generate(key_id);
  if (!key) return key.error();
  return create(std::move(*key), lifetime, std::move(clock));
}

Credential CredentialIssuer::issue(const ActrId& id) const { return issue_subject(id.realm.realm_id, id.to_string()); }

Credential CredentialIssuer::issue_subject(std::uint32_t realm_id, std::string subject) const {
  IdentityClaims claims{realm_id, std::move(subject), clock_() + static_cast<std::uint64_t>(lifetime_.count())};
  Credential c;
  c.claims = claims.to_protobuf();
  std::lock_guard lk(mu_);
  c.key_id = current_.key_id();
  c.signature = current_.sign(c.claims);
  return c;
}

Result<void> CredentialIssuer::rotate(SigningKey next) {
  // Never both locks at once (docs/concurrency.md). The ring learns the new key before anything
  // is signed with it, and bounds the old one only after the last signature with it.
  if (ring_->find(next.key_id())) return make_error_code(NetworkError::InvalidArgument);
  ring_->add(next.verifying_key());
  std::uint32_t old_id = 0;
  {
    std::lock_guard lk(mu_);
    old_id = current_.key_id();
    current_ = std::move(next);
  }
  // The old key signed its last credential now: those live until now + lifetime, no longer.
  ring_->retire(old_id, clock_() + static_cast<std::uint64_t>(lifetime_.count()));
  return ok();
}

void CredentialIssuer::trust_previous(const VerifyingKey& key) {
  ring_->add(key, clock_() + static_cast<std::uint64_t>(lifetime_.count()));
}

VerifyingKey CredentialIssuer::current_key() const {
  std::lock_guard lk(mu_);
  return current_.verifying_key();
}

}  // namespace actr
