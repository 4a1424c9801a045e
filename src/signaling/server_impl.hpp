#pragma once
// Private: the state of a SignalingServer, shared by signaling_server.cpp (accept, routing,
// relays, public API) and server_register.cpp (identity: the URL check before the upgrade,
// registration, authentication of every later envelope).

#include <actr/detail/log_limit.hpp>
#include <actr/detail/task_group.hpp>
#include <actr/error.hpp>
#include <actr/identity.hpp>
#include <actr/signaling.hpp>

#include "cluster.pb.h"
#include "detail/asio.hpp"
#include "signaling/admission.hpp"
#include "signaling/cluster_engine.hpp"
#include "signaling/ais_handler.hpp"
#include "signaling/envelope.hpp"
#include "signaling/url_identity.hpp"
#include "wire/websocket/ws_conn.hpp"

#include <boost/asio/ip/tcp.hpp>

#include <spdlog/spdlog.h>

#include <atomic>
#include <deque>
#include <mutex>
#include <unordered_map>
#include <vector>

namespace actr {

namespace sig {
struct Session {
  std::uint64_t id = 0;
  std::shared_ptr<ws::Connection> link;
  IpLimiter::Lease lease;  // its peer address's open-connection count, released with the session
  // The actor whose credential the URL carried (checked before the upgrade): the only id this
  // connection may register. Unset: the connection presented no identity (open mode).
  std::optional<ActrId> url_id;
  bool answer = false;  // webrtc_role=answer in the URL: never made the offerer unless both asked
  std::optional<std::string> instance;  // actr_instance in the URL: the client object's token
  std::uint64_t pongs = 0;  // Pong.seq; touched only on the connection's strand
  // The credential that last verified on this connection (authenticate; on its strand only).
  struct Verified {
    Credential credential;
    ActrId holder;
    std::chrono::system_clock::time_point until;
  };
  std::optional<Verified> verified;
};

// One live registration: the connection it belongs to, where the actor's node listens, the
// credential issued for it, and when its connection last sent anything.
struct Entry {
  std::shared_ptr<Session> session;
  std::optional<std::string> ws_address;
  Bytes credential;  // the AIdCredential issued at the latest registration, encoded
  Deadline last_seen;
};

inline Bytes encoded(const pb::AIdCredential& c) {
  Bytes b(c.ByteSizeLong());
  c.SerializeToArray(b.data(), static_cast<int>(b.size()));
  return b;
}

inline std::shared_ptr<CredentialIssuer> issuer_of(const SignalingServerConfig& c) {
  if (c.issuer) return c.issuer;
  // No key given: a key of this process only. Credentials die with it (nobody else can verify
  // them after a restart), which is what a server without a key directory can promise.
  auto is = CredentialIssuer::ephemeral(c.credential_lifetime);
  if (!is) throw std::runtime_error("actr signal: cannot create a signing key: " + is.error().message());
  return *is;
}
}  // namespace sig

using sig::Entry;
using sig::Session;

struct SignalingServer::Impl : std::enable_shared_from_this<Impl> {
  enum class Notice : std::uint8_t { Restarted, Gone };

  Impl(boost::asio::any_io_executor e, SignalingServerConfig c)
      : ex(std::move(e)), cfg(c), issuer(sig::issuer_of(c)),
        link_cfg{.max_message_size = c.max_message_size,
                 .handshake_timeout = c.handshake_timeout,
                 .keepalive_interval = c.keepalive_interval,
                 .close_timeout = c.close_timeout,
                 .queue_limit = c.client_queue_limit,
                 .tls = c.tls},
        ais(std::make_shared<sig::AisHandler>(c.ais, issuer, c.heartbeat_interval,
                                              [this](const ActrId& id, const std::string& ws) { note_address(id, ws); })),
        tasks(ex), cluster_strand(boost::asio::make_strand(ex)) {
    if (c.ais.open)
      spdlog::warn("actr signal: *** AIS REGISTRATION IS OPEN: anyone who reaches this port gets a signed identity "
                   "of any actor type (POST /ais/register). For demos only; see docs/security.md ***");
  }

  boost::asio::any_io_executor ex;
  const SignalingServerConfig cfg;
  const std::shared_ptr<CredentialIssuer> issuer;
  ws::ConnConfig link_cfg;
  const std::shared_ptr<sig::AisHandler> ais;  // plain HTTP POSTs on the signaling listener
  const std::shared_ptr<IpLimiter> ip_limiter = IpLimiter::create(cfg.ip_limits);
  std::atomic<std::uint64_t> ip_refused{0};
  detail::TaskGroup tasks;  // accept loop, upgrades, sweeper
  std::atomic<bool> closed{false};
  std::atomic<bool> listening{false};
  std::atomic<std::uint64_t> next_session{1}, next_envelope{1};
  std::atomic<std::uint64_t> relayed{0}, errors_sent{0}, slow_dropped{0}, expired{0}, registrations{0};
  detail::LogLimiter reported;  // error envelopes clients sent us (logged, never answered)

