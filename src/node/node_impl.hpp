#pragma once
// Private: the state of a `Node` (node.cpp), shared with the files that implement parts of it
// (node_receive.cpp: the receive path).

#include <actr/detail/async_queue.hpp>
#include <actr/node.hpp>
#include <actr/node_status.hpp>
#include <actr/rpc_correlation.hpp>

#include "detail/asio.hpp"
#include "node/node_limits.hpp"

#include <atomic>
#include <deque>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include <boost/container/small_vector.hpp>
#include <boost/unordered/unordered_flat_map.hpp>

namespace actr {
namespace node {

struct Inbound {
  ActrId from;
  PayloadType pt;
  // The connection that carried it: a request's answer goes back on it (actr HEAD's gate "uses
  // the same connection for the responses"). Weak: a queued message must not keep a closed wire.
  std::weak_ptr<WireHandle> via;
  pb::RpcEnvelope env;   // RPC classes
  pb::DataStream chunk;  // stream classes
  // Counts it against its connection's and the node's in-flight budgets until the last copy
  // goes (a task's function object must be copyable).
  std::shared_ptr<WorkLease> lease;
};

// The dedup key (node_dispatch.cpp): inline up to the size of a typical key (a 36-character
// request id with short type names), so a cache entry and its key are one allocation.
using DedupKey = boost::container::small_vector<char, 96>;

// A request seen before: its answer once there is one, or a notifier for the in-flight original.
// Long-lived (until the TTL or the byte cap evicts it), so it is one allocation with its key and
// one for its answer: entries outlive the short-lived allocations around them, and every extra
// one costs the allocator free-list work at eviction (seen as ~30 % of the echo server).
struct DedupEntry {
  DedupKey key;     // the cache's map key is a view of it
  Bytes response;   // the encoded response envelope; written once, before `answered` is set
  bool answered = false;  // under Impl::mu; a holder of the entry may read `response` after
  Clock::time_point completed{};
  std::size_t charged = 0;  // bytes counted in Impl::dedup_bytes once completed
  detail::Notifier done;

  std::string_view key_view() const { return {key.data(), key.size()}; }
};

inline Bytes encode(const google::protobuf::MessageLite& m) {
  Bytes b(m.ByteSizeLong());
  m.SerializeToArray(b.data(), static_cast<int>(b.size()));
  return b;
}

// The request workers (node_dispatch.cpp), guarded by Impl::mu.
struct WorkerPool {
  std::size_t total = 0;    // alive, busy or idle
  std::size_t idle = 0;     // waiting on the RPC queue
  std::uint64_t spawned = 0, retired = 0;  // pool workers added when all were busy / retired idle
};

}  // namespace node

struct Node::Impl : std::enable_shared_from_this<Impl> {
  Impl(boost::asio::any_io_executor e, NodeConfig c)
      : ex(e), cfg(std::move(c)), tasks(e), rpc_q(cfg.rpc_queue), stream_q(cfg.stream_queue),
        latency_q(cfg.latency_queue) {}

  boost::asio::any_io_executor ex;
  NodeConfig cfg;
  std::shared_ptr<DefaultWireBuilder> builder;
  std::shared_ptr<SignalingClient> signaling;        // with cfg.signal_url
  std::shared_ptr<WebRtcCoordinator> coordinator;    // with signaling and WebRTC wires wanted
  HealthChecker health;
  std::unique_ptr<OutprocTransportManager> manager;
  // The manager's wire events as `Node::wire_events` keeps them; the subscription goes before the
  // manager (declared after it).
  std::shared_ptr<WireEventLog> wire_log = std::make_shared<WireEventLog>();
  EventBus::Subscription wire_log_sub;
  std::unique_ptr<WebSocketServer> gate;
  std::shared_ptr<KeyRing> trusted;  // with cfg.identity.require
  node::Budgets budgets;             // the global ones of cfg.limits, shared with the wires
  std::atomic<std::uint64_t> work_waits{0};  // a connection's reader waited for its in-flight work
  detail::TaskGroup tasks;
  RpcCorrelation correlation;
  detail::AsyncQueue<node::Inbound> rpc_q, stream_q, latency_q;

  std::mutex mu;  // guards handlers, dedup, stats
  RequestHandler on_request;
  TellHandler on_tell;
  ChunkHandler on_chunk;
  // Keyed by views of DedupEntry::key: an entry leaves the map before it is destroyed. Open
  // addressing: a lookup costs one probe and one key comparison, where std::unordered_map's
  // node chains cost a cache miss per step at a few hundred thousand entries.
  boost::unordered_flat_map<std::string_view, std::shared_ptr<node::DedupEntry>> dedup;
  // Completed entries in completion order (monotonic clock), so expiry pops from the front
  // instead of scanning the whole cache on every request.
  std::deque<std::shared_ptr<node::DedupEntry>> dedup_expiry;
  std::size_t dedup_bytes = 0;  // completed entries' footprint: answer, key and bookkeeping
  Stats stats;
  node::WorkerPool workers;

  void expire_dedup_locked(Clock::time_point now);
  void count_sent(WireKind kind, std::size_t bytes) {
    const bool rtc = kind == WireKind::WebRtc;
    std::lock_guard lk(mu);
    ++(rtc ? stats.sent_webrtc : stats.sent_websocket);
    (rtc ? stats.bytes_out_webrtc : stats.bytes_out_websocket) += bytes;
  }
  // One inbound frame `payload`, from `in.from` as `in.pt`, on `via` (null: no wire budget).
  // Handled without waiting when it can be: the result. Otherwise nullopt, and `in` (decoded,
  // with its lease if it got one) goes to receive_later, which waits for a lease or queue room.
  std::optional<Result<void>> receive_now(const std::shared_ptr<WireHandle>& via, ConstBytes payload,
                                          node::Inbound& in);
  boost::asio::awaitable<Result<void>> receive_later(std::shared_ptr<WireHandle> via, node::Inbound in,
                                                     std::size_t bytes);
  boost::asio::awaitable<Result<void>> reply(const node::Inbound& in, ConstBytes bytes, Deadline deadline);
  void spawn_request_worker(bool permanent);
  boost::asio::awaitable<void> request_worker(bool permanent);
  boost::asio::awaitable<void> stream_worker(detail::AsyncQueue<node::Inbound>& q);
  boost::asio::awaitable<void> handle_request(node::Inbound in);
  // handle_request's steps that do not wait. admit_request: the request's dedup entry, new
  // (`original`, with the handler to run) or seen before. answer_request: encodes the handler's
  // result as the response, stores it in `entry` for retries and wakes them; returns it.
  struct Admitted {
    std::shared_ptr<node::DedupEntry> entry;
    bool original = false;
    RequestHandler handler;
  };
  Admitted admit_request(const node::Inbound& in);
  const Bytes& answer_request(const node::Inbound& in, const std::shared_ptr<node::DedupEntry>& entry,
                              Result<Bytes> r);
  boost::asio::awaitable<Result<void>> send_with_retry(const ActrId& to, PayloadType pt, ConstBytes bytes,
                                                       Deadline deadline);
};

}  // namespace actr
