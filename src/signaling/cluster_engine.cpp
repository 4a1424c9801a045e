// The cluster's state in Redis: each operation is one Lua script, so a check and its write are
// atomic in the engine (two servers that claim one id at once: one wins). Scripts are sent with
// EVAL each time; Redis caches them by digest, and they are a few hundred bytes.
// Expiry scores use the engine's clock (TIME), so servers with skewed clocks agree.
#include "signaling/cluster_engine.hpp"

#include <actr/detail/log_limit.hpp>
#include <actr/error.hpp>
#include <actr/hex.hpp>
#include <actr/signaling.hpp>

#include "cluster.pb.h"

#include <boost/asio/dispatch.hpp>
#include <spdlog/spdlog.h>

namespace actr::sig {

namespace asio = boost::asio;

namespace {

constexpr std::string_view kPrefix = "actr:";

std::string reg_key(const ActrId& id) { return std::string(kPrefix) + "reg:" + id.to_string(); }
std::string type_key(const ActrType& t) { return std::string(kPrefix) + "type:" + t.manufacturer + ":" + t.name; }
std::string types_key() { return std::string(kPrefix) + "types"; }
std::string contacts_key(const ActrId& id) { return std::string(kPrefix) + "contacts:" + id.to_string(); }
std::string channel(const std::string& server) { return std::string(kPrefix) + "srv:" + server; }

// KEYS: reg, type set, types. ARGV: srv, inst, ws, cred, ttl_ms, force, previous, id, type, ans.
// Granted: {"ok", previous srv, previous inst, previous cred}; refused: {"held", srv}.
constexpr const char* kClaim = R"lua(
local cur = redis.call('HMGET', KEYS[1], 'srv', 'inst', 'cred')
local srv, inst, cred = cur[1], cur[2], cur[3]
if srv and srv ~= ARGV[1] and ARGV[6] ~= '1' and not (ARGV[7] ~= '' and cred == ARGV[7]) then
  return {'held', srv}
end
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'srv', ARGV[1], 'inst', ARGV[2], 'ws', ARGV[3], 'cred', ARGV[4], 'ans', ARGV[10])
redis.call('PEXPIRE', KEYS[1], ARGV[5])
local t = redis.call('TIME')
local expiry = t[1] * 1000 + math.floor(t[2] / 1000) + tonumber(ARGV[5])
redis.call('ZADD', KEYS[2], expiry, ARGV[8])
redis.call('ZADD', KEYS[3], expiry, ARGV[9])
return {'ok', srv or '', inst or '', cred or ''}
)lua";

// KEYS: reg, type set. ARGV: srv, id.
constexpr const char* kRelease = R"lua(
if redis.call('HGET', KEYS[1], 'srv') ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1])
redis.call('ZREM', KEYS[2], ARGV[2])
return 1
)lua";

// KEYS: reg of the target. ARGV: channel prefix, message. -1: nobody holds it; else receivers.
constexpr const char* kRoute = R"lua(
local srv = redis.call('HGET', KEYS[1], 'srv')
if not srv then return -1 end
return redis.call('PUBLISH', ARGV[1] .. srv, ARGV[2])
)lua";

// KEYS: a sorted set scored by expiry. ARGV: limit, reg key prefix ('' for no addresses).
// Members that have not expired (expired ones are removed), each followed by its ws address.
constexpr const char* kLive = R"lua(
local t = redis.call('TIME')
local now = t[1] * 1000 + math.floor(t[2] / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local members = redis.call('ZRANGEBYSCORE', KEYS[1], now, '+inf', 'LIMIT', 0, tonumber(ARGV[1]))
local out = {}
for _, m in ipairs(members) do
  out[#out + 1] = m
  if ARGV[2] ~= '' then out[#out + 1] = redis.call('HGET', ARGV[2] .. m, 'ws') or '' end
end
return out
)lua";

// KEYS: contacts of a, ARGV: b, ttl_ms, bound.
constexpr const char* kAddContact = R"lua(
redis.call('SADD', KEYS[1], ARGV[1])
if redis.call('SCARD', KEYS[1]) > tonumber(ARGV[3]) then redis.call('SPOP', KEYS[1]) end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
)lua";

// KEYS: contacts of id. ARGV: reg key prefix. {peer, srv, ...} for the peers registered now.
constexpr const char* kContacts = R"lua(
local out = {}
for _, m in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  local srv = redis.call('HGET', ARGV[1] .. m, 'srv')
  if srv then out[#out + 1] = m; out[#out + 1] = srv end
end
return out
)lua";

std::string as_string(const Bytes& b) { return {reinterpret_cast<const char*>(b.data()), b.size()}; }

std::string encode(const pb::ClusterMessage& m) {
  std::string s;
  m.SerializeToString(&s);
  return s;
}

Error protocol() { return make_error_code(NetworkError::ProtocolError); }

}  // namespace

}  // namespace actr::sig

