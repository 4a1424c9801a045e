// Identity at the signaling server: the URL identity checked before the upgrade (HTTP 401), the
// registration it makes at once, registration over the socket (RegisterRequest), and the check of
// every later envelope's source and credential. Who may take an id: nobody while its holder's
// connection lives, except a client that proves to be its holder (a valid credential for it in
// the URL, or the credential of the registration held).
#include "signaling/server_impl.hpp"

namespace actr {

// Here, not in envelope.cpp: the envelope codec is also built into the fuzz targets, which do not
// link the WebSocket code that parses URLs.
bool sig::plausible_ws_address(const std::string& a) { return a.size() <= kMaxWsAddress && bool(ws::parse_url(a)); }

using namespace actr::detail;
using namespace actr::sig;
namespace asio = boost::asio;

std::optional<ws::Refusal> SignalingServer::Impl::check_url(const ws::HeaderLookup& header,
                                                           std::optional<sig::UrlIdentity>& who) {
  sig::UrlIdentity u;
  std::optional<std::string> why = sig::parse_identity(header(ws::kTargetPseudoHeader).value_or(""), u);
  if (!why && !u.id && cfg.require_identity)
    why = "identity required: actor_id, key_id, claims and signature in the URL query (POST /ais/register issues one)";
  if (!why && u.id) {
    // Signature, key, expiry, and claims.actor_id == actor_id (KeyRing::verify checks the realm too).
    if (auto claims = issuer->key_ring()->verify(*u.credential, *u.id); !claims)
      why = "credential refused: " + claims.error().message();
  }
  if (why) {
    identity_refused.fetch_add(1);
    if (const auto nth = identity_refused.load(); nth_is_logged(nth))
      spdlog::info("actr signal: upgrade refused (401): {} ({} so far)", *why, nth);
    return ws::Refusal{401, *why + "\n"};
  }
  who = std::move(u);
  return std::nullopt;
}

void SignalingServer::Impl::note_address(const ActrId& id, const std::string& ws) {
  constexpr std::size_t kMax = 65536;
  std::lock_guard lk(mu);
  if (ais_addresses.insert_or_assign(id, ws).second) ais_address_order.push_back(id);
  while (ais_address_order.size() > kMax) {
    ais_addresses.erase(ais_address_order.front());
    ais_address_order.pop_front();
  }
}

asio::awaitable<std::optional<std::string>> SignalingServer::Impl::bind_url(std::shared_ptr<Session> s,
                                                                          Credential cred) {
  const ActrId id = *s->url_id;
  pb::AIdCredential p;
  sig::to_pb(cred, &p);
  const Bytes token = encoded(p);
  auto t = take(s, id, std::nullopt, token, token, true);
  if (t.refused) {  // cannot happen on a fresh connection; say so rather than serve it unbound
    spdlog::warn("actr signal: connection {} authenticated as {} but not registered: {}", s->id, id.to_string(),
                 t.refused->second);
    co_return t.refused->second;
  }
  if (cluster) {
    auto refused = co_await claim_in_engine(s, id, true, token, t);
    if (refused) co_return refused;
  }
  after_take(id, t);
  spdlog::info("actr signal: registered {} (connection {}, identity in the URL)", id.to_string(), s->id);
  co_return std::nullopt;
}

SignalingServer::Impl::Taken SignalingServer::Impl::take(const std::shared_ptr<Session>& s, const ActrId& id,
                                                         std::optional<std::string> ws, Bytes token,
                                                         std::optional<Bytes> previous, bool proven) {
  Taken t;
  std::lock_guard lk(mu);
  auto mine = by_session.find(s->id);
  auto held = entries.find(id);
  // A client that reconnects presents the credential it was issued last; a restarted process has
  // none, or an older one (the one in its credential file, presented in the URL).
  const bool same_connection = held != entries.end() && held->second.session == s;
  const auto last = last_credentials.find(id);
  const bool latest = previous && last != last_credentials.end() && *previous == last->second;
  // Credentials are deterministic (Ed25519 over id and expiry in seconds): a restarted process can
  // present bytes equal to the latest issued. The client object's token, where both have one, says.
  const auto inst = last_instances.find(id);
  if (s->instance && inst != last_instances.end())
    t.new_process = !same_connection && *s->instance != inst->second;
  else
    t.new_process = !same_connection && !latest;
  if (s->url_id && *s->url_id != id) {
    t.refused.emplace(SignalingErrc::AlreadyRegistered, "this connection authenticated as " + s->url_id->to_string());
  } else if (mine != by_session.end() && mine->second != id) {
    t.refused.emplace(SignalingErrc::AlreadyRegistered, "this connection is registered as " + mine->second.to_string());
  } else if (held != entries.end() && held->second.session != s) {
    // Another connection holds the id. Only its holder may take it over: one that proves it (a
    // valid credential for the id in the URL: a restarted process, or a reconnect after the old
    // connection went half-open), or presents the credential of the registration held.
    const bool same_client = proven || (previous && *previous == held->second.credential);
    if (held->second.session->link->is_open() && !same_client) {
      t.refused.emplace(SignalingErrc::AlreadyRegistered, id.to_string() + " is registered from another connection");
    } else {
      t.victim = held->second.session;
      by_session.erase(t.victim->id);
    }
  }
  if (t.refused) return t;
  // A URL registration names no address: the holder's stays until its RegisterRequest says anew,
  // else the one the identity was issued with at the AIS.
  if (!ws && held != entries.end()) ws = held->second.ws_address;
  if (!ws && proven) {
    if (auto a = ais_addresses.find(id); a != ais_addresses.end()) ws = a->second;
  }
  constexpr std::size_t kMaxRemembered = 65536;
  if (last_credentials.insert_or_assign(id, token).second) last_credential_order.push_back(id);
  if (s->instance) last_instances.insert_or_assign(id, *s->instance);
  while (last_credential_order.size() > kMaxRemembered) {
    last_instances.erase(last_credential_order.front());
    last_credentials.erase(last_credential_order.front());
    last_credential_order.pop_front();
  }
  entries[id] = Entry{s, std::move(ws), std::move(token), Clock::now()};
  by_session[s->id] = id;
  return t;
}

void SignalingServer::Impl::after_take(const ActrId& id, const Taken& t) {
  registrations.fetch_add(1);
  if (t.victim) {
    refuse(t.victim, "", SignalingErrc::NotRegistered, "registered again from another connection");
    t.victim->link->close();
  }
  if (t.new_process) announce_restart(id);
}

asio::awaitable<void> SignalingServer::Impl::handle_register(std::shared_ptr<Session> s, pb::SignalingEnvelope env) {
  const auto& rid = env.envelope_id();
  if (!env.peer_to_server().has_register_request()) {
    refuse(s, rid, SignalingErrc::Malformed, "peer_to_server without a register request");
    co_return;
  }
  const auto& req = env.peer_to_server().register_request();
  const ActrId id = sig::from_pb(req.actr_id());
  // actr's name rules: an id of any length would be kept (and handed out by discovery) for as long
  // as it is registered and remembered as a contact.
  if (!id.type.valid()) {
    refuse(s, rid, SignalingErrc::InvalidArgument,
           "actr_id.type: manufacturer and name must be names of 1-32 characters, version 1-32 characters");
    co_return;
  }
  std::optional<std::string> ws;
  if (req.has_ws_address()) {
    if (!plausible_ws_address(req.ws_address())) {
      refuse(s, rid, SignalingErrc::InvalidArgument, "ws_address must be a ws:// or wss:// URL of at most 1024 bytes");
      co_return;
    }
    ws = req.ws_address();
  }
  pb::AIdCredential issued;
  sig::to_pb(issuer->issue(id), &issued);
  // The credential of an earlier registration, compared byte for byte with the one held: it is
  // signed, so only the client it was issued to can present it.
  std::optional<Bytes> previous;
  if (req.has_previous_credential()) previous = encoded(req.previous_credential());
  auto t = take(s, id, ws, encoded(issued), previous, false);
  if (t.refused) {
    refuse(s, rid, t.refused->first, t.refused->second);
    co_return;
  }
  if (cluster) {  // the id may be held through another server
    auto refused = co_await claim_in_engine(s, id, false, std::move(previous), t);
    if (refused) {
      refuse(s, rid, SignalingErrc::AlreadyRegistered, *refused);
      co_return;
    }
  }
  after_take(id, t);
  spdlog::info("actr signal: registered {} (connection {}){}", id.to_string(), s->id, ws ? " at " + *ws : "");
  auto reply = sig::make_envelope(envelope_id());
  reply.set_reply_for(rid);
  sig::to_pb(id, reply.mutable_server_to_actr()->mutable_target());
  auto* ok = reply.mutable_server_to_actr()->mutable_register_response()->mutable_success();
  sig::to_pb(id, ok->mutable_actr_id());
  *ok->mutable_credential() = issued;
  // The public half of the key that signed it, so the client (and its node's gate) can verify
  // credentials of this server's other actors.
  const auto key = issuer->key_ring()->find(issued.key_id());
  if (key) {
    ok->set_signing_pubkey(key->raw().data(), key->raw().size());
    ok->set_signing_key_id(key->key_id());
  }
  ok->set_heartbeat_interval_ms(static_cast<std::uint32_t>(cfg.heartbeat_interval.count()));
  ok->set_registration_ttl_ms(static_cast<std::uint32_t>(cfg.registration_ttl.count()));
  (void)deliver(s, reply);
}

Result<ActrId> SignalingServer::Impl::authenticate(Session& s, const pb::ActrId& source, const pb::AIdCredential& cred) {
  const ActrId claimed = sig::from_pb(source);
  // Signature, key, expiry and holder: a credential of another actor, a forged one or an expired
  // one is refused even on the registered connection (the client renews before expiry). Checked
  // before taking the registry lock: a signature check is too slow to hold up every connection.
  const bool ok = credential_valid(s, sig::from_pb(cred), claimed);
  std::lock_guard lk(mu);
  auto mine = by_session.find(s.id);
  if (mine == by_session.end()) return make_error_code(SignalingErrc::NotRegistered);
  if (claimed != mine->second) return make_error_code(SignalingErrc::SourceMismatch);
  if (!ok) return make_error_code(SignalingErrc::BadCredential);
  entries.at(mine->second).last_seen = Clock::now();
  return mine->second;
}

bool SignalingServer::Impl::credential_valid(Session& s, const Credential& cred, const ActrId& claimed) {
  // A client presents the same credential on every envelope. Its Ed25519 check is about 100 of
  // the 115-130 us a relay or ping costs (docs/scale.md), so the connection remembers the last
  // one that verified, for the id it verified for: the same bytes again pass until they expire,
  // or for a minute at most (a key retired meanwhile is noticed within it).
  const auto now = std::chrono::system_clock::now();
  if (s.verified && s.verified->credential == cred && s.verified->holder == claimed && now < s.verified->until)
    return true;
  auto claims = issuer->key_ring()->verify(cred, claimed);
  if (!claims) return false;
  const auto expiry = std::chrono::system_clock::time_point(std::chrono::seconds(claims->expires_at));
  s.verified = Session::Verified{cred, claimed, std::min(expiry, now + std::chrono::minutes(1))};
  return true;
}

}  // namespace actr
