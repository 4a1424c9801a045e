// The Redis link: hiredis's blocking API on two threads of our own. Why not an Asio adapter of
// hiredis's async API: the server's executor would then run hiredis's parser and its callbacks
// for every engine message, and a slow engine could not hold up a client's strand anyway (every
// server-side send is a non-waiting enqueue). Blocking calls on owned threads are the simplest
// thing that pipelines (a batch is written before its replies are read) and stops in bounded
// time (the subscriber's blocking read is woken by shutting its socket down).
#include "signaling/redis_link.hpp"

#include <actr/detail/log_limit.hpp>
#include <actr/error.hpp>

#include <hiredis/hiredis.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>

#include <charconv>

namespace actr::sig {

namespace {

using Ctx = std::unique_ptr<redisContext, decltype(&redisFree)>;

timeval to_timeval(std::chrono::milliseconds d) {
  return timeval{static_cast<time_t>(d.count() / 1000), static_cast<suseconds_t>((d.count() % 1000) * 1000)};
}

Ctx connect(const RedisLinkConfig& cfg, std::string& why) {
  const auto tv = to_timeval(cfg.io_timeout);
  redisContext* c = cfg.address.unix_path.empty()
                        ? redisConnectWithTimeout(cfg.address.host.c_str(), cfg.address.port, tv)
                        : redisConnectUnixWithTimeout(cfg.address.unix_path.c_str(), tv);
  Ctx ctx(c, &redisFree);
  if (!c) {
    why = "out of memory";
    return Ctx(nullptr, &redisFree);
  }
  if (c->err) {
    why = c->errstr;
    return Ctx(nullptr, &redisFree);
  }
  return ctx;
}

RedisReply copy(const redisReply* r) {
  RedisReply out;
  switch (r->type) {
    case REDIS_REPLY_STRING:
    case REDIS_REPLY_STATUS:
      out.type = RedisReply::Type::String;
      out.str.assign(r->str, r->len);
      break;
    case REDIS_REPLY_ERROR:
      out.type = RedisReply::Type::Error;
      out.str.assign(r->str, r->len);
      break;
    case REDIS_REPLY_INTEGER:
      out.type = RedisReply::Type::Integer;
      out.integer = r->integer;
      break;
    case REDIS_REPLY_ARRAY:
      out.type = RedisReply::Type::Array;
      out.elements.reserve(r->elements);
      for (std::size_t i = 0; i < r->elements; ++i) out.elements.push_back(copy(r->element[i]));
      break;
    default:
      break;  // Nil
  }
  return out;
}

/// One reply, or nullopt when the connection failed (then `c->err` says why).
std::optional<RedisReply> read_reply(redisContext* c) {
  void* raw = nullptr;
  if (redisGetReply(c, &raw) != REDIS_OK || !raw) return std::nullopt;
  auto r = copy(static_cast<redisReply*>(raw));
  freeReplyObject(raw);
  return r;
}

void append(redisContext* c, const std::vector<std::string>& args) {
  std::vector<const char*> argv;
  std::vector<std::size_t> lens;
  argv.reserve(args.size());
  lens.reserve(args.size());
  for (const auto& a : args) {
    argv.push_back(a.data());
    lens.push_back(a.size());
  }
  redisAppendCommandArgv(c, static_cast<int>(args.size()), argv.data(), lens.data());
}

}  // namespace

Result<RedisAddress> parse_redis_url(const std::string& url) {
  RedisAddress a;
  constexpr std::string_view kRedis = "redis://", kUnix = "unix://";
  std::string_view u = url;
  if (u.starts_with(kUnix)) {
    a.unix_path = std::string(u.substr(kUnix.size()));
    if (a.unix_path.empty() || a.unix_path.front() != '/') return make_error_code(NetworkError::InvalidArgument);
    return a;
  }
  if (!u.starts_with(kRedis)) return make_error_code(NetworkError::InvalidArgument);
  u.remove_prefix(kRedis.size());
  if (auto slash = u.find('/'); slash != std::string_view::npos) u = u.substr(0, slash);  // no database index
  std::string_view host = u, port;
  if (u.starts_with('[')) {  // [v6]:port
    const auto close = u.find(']');
    if (close == std::string_view::npos) return make_error_code(NetworkError::InvalidArgument);
    host = u.substr(1, close - 1);
    if (close + 1 < u.size()) {
      if (u[close + 1] != ':') return make_error_code(NetworkError::InvalidArgument);
      port = u.substr(close + 2);
    }
  } else if (auto colon = u.rfind(':'); colon != std::string_view::npos) {
    host = u.substr(0, colon);
    port = u.substr(colon + 1);
  }
  if (host.empty()) return make_error_code(NetworkError::InvalidArgument);
  a.host = std::string(host);
  if (!port.empty()) {
    unsigned p = 0;
    auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), p);
    if (ec != std::errc{} || end != port.data() + port.size() || p == 0 || p > 65535)
      return make_error_code(NetworkError::InvalidArgument);
    a.port = static_cast<std::uint16_t>(p);
  }
  return a;
}

RedisLink::RedisLink(RedisLinkConfig cfg, OnMessage on_message, std::function<void()> on_up)
    : cfg_(std::move(cfg)), on_message_(std::move(on_message)), on_up_(std::move(on_up)) {}

RedisLink::~RedisLink() { stop(); }

void RedisLink::start() {
  std::lock_guard lk(mu_);
  if (stopping_ || commands_.joinable()) return;
  commands_ = std::thread([this] { command_loop(); });
  subscriber_ = std::thread([this] { subscriber_loop(); });
}

