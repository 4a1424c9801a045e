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
      auto* ok = out->mutable_discovery_response()->mutable_success();
      for (const auto& t : types) {
        if (static_cast<std::uint32_t>(ok->entries_size()) >= limit) break;
        auto* entry = ok->add_entries();
        entry->mutable_actr_type()->set_manufacturer(t.manufacturer);
        entry->mutable_actr_type()->set_name(t.name);
        entry->mutable_actr_type()->set_version(t.version);
        entry->set_name(t.name);
        entry->set_service_fingerprint("");  // no service specs here
      }
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
      auto* ok = out->mutable_route_candidates_response()->mutable_success();
      for (const auto& [id, ws] : found) {
        if (static_cast<std::uint32_t>(ok->candidates_size()) >= count) break;
        to_pb(id, ok->add_candidates());
        if (!ws) continue;
        auto* entry = ok->add_ws_address_map();
        to_pb(id, entry->mutable_candidate_id());
        entry->set_ws_address(*ws);
      }
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

}  // namespace actr
