#pragma once
/// @file
/// Identity as actr HEAD does it: an issuer (actr's AIS; here `actr signal`) signs
/// `IdentityClaims{realm_id, actor_id, expires_at}` with Ed25519; the resulting `Credential`
/// (`AIdCredential{key_id, claims, signature}` on the wire) proves "the issuer with key `key_id`
/// vouched that the holder is `actor_id` until `expires_at`". Whoever trusts that key
/// (`KeyRing`) checks it with `verify`. OpenSSL does the cryptography; no OpenSSL or protobuf type
/// appears here. docs/security.md states what this proves and what it does not.

#include <actr/result.hpp>
#include <actr/types.hpp>

#include <array>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace actr {

/// Wall-clock time in unix seconds, the unit of `expires_at`. Injectable for tests.
using UnixClock = std::function<std::uint64_t()>;
/// The system's wall clock, in unix seconds.
std::uint64_t unix_now();

/// What a credential vouches for (protobuf `IdentityClaims`, HEAD's field numbers).
struct IdentityClaims {
  std::uint32_t realm_id = 0;
  std::string actor_id;         ///< `ActrId::to_string()` of the holder
  std::uint64_t expires_at = 0; ///< unix seconds; the credential is invalid from this second on
  friend bool operator==(const IdentityClaims&, const IdentityClaims&) = default;

  Bytes to_protobuf() const;
  /// Errors: `CredentialInvalid` (not an encoded `IdentityClaims` with every field).
  static Result<IdentityClaims> from_protobuf(ConstBytes bytes);
};

/// actr HEAD's `AIdCredential`: the encoded claims and an Ed25519 signature over exactly those
/// bytes, by the issuer's key `key_id`.
struct Credential {
  std::uint32_t key_id = 0;
  Bytes claims;     ///< `IdentityClaims::to_protobuf()`
  Bytes signature;  ///< 64 bytes
  friend bool operator==(const Credential&, const Credential&) = default;

  Bytes to_protobuf() const;
  /// Errors: `CredentialInvalid` (not an encoded `AIdCredential` with every field).
  static Result<Credential> from_protobuf(ConstBytes bytes);
  /// The `X-Actr-Credential` header form: base64 (standard alphabet, padded) of the protobuf.
  std::string to_base64() const;
  /// Errors: `CredentialInvalid` (not base64, or not a credential).
  static Result<Credential> from_base64(std::string_view text);
  /// The claims, decoded but NOT verified: for logs and for the holder's own bookkeeping only.
  Result<IdentityClaims> unverified_claims() const;
};

/// Base64, standard alphabet with padding (RFC 4648 §4), through OpenSSL. Decoding rejects
/// whitespace, other alphabets and bad padding. Errors: `InvalidArgument`.
std::string base64_encode(ConstBytes bytes);
Result<Bytes> base64_decode(std::string_view text);

/// An Ed25519 public key (32 raw bytes) and the id the issuer gave it. Copyable, immutable,
/// thread-safe.
class VerifyingKey {
 public:
  /// Errors: `InvalidArgument` (not 32 bytes, or not a valid Ed25519 public key).
  static Result<VerifyingKey> from_raw(std::uint32_t key_id, ConstBytes raw);
  std::uint32_t key_id() const noexcept { return key_id_; }
  const std::array<std::uint8_t, 32>& raw() const noexcept { return raw_; }
  /// Whether `signature` is this key's Ed25519 signature of `message`.
  bool verify(ConstBytes message, ConstBytes signature) const;
  friend bool operator==(const VerifyingKey& a, const VerifyingKey& b) noexcept {
    return a.key_id_ == b.key_id_ && a.raw_ == b.raw_;
  }

  struct Impl;

 private:
  VerifyingKey() = default;
  std::uint32_t key_id_ = 0;
  std::array<std::uint8_t, 32> raw_{};
  std::shared_ptr<const Impl> impl_;
};

/// An Ed25519 private key and its id. Copyable (copies share the key), immutable, thread-safe.
class SigningKey {
 public:
  /// A fresh random key. Errors: `Internal` (OpenSSL failed).
  static Result<SigningKey> generate(std::uint32_t key_id);
  /// From PKCS#8 PEM ("-----BEGIN PRIVATE KEY-----"). Errors: `ConfigurationError` (not PEM, or
  /// not an Ed25519 key).
  static Result<SigningKey> from_pem(std::uint32_t key_id, std::string_view pem);
  /// PKCS#8 PEM, unencrypted: whoever reads it can issue credentials. Errors: `Internal`.
  Result<std::string> to_pem() const;
  std::uint32_t key_id() const noexcept { return verifying_.key_id(); }
  const VerifyingKey& verifying_key() const noexcept { return verifying_; }
  /// The 64-byte Ed25519 signature of `message`.
  Bytes sign(ConstBytes message) const;

  struct Impl;

 private:
  SigningKey(std::shared_ptr<const Impl> impl, VerifyingKey vk) : impl_(std::move(impl)), verifying_(std::move(vk)) {}
  std::shared_ptr<const Impl> impl_;
  VerifyingKey verifying_;
};

/// The verifying keys a party trusts, by key id, and the check of a credential against them.
///
/// Rotation: an issuer that moves to a new key keeps trusting the old one only for credentials
/// it could have signed before the move — those expire by `accept_until` (move time + credential
/// lifetime). A key added with `accept_until` refuses credentials that claim to live longer, and
/// is forgotten once `accept_until` has passed. Thread-safe.
class KeyRing {
 public:
  explicit KeyRing(UnixClock clock = unix_now);