void RedisLink::stop() {
  std::deque<Pending> failed;
  {
    std::lock_guard lk(mu_);
    stopping_ = true;
    failed.swap(queue_);
  }
  cv_.notify_all();
  kick_subscriber();
  if (commands_.joinable()) commands_.join();
  if (subscriber_.joinable()) subscriber_.join();
  for (auto& p : failed) p.done(make_error_code(NetworkError::ShuttingDown));
}

void RedisLink::kick_subscriber() {
  std::lock_guard lk(mu_);
  if (sub_fd_ >= 0) ::shutdown(sub_fd_, SHUT_RDWR);
}

bool RedisLink::up() const {
  std::lock_guard lk(mu_);
  return up_;
}

std::uint64_t RedisLink::connects() const {
  std::lock_guard lk(mu_);
  return connects_;
}

void RedisLink::command(std::vector<std::string> args, Done done) {
  std::error_code refused;
  {
    std::lock_guard lk(mu_);
    if (stopping_)
      refused = make_error_code(NetworkError::ShuttingDown);
    else if (!up_)
      refused = make_error_code(NetworkError::NetworkUnreachable);
    else
      queue_.push_back(Pending{std::move(args), std::move(done)});
  }
  if (refused) {
    done(refused);
    return;
  }
  cv_.notify_one();
}

bool RedisLink::pause(std::chrono::milliseconds d) {
  std::unique_lock lk(mu_);
  return !cv_.wait_for(lk, d, [this] { return stopping_; });
}

void RedisLink::command_loop() {
  Backoff backoff(cfg_.backoff);
  std::string why;
  for (;;) {
    Ctx ctx = connect(cfg_, why);
    if (ctx) redisSetTimeout(ctx.get(), to_timeval(cfg_.io_timeout));
    if (!ctx) {
      if (detail::nth_is_logged(backoff.attempts()))
        spdlog::warn("actr signal: cluster engine unreachable ({}); retrying", why);
      if (!pause(backoff.next_delay().value_or(cfg_.backoff.max))) return;
      continue;
    }
    backoff.reset();
    {
      std::lock_guard lk(mu_);
      if (stopping_) return;
      up_ = true;
      ++connects_;
    }
    spdlog::info("actr signal: cluster engine connected");
    on_up_();
    std::vector<Pending> batch;
    for (;;) {
      {
        std::unique_lock lk(mu_);
        cv_.wait(lk, [this] { return stopping_ || !queue_.empty(); });
        if (stopping_) return;
        while (!queue_.empty() && batch.size() < cfg_.max_batch) {
          batch.push_back(std::move(queue_.front()));
          queue_.pop_front();
        }
      }
      for (const auto& p : batch) append(ctx.get(), p.args);
      std::size_t answered = 0;
      for (; answered < batch.size(); ++answered) {
        auto r = read_reply(ctx.get());
        if (!r) break;
        if (r->type == RedisReply::Type::Error) {
          spdlog::warn("actr signal: cluster engine refused {}: {}", batch[answered].args.front(), r->str);
          batch[answered].done(make_error_code(NetworkError::ProtocolError));
        } else {
          batch[answered].done(std::move(*r));
        }
      }
      if (answered < batch.size()) {
        spdlog::warn("actr signal: cluster engine connection failed: {}", ctx->errstr);
        std::deque<Pending> failed;
        {
          std::lock_guard lk(mu_);
          up_ = false;
          failed.swap(queue_);  // nothing waits for a connection that may take long to return
        }
        for (std::size_t i = answered; i < batch.size(); ++i)
          batch[i].done(make_error_code(NetworkError::ConnectionClosed));
        for (auto& p : failed) p.done(make_error_code(NetworkError::NetworkUnreachable));
        batch.clear();
        kick_subscriber();  // the engine may have restarted: subscribe anew
        break;
      }
      batch.clear();
    }
  }
}

void RedisLink::subscriber_loop() {
  Backoff backoff(cfg_.backoff);
  std::string why;
  for (;;) {
    {
      std::lock_guard lk(mu_);
      if (stopping_) return;
    }
    Ctx ctx = connect(cfg_, why);
    bool subscribed = false;
    if (ctx) {
      redisEnableKeepAlive(ctx.get());
      {
        std::lock_guard lk(mu_);
        if (stopping_) return;
        sub_fd_ = ctx->fd;
      }
      // The subscribe reply is awaited with the I/O timeout; then reads block until a message
      // arrives or `kick_subscriber` shuts the socket down.
      redisSetTimeout(ctx.get(), to_timeval(cfg_.io_timeout));
      append(ctx.get(), {"SUBSCRIBE", cfg_.channel});
      auto ack = read_reply(ctx.get());
      subscribed = ack && ack->type == RedisReply::Type::Array;
      redisSetTimeout(ctx.get(), timeval{0, 0});
      if (subscribed) backoff.reset();
      while (subscribed) {
        auto m = read_reply(ctx.get());
        if (!m) break;
        // ["message", channel, payload]
        if (m->type == RedisReply::Type::Array && m->elements.size() == 3 && m->elements[0].str == "message")
          on_message_(std::move(m->elements[2].str));
      }
      std::lock_guard lk(mu_);
      sub_fd_ = -1;
      if (stopping_) return;
    }
    if (!pause(backoff.next_delay().value_or(cfg_.backoff.max))) return;
  }
}

}  // namespace actr::sig
