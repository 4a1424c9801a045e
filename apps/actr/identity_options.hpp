#pragma once
// The CLI's identity: a credential file (--credential FILE, JSON; written by `actr credential
// issue` or by a first registration at the AIS) or the AIS of an `actr signal` server (--signal
// URL: POST /ais/register). docs/security.md, "The CLI's identity".

#include <actr/ais_client.hpp>
#include <actr/identity.hpp>
#include <actr/result.hpp>
#include <actr/types.hpp>

#include <boost/asio/awaitable.hpp>

#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>

namespace actr {
class Node;
struct NodeConfig;
}  // namespace actr

namespace actr::cli {

/// A credential file: the AIS's answer kept as JSON — "actr_id", "credential" (base64 of the
/// protobuf AIdCredential, as in X-Actr-Credential), "signing_key_id", "signing_pubkey" (base64
/// of the 32-byte Ed25519 key), "renewal_token" (base64, may be empty), "expires_at" (unix s).
/// Read: `why` says what is wrong ("no such file", "not JSON", "credential: ...").
std::optional<AisIdentity> read_identity_file(const std::filesystem::path& path, std::string& why);
/// Written 0600 (it proves who the holder is until it expires), replacing an older file.
bool write_identity_file(const std::filesystem::path& path, const AisIdentity& id, std::string& why);
/// The same JSON, for `actr credential inspect --json`-like output.
std::string identity_json(const AisIdentity& id);
/// Parses the JSON of a credential file. `why` as for `read_identity_file`.
std::optional<AisIdentity> parse_identity_json(const std::string& text, std::string& why);

/// Where an identity comes from, as the options say.
struct IdentitySource {
  std::string signal_url;       ///< --signal: the AIS of that server, or of the first of a comma-separated list that answers (empty: none)
  std::string credential_file;  ///< --credential (empty: none)
  std::string realm_secret_file;///< --realm-secret-file: sent to the AIS (empty: none)
  std::shared_ptr<TlsContext> tls;  ///< --ca, for a wss:// --signal
};

/// `ais_register` on an event loop of its own, for code that runs before any loop exists.
Result<AisIdentity> ais_register_now(std::string signal_url, AisRegistration request, AisClientConfig cfg = {});

/// The outcome of `obtain_identity`.
struct ObtainedIdentity {
  std::optional<AisIdentity> identity;  ///< set on success
  Error error;                          ///< the AIS's typed refusal or the transport failure
  std::string message;                  ///< for people, when neither identity nor a usable error
};

/// The identity for an actor of `who`'s realm and type: from `src.credential_file` if it exists;
/// else from the AIS (and then written to `src.credential_file` when one is named); else none
/// (nothing named). `who` may be empty only when the file exists. Runs its own event loop: call
/// before the node exists.
ObtainedIdentity obtain_identity(const std::optional<ActrId>& who, const IdentitySource& src);

/// For `actr node|call|send` (`cmd` names it in messages): obtains the identity `src` names and
/// applies it to `cfg` (its id, credential, and the issuer's key as a trusted one). `fallback`: an
/// AIS that refuses to register (403, 404) or cannot be reached leaves `cfg` as it is (logged),
/// instead of being an error. Returns -1 to go on, else the exit code (the reason on stderr: 1
/// for a refusal or a TLS failure, 2 for a bad file).
int apply_identity(const char* cmd, const std::optional<ActrId>& hint, const IdentitySource& src, bool fallback,
                   NodeConfig& cfg, std::optional<AisIdentity>& out);

/// For `SignalingClientConfig::reacquire` (HTTP 401 from signaling): a fresh credential for
/// `ident.id` from the AIS of `signal_url` (POST /ais/renew with the latest renewal token).
std::function<boost::asio::awaitable<Result<Credential>>()> reacquire_at_ais(std::string signal_url, AisIdentity ident,
                                                                             std::shared_ptr<TlsContext> tls);

/// Renews `ident` at the AIS of `signal_url` (POST /ais/renew) once three quarters of its life
/// are gone, for as long as it runs, unless signaling renewed it meanwhile; each renewed
/// credential goes to the node's signaling client (URL and X-Actr-Credential from then on).
boost::asio::awaitable<void> renew_identity(Node& node, std::string signal_url, AisIdentity ident,
                                            std::shared_ptr<TlsContext> tls);

}  // namespace actr::cli
