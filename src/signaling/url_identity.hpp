#pragma once
// Private: the identity a signaling client puts in its WebSocket URL, as actr HEAD does
// (core/hyper/src/wire/webrtc/signaling.rs `build_url_with_identity`): query parameters
// `actor_id` (ActrId string form), `key_id` (decimal), `claims` and `signature` (base64, standard
// alphabet, padded) and optionally `webrtc_role=answer`, each form-urlencoded
// (application/x-www-form-urlencoded, what actr's `url::query_pairs_mut` writes). Our extension:
// `actr_instance`, a random token per client object, by which the server tells a reconnect from
// a restarted process (actr's server ignores unknown parameters).

#include <actr/identity.hpp>
#include <actr/types.hpp>

#include <optional>
#include <string>
#include <string_view>

namespace actr::sig {

struct UrlIdentity {
  std::optional<ActrId> id;               // with `credential`: both or neither
  std::optional<Credential> credential;
  bool answer = false;                    // webrtc_role=answer: this client asks never to offer
  std::optional<std::string> instance;    // actr_instance: 1-64 characters [0-9A-Za-z_-]
};

/// `url` with the identity appended to its query (after any query it has); `instance` as
/// `actr_instance` unless empty.
std::string with_identity(const std::string& url, const ActrId& id, const Credential& c, bool answer,
                          const std::string& instance = {});
/// `url` with only `webrtc_role=answer` appended (a client without a credential).
std::string with_answer_role(const std::string& url);

/// Reads the identity from a request target ("/path?query"). No identity parameter at all: an
/// empty `id`. Returns the refusal reason (the 401 body) when some are present but any of the four
/// is missing or malformed; the credential is NOT verified here.
std::optional<std::string> parse_identity(std::string_view target, UrlIdentity& out);

/// application/x-www-form-urlencoded, one name or value.
std::string form_encode(std::string_view s);
std::optional<std::string> form_decode(std::string_view s);

}  // namespace actr::sig
