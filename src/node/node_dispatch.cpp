// The node's dispatch: requests and tells from the RPC queue to the handlers on an elastic pool
// of workers, each request answered at most once per (peer, request_id) through the dedup cache;
// stream chunks from their queues to the chunk handler.
#include <actr/error.hpp>
#include <actr/rpc_error_code.hpp>
#include <actr/detail/log_limit.hpp>

#include "detail/asio.hpp"
#include "node/inbound.hpp"
#include "node/outbound.hpp"
#include "node/node_impl.hpp"

#include <spdlog/spdlog.h>

namespace actr {

using namespace detail;
using node::DedupEntry;
using node::DedupKey;
using node::Inbound;
using node::encode;

namespace {
// Dedup is per peer: two peers may well pick the same request_id, and one must never read the
// other's answer. The key is the peer's fields — fixed-width numbers, then names that contain no
// NUL, each ended by one — and then the request id (any bytes), so two different (peer, id) pairs
// never meet. Built by appends (formatting the id as text showed in the request path's profile).
DedupKey dedup_key(const ActrId& peer, const std::string& request_id) {
  DedupKey k;
  k.reserve(12 + peer.type.manufacturer.size() + peer.type.name.size() + peer.type.version.size() + 3 +
            request_id.size());
  const auto append = [&k](const void* p, std::size_t n) {
    const auto* c = static_cast<const char*>(p);
    k.insert(k.end(), c, c + n);
  };
  append(&peer.serial_number, 8);
  append(&peer.realm.realm_id, 4);
  for (const auto* part : {&peer.type.manufacturer, &peer.type.name, &peer.type.version}) {
    append(part->data(), part->size());
    k.push_back('\0');
  }
  append(request_id.data(), request_id.size());
  return k;
}

// What a completed entry costs beyond its key and answer: the entry with its shared_ptr control
// block, its map slot (at the map's load factor), its expiry slot and two allocations' headers.
// dedup_max_bytes bounds all of it, not only the answers (with 64 B answers the answers were a
// third of the cache's memory).
constexpr std::size_t kDedupEntryOverhead = sizeof(DedupEntry) + 128;
}  // namespace

void Node::Impl::spawn_request_worker(bool permanent) {
  auto self = shared_from_this();
  (void)tasks.spawn("request-worker",
                    [self, permanent]() -> asio::awaitable<void> { co_await self->request_worker(permanent); });
}

// Requests run concurrently (a slow handler must not hold up the next request), on a pool of
// worker coroutines that grows when every worker is busy and shrinks when workers sit idle, so a
// steady stream of requests costs no task spawn per request. The first worker never retires.
asio::awaitable<void> Node::Impl::request_worker(bool permanent) {
  for (;;) {
    {
      std::lock_guard lk(mu);
      ++workers.idle;
    }
    // A queue with work in it costs no wait (and no coroutine frame for one).
    Result<Inbound> in = make_error_code(NetworkError::TimeoutError);
    if (auto ready = rpc_q.try_pop()) in = std::move(*ready);
    else in = co_await rpc_q.pop(permanent ? kNoDeadline : Clock::now() + cfg.request_worker_idle);
    bool grow = false, stop = false;
    {
      std::lock_guard lk(mu);
      --workers.idle;
      if (!in) {
        // Idle past its time (a pool worker), or the node is stopping.
        --workers.total;
        if (in.error() == NetworkError::TimeoutError) ++workers.retired;
        stop = true;
      } else if (workers.idle == 0 && workers.total < cfg.max_request_workers) {
        // Nobody is left waiting for the next request: add a worker before running this one.
        ++workers.total;
        ++workers.spawned;
        grow = true;
      }
    }
    if (stop) co_return;
    if (grow) spawn_request_worker(false);
    if (in->env.direction() == pb::DIRECTION_TELL) {
      TellHandler h;
      {
        std::lock_guard lk(mu);
        ++stats.tells;
        h = on_tell;
      }
      if (h) h(in->from, in->env);
      continue;
    }
    co_await handle_request(std::move(*in));
  }
}

asio::awaitable<void> Node::Impl::stream_worker(AsyncQueue<Inbound>& q) {
  auto self = shared_from_this();
  for (;;) {
    Result<Inbound> in = make_error_code(NetworkError::TimeoutError);
    if (auto ready = q.try_pop()) in = std::move(*ready);
    else in = co_await q.pop(kNoDeadline);
    if (!in) {
      if (in.error() == NetworkError::ChannelClosed || in.error() == NetworkCondition::Cancelled) co_return;
      continue;
    }
    ChunkHandler h;
    {
      std::lock_guard lk(mu);
      ++stats.chunks;
      h = on_chunk;
    }
    if (h) h(in->from, in->pt, in->chunk);
  }
}

void Node::Impl::expire_dedup_locked(Clock::time_point now) {
  // Oldest completed entries leave first: past the TTL, or while the cache is over its byte cap.
  // In-flight entries are never evicted (a retry must not run the handler twice).
  // Every completed entry is in the map once and in dedup_expiry once, and leaves both here.
  while (!dedup_expiry.empty() &&
         (now - dedup_expiry.front()->completed > cfg.dedup_ttl || dedup_bytes > cfg.dedup_max_bytes)) {
    const auto& old = dedup_expiry.front();
    if (auto it = dedup.find(old->key_view()); it != dedup.end() && it->second == old) dedup.erase(it);
    dedup_bytes -= old->charged;
    dedup_expiry.pop_front();
  }
}

// The synchronous steps of a request live outside handle_request, so its coroutine frame stays
// within the ~1 KiB Asio recycles (GCC keeps every local of a coroutine in its frame, and a
// larger frame is a trip through malloc's slow path per request).
Node::Impl::Admitted Node::Impl::admit_request(const Inbound& in) {
  DedupKey key = dedup_key(in.from, in.env.request_id());
  Admitted a;
  std::lock_guard lk(mu);
  expire_dedup_locked(Clock::now());
  if (auto it = dedup.find(std::string_view(key.data(), key.size())); it != dedup.end()) {
    a.entry = it->second;
    ++stats.duplicates;
    return a;
  }
  a.entry = std::make_shared<DedupEntry>();
  a.entry->key = std::move(key);
  dedup.emplace(a.entry->key_view(), a.entry);
  a.original = true;
  a.handler = on_request;
  ++stats.requests;
  return a;
}

const Bytes& Node::Impl::answer_request(const Inbound& in, const std::shared_ptr<DedupEntry>& e, Result<Bytes> r) {
  DedupEntry& entry = *e;
  pb::RpcEnvelope resp;
  resp.set_route_key(in.env.route_key());
  resp.set_request_id(in.env.request_id());
  resp.set_direction(pb::DIRECTION_RESPONSE);
  resp.set_timeout_ms(0);
  if (in.env.has_traceparent()) resp.set_traceparent(in.env.traceparent());
  Bytes encoded;
  if (r) {
    encoded = node::encode_envelope(resp, *r);
  } else {
    // The caller gets a typed error instead of waiting for its deadline (H-RPC-2).
    // actr HEAD's code table, so an actr caller reads the same error we mean (W13).
    resp.mutable_error()->set_code(static_cast<std::uint32_t>(to_rpc_error_code(r.error())));
    resp.mutable_error()->set_message(r.error().message());
    encoded = encode(resp);
  }
  {
    std::lock_guard lk(mu);
    entry.response = std::move(encoded);
    entry.answered = true;
    entry.completed = Clock::now();
    entry.charged = kDedupEntryOverhead + entry.key.size() + entry.response.size();
    dedup_bytes += entry.charged;
    dedup_expiry.push_back(e);
    expire_dedup_locked(entry.completed);
  }
  entry.done.notify();
  return entry.response;
}

namespace {
Error handler_threw(const Inbound& in, const std::exception& e) {
  spdlog::error("actr: request handler for {} threw: {}", in.env.route_key(), e.what());
  return make_error_code(NetworkError::Internal);
}

void log_undelivered(const Inbound& in, const Error& e) {
  static detail::LogLimiter undelivered;  // a caller that hangs up before its answers, over and over
  if (const auto nth = undelivered.tick())
    spdlog::info("actr: response to {} not delivered: {} ({} so far)", in.from.to_string(), e.message(), nth);
}
}  // namespace

asio::awaitable<void> Node::Impl::handle_request(Inbound in) {
  Admitted a = admit_request(in);
  const auto deadline = Clock::now() + std::chrono::milliseconds(std::max<std::int64_t>(in.env.timeout_ms(), 1));
  // The answer lives in the entry, which this coroutine holds: eviction cannot free it mid-send.
  const Bytes* answer = nullptr;
  if (a.original) {
    Result<Bytes> r = make_error_code(NetworkError::NotImplemented);
    if (a.handler) {
      try {
        r = co_await a.handler(in.from, in.env);
      } catch (const std::exception& e) {
        r = handler_threw(in, e);
      }
    }
    answer = &answer_request(in, a.entry, std::move(r));
  } else {
    // A retry of a request still running: wait for the original's answer, never run it twice.
    for (;;) {
      const auto seen = a.entry->done.version();
      {
        std::lock_guard lk(mu);
        if (a.entry->answered) {
          answer = &a.entry->response;
          break;
        }
      }
      auto w = co_await a.entry->done.async_wait_change(seen, deadline);
      if (!w) co_return;
    }
  }
  auto sent = co_await reply(in, *answer, deadline);
  if (!sent) log_undelivered(in, sent.error());
}

}  // namespace actr