  mutable std::mutex mu;  // guards sessions, entries, by_session, contacts
  std::unordered_map<std::uint64_t, std::shared_ptr<Session>> sessions;
  std::unordered_map<ActrId, Entry> entries;
  std::unordered_map<std::uint64_t, ActrId> by_session;
  // Who negotiated a WebRTC role with whom, kept past a registration's end: when an id registers
  // anew as a new process, its earlier peers are told (`PeerRestarted`). Bounded per id and in all;
  // an id unregistered for `cfg.contact_ttl` is forgotten by the sweeper.
  struct Contacts {
    std::deque<ActrId> peers;
    Deadline seen;  // last time the id was registered (or negotiated)
  };
  std::unordered_map<ActrId, Contacts> contacts;

  std::string envelope_id() { return "srv-" + std::to_string(next_envelope.fetch_add(1)); }

  boost::asio::awaitable<void> accept_loop(std::shared_ptr<boost::asio::ip::tcp::acceptor> acceptor);
  boost::asio::awaitable<void> upgrade(boost::asio::ip::tcp::socket sock, IpLimiter::Lease lease);
  boost::asio::awaitable<void> sweeper();
  void sweep();

  /// Awaited by the connection's reader: the next message is read when it completes.
  boost::asio::awaitable<Result<void>> on_message(std::shared_ptr<Session> s, ConstBytes data, bool binary);
  void on_closed(const std::shared_ptr<Session>& s);
  /// Ends `s`'s registration (if it still holds one: a newer connection may hold the id): the
  /// entry goes, the engine's record is released and the id's contacts are told (`PeerGone`).
  void end_registration(const std::shared_ptr<Session>& s);
  /// Drops `id`'s registration here without a word to its contacts (it lives on elsewhere):
  /// its connection is told and closed.
  void evict(const ActrId& id, const std::string& why, const std::shared_ptr<Session>& only = nullptr);
  boost::asio::awaitable<void> handle_register(std::shared_ptr<Session> s, pb::SignalingEnvelope env);

  // ---- identity (server_register.cpp) ----------------------------------------------------------
  /// The check before the upgrade: the URL's identity, if any, must verify (else HTTP 401), and
  /// one is required when `cfg.require_identity`. Fills `who` with what the URL said.
  std::optional<ws::Refusal> check_url(const ws::HeaderLookup& header, std::optional<sig::UrlIdentity>& who);
  /// Registers the URL's actor on its new connection (taking it over from an older one); why
  /// not, if refused (another server's actor holds it).
  boost::asio::awaitable<std::optional<std::string>> bind_url(std::shared_ptr<Session> s, Credential cred);
  struct Taken {
    std::optional<std::pair<SignalingErrc, std::string>> refused;
    std::shared_ptr<Session> victim;  // the older connection that held the id; told and closed
    bool new_process = false;         // announce the restart to the id's peers
  };
  /// Makes `s` the holder of `id` unless that is refused. `token`: the credential now held for it,
  /// encoded; `previous`: the credential the client presented as its own; `proven`: it verified
  /// for `id` (the URL identity), which takes the id over even from a live connection.
  Taken take(const std::shared_ptr<Session>& s, const ActrId& id, std::optional<std::string> ws, Bytes token,
             std::optional<Bytes> previous, bool proven);
  /// Tells the older holder and the id's peers, after `take`.
  void after_take(const ActrId& id, const Taken& t);

