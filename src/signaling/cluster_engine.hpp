#pragma once
// Private: what one signaling server keeps in, and asks of, the engine its cluster shares
// (Redis; docs/scale.md). Every operation is one Lua script or command, so each is atomic in
// the engine; none blocks the caller (awaitables complete on the caller's executor, callbacks
// on the executor given at construction).
//
// Keys (prefix `actr:`):
//   reg:<id>         hash {srv, inst, ws, cred, ans}: who holds the id, with a TTL the holder
//                    refreshes; an expired key is a registration nobody holds
//   type:<mfr>:<nm>  sorted set of ids of that type, scored by expiry (ms, the engine's clock)
//   types            sorted set of actor types, scored by expiry
//   contacts:<id>    set of ids that negotiated WebRTC with it (bounded, with a TTL)
//   srv:<server>     channel: ClusterMessages for that server's actors (cluster.proto)

#include <actr/identity.hpp>
#include <actr/result.hpp>
#include <actr/types.hpp>

#include "detail/asio.hpp"
#include "signaling/redis_link.hpp"

#include <atomic>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace actr::pb {
class ClusterMessage;
}

namespace actr::sig {

/// A registration as the engine keeps it.
struct ClaimRequest {
  ActrId id;
  std::string instance;                   // actr_instance of the URL ("" if none)
  std::optional<std::string> ws_address;
  Bytes credential;                       // the credential now held for it, encoded
  bool answers = false;                   // webrtc_role=answer
  /// Take the id from another server's holder: it proved to be the id (URL identity), or it
  /// presented `previous`, the credential the engine holds for the id.
  bool force = false;
  std::optional<Bytes> previous;
};

struct ClaimResult {
  bool held_elsewhere = false;  // refused: `holder` holds it
  std::string holder;           // refused: the holding server; granted: the previous one ("" none)
  std::string previous_instance;
  Bytes previous_credential;
};

struct ClusterLocation {
  ActrId id;
  std::optional<std::string> ws_address;
};

struct ClusterEngineConfig {
  std::string url;                               // redis://HOST:PORT or unix:///path
  std::chrono::milliseconds ttl{15000};          // of a registration not refreshed
  std::chrono::milliseconds contact_ttl{120000};
  std::chrono::milliseconds io_timeout{2000};
};

class ClusterEngine {
 public:
  using OnMessage = std::function<void(pb::ClusterMessage)>;
  using Strand = boost::asio::strand<boost::asio::any_io_executor>;
  /// Throws std::invalid_argument for a bad `cfg.url`. `ex`: where callbacks run, in the order
  /// the engine answered. It is a concrete strand, not one type-erased into an any_io_executor:
  /// the link's threads copy and destroy it, and a type-erased strand's reference count is one
  /// ThreadSanitizer cannot follow. `on_message` and `on_up` run on the link's threads.
  ClusterEngine(Strand ex, ClusterEngineConfig cfg, OnMessage on_message, std::function<void()> on_up);
  ~ClusterEngine();

  void start();
  void stop();  // idempotent; bounded by io_timeout

  const std::string& server_id() const { return server_id_; }
  bool up() const { return link_.up(); }
  std::uint64_t connects() const { return link_.connects(); }
  const ClusterEngineConfig& config() const { return cfg_; }

  boost::asio::awaitable<Result<ClaimResult>> claim(const ClaimRequest& r);
  /// claim() for callers that cannot await (the refresher); `done` runs on `ex`.
  void claim(const ClaimRequest& r, std::function<void(Result<ClaimResult>)> done);
  /// Ends our registration of `id` (nothing if another server holds it now). `done(false)`:
  /// another server holds it; true otherwise (the engine's failure included). `done` runs on `ex`.
  void release(const ActrId& id, std::function<void(bool)> done);
  /// Publishes `m` to the server that holds `target`; `done(false)`: nobody holds it, or its
  /// server is not listening, or the engine is unreachable. `done` runs on `ex`.
  void route(const ActrId& target, const pb::ClusterMessage& m, std::function<void(bool)> done);
  /// Publishes `m` to `server` (no lookup).
  void publish(const std::string& server, const pb::ClusterMessage& m);

  boost::asio::awaitable<Result<std::vector<ClusterLocation>>> candidates(const ActrType& type, std::uint32_t limit);
  boost::asio::awaitable<Result<std::vector<ActrType>>> types(std::uint32_t limit);
  /// Errors: `ConnectionNotFound` if nobody holds `id`.
  boost::asio::awaitable<Result<ClusterLocation>> locate(const ActrId& id);

  void add_contact(const ActrId& a, const ActrId& b);
  /// The ids that negotiated with `id` and are registered now, with their servers.
  boost::asio::awaitable<Result<std::vector<std::pair<ActrId, std::string>>>> contacts(const ActrId& id);

  std::uint64_t published() const { return published_.load(); }
  std::uint64_t received() const { return received_.load(); }
  std::uint64_t malformed() const { return malformed_.load(); }

 private:
  boost::asio::awaitable<Result<RedisReply>> call(std::vector<std::string> args);
  std::vector<std::string> claim_args(const ClaimRequest& r) const;
  void on_raw(std::string payload);

  const ClusterEngineConfig cfg_;
  const std::string server_id_;
  Strand ex_;
  const OnMessage on_message_;
  std::atomic<std::uint64_t> published_{0}, received_{0}, malformed_{0};
  RedisLink link_;
};

}  // namespace actr::sig