  /// Trusts `key` (replacing any key with its id). `accept_until`: see the class comment;
  /// nullopt: no bound (a current key).
  void add(const VerifyingKey& key, std::optional<std::uint64_t> accept_until = std::nullopt);
  /// Bounds an existing key by `accept_until` (no-op for an unknown id).
  void retire(std::uint32_t key_id, std::uint64_t accept_until);
  /// The key with this id, if trusted now.
  std::optional<VerifyingKey> find(std::uint32_t key_id) const;
  std::size_t size() const;

  /// Checks that `credential` is valid now for `expected` and returns its claims. In order:
  /// `UnknownSigningKey` (no trusted key with that id, or its `accept_until` has passed);
  /// `CredentialInvalid` (bad signature, undecodable claims, or claims that outlive a retired
  /// key's `accept_until`); `CredentialExpired` (`expires_at <= now`); `IdentityMismatch`
  /// (`claims.actor_id != expected.to_string()` or `claims.realm_id != expected.realm`).
  Result<IdentityClaims> verify(const Credential& credential, const ActrId& expected) const;
  Result<IdentityClaims> verify(const Credential& credential, const ActrId& expected, std::uint64_t now) const;
  /// As `verify` without the identity check (any holder): for parties that learn the holder
  /// from the claims.
  Result<IdentityClaims> verify_any(const Credential& credential, std::uint64_t now) const;

 private:
  struct Entry {
    VerifyingKey key;
    std::optional<std::uint64_t> accept_until;
  };
  const UnixClock clock_;
  mutable std::mutex mu_;
  mutable std::map<std::uint32_t, Entry> keys_;  // verify forgets keys past their use
};

/// Issues credentials with its current signing key; owns the `KeyRing` of every key it signed
/// with that still vouches for a live credential. Thread-safe.
class CredentialIssuer {
 public:
  /// Errors: `InvalidArgument` if `lifetime` is not positive.
  static Result<std::shared_ptr<CredentialIssuer>> create(SigningKey key, std::chrono::seconds lifetime,
                                                         UnixClock clock = unix_now);
  /// An issuer with a freshly generated key `key_id` (e.g. a server without a key directory).
  static Result<std::shared_ptr<CredentialIssuer>> ephemeral(std::chrono::seconds lifetime, std::uint32_t key_id = 1,
                                                            UnixClock clock = unix_now);

  /// A credential for `id`, valid from now for `lifetime()`, signed with the current key.
  Credential issue(const ActrId& id) const;
  /// As `issue`, with `subject` as `claims.actor_id`: for tokens that are not an actor's
  /// credential (the AIS renewal token, "renew:<id>"). A check against an `ActrId` never accepts
  /// such a subject, as no `ActrId::to_string()` has that form.
  Credential issue_subject(std::uint32_t realm_id, std::string subject) const;
  /// Makes `next` the signing key. The previous key stays in `key_ring()` until every credential
  /// it signed has expired (now + `lifetime()`). Errors: `InvalidArgument` if `next` has the id
  /// of a key still in the ring.
  Result<void> rotate(SigningKey next);
  /// Trusts an earlier key of this issuer (loaded from disk) until now + `lifetime()`.
  void trust_previous(const VerifyingKey& key);
  /// The key new credentials are signed with (its public half).
  VerifyingKey current_key() const;
  std::chrono::seconds lifetime() const noexcept { return lifetime_; }
  /// Every key a live credential of this issuer can be signed with. Shared: it follows rotations.
  std::shared_ptr<KeyRing> key_ring() const noexcept { return ring_; }
  std::uint64_t now() const { return clock_(); }

 private:
  CredentialIssuer(SigningKey key, std::chrono::seconds lifetime, UnixClock clock);
  const std::chrono::seconds lifetime_;
  const UnixClock clock_;
  const std::shared_ptr<KeyRing> ring_;
  mutable std::mutex mu_;
  SigningKey current_;
};

/// Signing keys on disk: `<dir>/signing-key-<id>.pem`, one PKCS#8 PEM each. The directory is
/// created with mode 0700 if missing, each key file with 0600; an existing directory or key file
/// that group or others may read is refused (`ConfigurationError`), as a leaked key lets anyone
/// issue any identity.
class KeyDirectory {
 public:
  /// Opens `dir`, creating it and a first key (id 1) when it has none. Errors:
  /// `ConfigurationError` (permissions, unreadable or malformed key files, not a directory).
  static Result<KeyDirectory> open(std::filesystem::path dir);
  /// Every key, by ascending id; the last is the current one.
  const std::vector<SigningKey>& keys() const noexcept { return keys_; }
  const SigningKey& current() const { return keys_.back(); }
  /// Generates the next key (highest id + 1), writes it, and makes it current.
  Result<SigningKey> add_key();
  /// An issuer signing with `current()` that still trusts the older keys until now + `lifetime`.
  Result<std::shared_ptr<CredentialIssuer>> issuer(std::chrono::seconds lifetime, UnixClock clock = unix_now) const;
  const std::filesystem::path& path() const noexcept { return dir_; }

 private:
  explicit KeyDirectory(std::filesystem::path dir) : dir_(std::move(dir)) {}
  std::filesystem::path dir_;
  std::vector<SigningKey> keys_;
};

}  // namespace actr