  // ---- several servers (server_cluster.cpp) -----------------------------------------------------
  std::unique_ptr<sig::ClusterEngine> cluster;  // with cfg.cluster; set by start_cluster
  boost::asio::strand<boost::asio::any_io_executor> cluster_strand;  // engine callbacks, in order
  std::atomic<std::uint64_t> cluster_refused{0};
  void start_cluster();
  /// The engine's word on a registration `take` granted here: refused (another server's actor
  /// holds the id) undoes it here and says why; granted fixes `t.new_process` by the id's
  /// previous holder anywhere and tells that server. The engine unreachable: granted (this
  /// server alone; its registrations are written to the engine when it is back).
  boost::asio::awaitable<std::optional<std::string>> claim_in_engine(const std::shared_ptr<Session>& s,
                                                                     const ActrId& id, bool proven,
                                                                     std::optional<Bytes> presented, Taken& t);
  sig::ClaimRequest claim_request_locked(const ActrId& id, const Entry& e) const;
  /// Writes every registration of this server to the engine again (the TTL refresh, and after
  /// the engine restarted); one held by another server's actor now is evicted here.
  void refresh_cluster();
  boost::asio::awaitable<void> cluster_refresher();
  void on_cluster(const pb::ClusterMessage& m);
  /// A relay (or role negotiation) for an actor not registered here, through the engine.
  void relay_remote(const std::shared_ptr<Session>& s, const pb::SignalingEnvelope& env, const ActrId& target,
                    pb::SignalingEnvelope forwarded);
  void remote_role(const ActrId& target, const pb::ClusterRole& role);
  /// Sends `e` to `target` wherever it is registered (here, or through the engine).
  void send_anywhere(const ActrId& target, const std::string& server, pb::SignalingEnvelope e);
  /// Discovery, route candidates and locate over every server's registrations.
  boost::asio::awaitable<void> answer_from_engine(std::shared_ptr<Session> s, pb::SignalingEnvelope reply,
                                                  ActrId src, pb::ActrToSignaling m);
  boost::asio::awaitable<void> announce_from_engine(ActrId id, Notice what);
  std::atomic<std::uint64_t> identity_refused{0};
  /// The ws_address an identity was issued with at the AIS (HEAD's pending registration), used
  /// when that actor's URL identity registers it; bounded, oldest forgotten first.
  void note_address(const ActrId& id, const std::string& ws);
  std::unordered_map<ActrId, std::string> ais_addresses;  // guarded by mu
  std::deque<ActrId> ais_address_order;                    // guarded by mu
  /// The credential last held for each id, kept after its registration ends (bounded like
  /// `ais_addresses`): a client that presents it is the same process coming back; one that
  /// presents another (an older one from its credential file) or none is a restarted process.
  std::unordered_map<ActrId, Bytes> last_credentials;  // guarded by mu
  // The actr_instance of each id's latest registration that named one (same bound and order as
  // last_credentials): a different one is a restarted process, whatever credential it presents.
  std::unordered_map<ActrId, std::string> last_instances;  // guarded by mu
  std::deque<ActrId> last_credential_order;            // guarded by mu
  /// Fills `out` with the answer to a query payload (discovery, route candidates, signing key,
  /// locate) of `src`; false for other payloads (server_queries.cpp).
  bool answer_query(const ActrId& src, const pb::ActrToSignaling& m, pb::SignalingToActr* out);
  void handle_actr(const std::shared_ptr<Session>& s, const pb::SignalingEnvelope& env);
  void handle_relay(const std::shared_ptr<Session>& s, const pb::SignalingEnvelope& env);
  void handle_role(const std::shared_ptr<Session>& s, const pb::SignalingEnvelope& env, const ActrId& src,
                   const ActrId& target, const std::shared_ptr<Session>& to);
  void add_contact_locked(const ActrId& a, const ActrId& b);
  /// `a` and `b` negotiated: each is the other's contact (here, and in the engine).
  void note_contacts(const ActrId& a, const ActrId& b);
  /// The server's RoleAssignment relay for `self_id` about `peer`.
  pb::SignalingEnvelope assignment(const ActrId& peer, const ActrId& self_id, bool is_offerer);
  /// A relay envelope from the server about `source`, for `target` (payload to be set).
  pb::SignalingEnvelope server_relay(const ActrId& source, const ActrId& target);
  /// Tells `id`'s registered contacts that it restarted (`PeerRestarted`) or left (`PeerGone`).
  void announce(const ActrId& id, Notice what);
  void announce_local(const ActrId& id, Notice what);  // the contacts this server remembers
  pb::SignalingEnvelope notice(const ActrId& about, const ActrId& to, Notice what);
  void announce_restart(const ActrId& id) { announce(id, Notice::Restarted); }

  // Checks that `source` is what this connection registered and `credential` a valid one for
  // it from our issuer; refreshes the registration.
  Result<ActrId> authenticate(Session& s, const pb::ActrId& source, const pb::AIdCredential& cred);
  /// `cred` verifies for `claimed` (signature, key, expiry), or did on `s` a moment ago.
  bool credential_valid(Session& s, const Credential& cred, const ActrId& claimed);
  std::shared_ptr<Session> session_of(const ActrId& id) const;

  /// Queues `env` for `s`. A full queue means the client does not read: it is dropped.
  bool deliver(const std::shared_ptr<Session>& s, const pb::SignalingEnvelope& env);
  void refuse(const std::shared_ptr<Session>& s, const std::string& reply_for, SignalingErrc code, std::string why);
};


}  // namespace actr