namespace actr {
bool signaling_cluster_url_valid(const std::string& url) { return bool(sig::parse_redis_url(url)); }
}  // namespace actr

namespace actr::sig {

ClusterEngine::ClusterEngine(Strand ex, ClusterEngineConfig cfg, OnMessage on_message, std::function<void()> on_up)
    : cfg_(std::move(cfg)), server_id_(random_hex(16)), ex_(std::move(ex)), on_message_(std::move(on_message)),
      link_(
          [&] {
            auto address = parse_redis_url(cfg_.url);
            if (!address) throw std::invalid_argument("cluster URL must be redis://HOST[:PORT] or unix:///PATH");
            RedisLinkConfig lc;
            lc.address = *address;
            lc.channel = channel(server_id_);
            lc.io_timeout = cfg_.io_timeout;
            lc.backoff.initial = std::chrono::milliseconds{100};
            lc.backoff.max = std::chrono::milliseconds{2000};
            return lc;
          }(),
          [this](std::string payload) { on_raw(std::move(payload)); }, std::move(on_up)) {}

ClusterEngine::~ClusterEngine() { stop(); }

void ClusterEngine::start() { link_.start(); }
void ClusterEngine::stop() { link_.stop(); }

void ClusterEngine::on_raw(std::string payload) {
  pb::ClusterMessage m;
  if (!m.ParseFromString(payload)) {
    // Only servers publish on our channel; a message we cannot parse is another build's.
    if (detail::nth_is_logged(malformed_.fetch_add(1) + 1))
      spdlog::warn("actr signal: dropped a cluster message that does not parse ({} so far)", malformed_.load());
    return;
  }
  received_.fetch_add(1);
  on_message_(std::move(m));
}

asio::awaitable<Result<RedisReply>> ClusterEngine::call(std::vector<std::string> args) {
  // The reply arrives on the link's thread, which hands it to our strand; the strand hands it to
  // the coroutine's own executor. The link's thread never copies that executor (it may be a
  // type-erased strand; see the constructor's contract).
  co_return co_await asio::async_initiate<decltype(asio::use_awaitable), void(Result<RedisReply>)>(
      [this](auto handler, std::vector<std::string> a) {
        auto h = std::make_shared<decltype(handler)>(std::move(handler));
        link_.command(std::move(a), [ex = ex_, h = std::move(h)](Result<RedisReply> r) mutable {
          asio::post(ex, [h = std::move(h), r = std::move(r)]() mutable {
            auto target = asio::get_associated_executor(*h);
            asio::dispatch(target, [h = std::move(h), r = std::move(r)]() mutable { (*h)(std::move(r)); });
          });
        });
      },
      asio::use_awaitable, std::move(args));
}

std::vector<std::string> ClusterEngine::claim_args(const ClaimRequest& r) const {
  return {"EVAL",
          kClaim,
          "3",
          reg_key(r.id),
          type_key(r.id.type),
          types_key(),
          server_id_,
          r.instance,
          r.ws_address.value_or(""),
          as_string(r.credential),
          std::to_string(cfg_.ttl.count()),
          r.force ? "1" : "0",
          r.previous ? as_string(*r.previous) : "",
          r.id.to_string(),
          r.id.type.to_string(),
          r.answers ? "1" : "0"};
}

namespace {
Result<ClaimResult> claim_result(const Result<RedisReply>& r) {
  if (!r) return r.error();
  const auto& e = r->elements;
  if (r->type != RedisReply::Type::Array || e.size() < 2) return protocol();
  ClaimResult out;
  out.holder = e[1].str;
  if (e[0].str == "held") {
    out.held_elsewhere = true;
    return out;
  }
  if (e.size() < 4) return protocol();
  out.previous_instance = e[2].str;
  out.previous_credential.assign(e[3].str.begin(), e[3].str.end());
  return out;
}
}  // namespace

asio::awaitable<Result<ClaimResult>> ClusterEngine::claim(const ClaimRequest& r) {
  auto reply = co_await call(claim_args(r));
  co_return claim_result(reply);
}

void ClusterEngine::claim(const ClaimRequest& r, std::function<void(Result<ClaimResult>)> done) {
  link_.command(claim_args(r), [ex = ex_, done = std::move(done)](Result<RedisReply> reply) {
    asio::post(ex, [done, c = claim_result(reply)]() { done(c); });
  });
}

void ClusterEngine::release(const ActrId& id, std::function<void(bool)> done) {
  link_.command(std::vector<std::string>{"EVAL", kRelease, "2", reg_key(id), type_key(id.type), server_id_, id.to_string()},
                [ex = ex_, done = std::move(done)](Result<RedisReply> r) {
                  // Unanswered counts as released: only another server's holder keeps the id alive.
                  const bool released = !r || r->type != RedisReply::Type::Integer || r->integer == 1;
                  asio::post(ex, [done, released]() { done(released); });
                });
}

void ClusterEngine::route(const ActrId& target, const pb::ClusterMessage& m, std::function<void(bool)> done) {
  published_.fetch_add(1);
  link_.command(std::vector<std::string>{"EVAL", kRoute, "1", reg_key(target), channel(""), encode(m)},
                [ex = ex_, done = std::move(done)](Result<RedisReply> r) {
                  const bool delivered = r && r->type == RedisReply::Type::Integer && r->integer > 0;
                  asio::post(ex, [done, delivered]() { done(delivered); });
                });
}

void ClusterEngine::publish(const std::string& server, const pb::ClusterMessage& m) {
  published_.fetch_add(1);
  link_.command(std::vector<std::string>{"PUBLISH", channel(server), encode(m)}, [](Result<RedisReply>) {});
}

asio::awaitable<Result<std::vector<ClusterLocation>>> ClusterEngine::candidates(const ActrType& type,
                                                                                std::uint32_t limit) {
  std::vector<std::string> args{"EVAL", kLive, "1", type_key(type), std::to_string(limit), std::string(kPrefix) + "reg:"};
  auto r = co_await call(std::move(args));
  if (!r) co_return r.error();
  std::vector<ClusterLocation> out;
  for (std::size_t i = 0; i + 1 < r->elements.size(); i += 2) {
    auto id = ActrId::parse(r->elements[i].str);
    if (!id) continue;  // written by a server of another build; not ours to hand out
    const auto& ws = r->elements[i + 1].str;
    out.push_back({*id, ws.empty() ? std::nullopt : std::optional<std::string>(ws)});
  }
  co_return out;
}

asio::awaitable<Result<std::vector<ActrType>>> ClusterEngine::types(std::uint32_t limit) {
  std::vector<std::string> args{"EVAL", kLive, "1", types_key(), std::to_string(limit), ""};
  auto r = co_await call(std::move(args));
  if (!r) co_return r.error();
  std::vector<ActrType> out;
  for (const auto& e : r->elements)
    if (auto t = ActrType::parse(e.str)) out.push_back(*t);
  co_return out;
}

asio::awaitable<Result<ClusterLocation>> ClusterEngine::locate(const ActrId& id) {
  std::vector<std::string> args{"HMGET", reg_key(id), "srv", "ws"};
  auto r = co_await call(std::move(args));
  if (!r) co_return r.error();
  if (r->type != RedisReply::Type::Array || r->elements.size() != 2) co_return protocol();
  if (r->elements[0].is_nil()) co_return make_error_code(NetworkError::ConnectionNotFound);
  const auto& ws = r->elements[1].str;
  co_return ClusterLocation{id, ws.empty() ? std::nullopt : std::optional<std::string>(ws)};
}

void ClusterEngine::add_contact(const ActrId& a, const ActrId& b) {
  link_.command(std::vector<std::string>{"EVAL", kAddContact, "1", contacts_key(a), b.to_string(), std::to_string(cfg_.contact_ttl.count()),
                 "256"},
                [](Result<RedisReply>) {});
}

asio::awaitable<Result<std::vector<std::pair<ActrId, std::string>>>> ClusterEngine::contacts(const ActrId& id) {
  std::vector<std::string> args{"EVAL", kContacts, "1", contacts_key(id), std::string(kPrefix) + "reg:"};
  auto r = co_await call(std::move(args));
  if (!r) co_return r.error();
  std::vector<std::pair<ActrId, std::string>> out;
  for (std::size_t i = 0; i + 1 < r->elements.size(); i += 2)
    if (auto peer = ActrId::parse(r->elements[i].str)) out.emplace_back(*peer, r->elements[i + 1].str);
  co_return out;
}

}  // namespace actr::sig
