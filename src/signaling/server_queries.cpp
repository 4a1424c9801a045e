// What a registered actor may ask the signaling server (ActrToSignaling payloads other than ping
// and unregister), answered from the registry: actor types (HEAD's DiscoveryRequest), the actors
// of one type with their addresses (HEAD's RouteCandidatesRequest), a verifying key by id (HEAD's
// GetSigningKeyRequest), and where one actor is (our LocateRequest). Each answer is filled under
// the registry lock (a copy; no send under it) and has a bounded size.
#include "signaling/server_impl.hpp"

#include <algorithm>
#include <map>
#include <set>

namespace actr {

using namespace actr::sig;

namespace {
// The envelope must stay under a client's 64 KiB message cap: an ActrId and an address entry
// are well under 256 bytes each.
constexpr std::uint32_t kMaxCandidates = 100;
constexpr std::uint32_t kMaxTypes = 256;

void set_error(pb::ErrorResponse* e, SignalingErrc code, std::string message) {
  e->set_code(static_cast<std::uint32_t>(code));
  e->set_message(std::move(message));
}

bool same_type(const ActrType& want, const ActrType& have) {
  // An empty version asks for every version (HEAD matches compatible fingerprints; we have none).
  return want.manufacturer == have.manufacturer && want.name == have.name &&
         (want.version.empty() || want.version == have.version);
}
void fill_types(pb::DiscoveryResponse::DiscoveryOk* ok, const std::set<ActrType>& types, std::uint32_t limit) {
  for (const auto& t : types) {
    if (static_cast<std::uint32_t>(ok->entries_size()) >= limit) break;
    auto* entry = ok->add_entries();
    entry->mutable_actr_type()->set_manufacturer(t.manufacturer);
    entry->mutable_actr_type()->set_name(t.name);
    entry->mutable_actr_type()->set_version(t.version);
    entry->set_name(t.name);
    entry->set_service_fingerprint("");  // no service specs here
  }
}

void fill_candidates(pb::RouteCandidatesResponse::RouteCandidatesOk* ok,
                     const std::map<ActrId, std::optional<std::string>>& found, std::uint32_t count) {
  for (const auto& [id, ws] : found) {
    if (static_cast<std::uint32_t>(ok->candidates_size()) >= count) break;
    to_pb(id, ok->add_candidates());
    if (!ws) continue;
    auto* entry = ok->add_ws_address_map();
    to_pb(id, entry->mutable_candidate_id());
    entry->set_ws_address(*ws);
  }
}
}  // namespace

bool SignalingServer::Impl::answer_query(const ActrId& src, const pb::ActrToSignaling& m, pb::SignalingToActr* out) {
  switch (m.payload_case()) {
    case pb::ActrToSignaling::kDiscoveryRequest: {
      const auto& q = m.discovery_request();
      const std::uint32_t limit = std::min(q.limit(), kMaxTypes);
      std::set<ActrType> types;
      {
        std::lock_guard lk(mu);
        for (const auto& [id, e] : entries)
          if (!q.has_manufacturer() || id.type.manufacturer == q.manufacturer()) types.insert(id.type);
      }
      fill_types(out->mutable_discovery_response()->mutable_success(), types, limit);
      return true;
    }
    case pb::ActrToSignaling::kRouteCandidatesRequest: {
      const auto& q = m.route_candidates_request();
      const ActrType want{q.target_type().manufacturer(), q.target_type().name(), q.target_type().version()};
      std::uint32_t count = q.has_criteria() ? q.criteria().candidate_count() : kMaxCandidates;
      count = std::min(count, kMaxCandidates);
      std::map<ActrId, std::optional<std::string>> found;  // ordered: the same answer for the same registry
      {
        std::lock_guard lk(mu);
        for (const auto& [id, e] : entries)
          if (id != src && same_type(want, id.type)) found.emplace(id, e.ws_address);
      }
      fill_candidates(out->mutable_route_candidates_response()->mutable_success(), found, count);
      return true;
    }
    case pb::ActrToSignaling::kGetSigningKeyRequest: {
      const auto key = issuer->key_ring()->find(m.get_signing_key_request().key_id());
      if (!key) {
        errors_sent.fetch_add(1);
        set_error(out->mutable_error(), SignalingErrc::NotFound, "no signing key with that id");
        return true;
      }
      auto* k = out->mutable_get_signing_key_response();
      k->set_key_id(key->key_id());
      k->set_pubkey(key->raw().data(), key->raw().size());
      return true;
    }
    case pb::ActrToSignaling::kLocateRequest: {
      const ActrId target = from_pb(m.locate_request().target());
      std::optional<std::optional<std::string>> where;
      {
        std::lock_guard lk(mu);
        if (auto it = entries.find(target); it != entries.end()) where.emplace(it->second.ws_address);
      }
      auto* lr = out->mutable_locate_response();
      if (where) {
        to_pb(target, lr->mutable_success()->mutable_actr_id());
        if (*where) lr->mutable_success()->set_ws_address(**where);
      } else {
        errors_sent.fetch_add(1);
        set_error(lr->mutable_error(), SignalingErrc::NotFound, target.to_string() + " is not registered");
      }
      return true;
    }
    default:
      return false;
  }
}

// The same answers over every server's registrations (the engine's), bounded the same way; the
// local answer when the engine cannot give one.
boost::asio::awaitable<void> SignalingServer::Impl::answer_from_engine(std::shared_ptr<Session> s,
                                                                       pb::SignalingEnvelope reply, ActrId src,
                                                                       pb::ActrToSignaling m) {
  auto self = shared_from_this();
  auto* out = reply.mutable_server_to_actr();
  constexpr std::uint32_t kScan = 4096;  // registrations of one type read per query
  bool answered = false;
  switch (m.payload_case()) {
    case pb::ActrToSignaling::kDiscoveryRequest: {
      const auto& q = m.discovery_request();
      auto types = co_await cluster->types(kScan);
      if (!types) break;
      std::set<ActrType> found;
      for (const auto& t : *types)
        if (!q.has_manufacturer() || t.manufacturer == q.manufacturer()) found.insert(t);
      fill_types(out->mutable_discovery_response()->mutable_success(), found, std::min(q.limit(), kMaxTypes));
      answered = true;
      break;
    }
    case pb::ActrToSignaling::kRouteCandidatesRequest: {
      const auto& q = m.route_candidates_request();
      const ActrType want{q.target_type().manufacturer(), q.target_type().name(), q.target_type().version()};
      const std::uint32_t count =
          std::min(q.has_criteria() ? q.criteria().candidate_count() : kMaxCandidates, kMaxCandidates);
      auto all = co_await cluster->candidates(want, kScan);
      if (!all) break;
      std::map<ActrId, std::optional<std::string>> found;
      for (auto& c : *all)
        if (c.id != src && same_type(want, c.id.type)) found.emplace(c.id, std::move(c.ws_address));
      fill_candidates(out->mutable_route_candidates_response()->mutable_success(), found, count);
      answered = true;
      break;
    }
    case pb::ActrToSignaling::kLocateRequest: {
      const ActrId target = from_pb(m.locate_request().target());
      auto where = co_await cluster->locate(target);
      auto* lr = out->mutable_locate_response();
      if (where) {
        to_pb(target, lr->mutable_success()->mutable_actr_id());
        if (where->ws_address) lr->mutable_success()->set_ws_address(*where->ws_address);
      } else if (where.error() == NetworkError::ConnectionNotFound) {
        errors_sent.fetch_add(1);
        set_error(lr->mutable_error(), SignalingErrc::NotFound, target.to_string() + " is not registered");
      } else {
        break;
      }
      answered = true;
      break;
    }
    default:
      break;
  }
  if (!answered) {
    reply.mutable_server_to_actr()->clear_payload();
    if (!answer_query(src, m, reply.mutable_server_to_actr())) co_return;
  }
  (void)deliver(s, reply);
}

}  // namespace actr
