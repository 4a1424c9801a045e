#pragma once
// Private: one signaling server's link to the Redis server its cluster shares (hiredis).
//
// Two connections, each on a thread the link owns:
// - the command connection: commands are queued and sent in queue order, pipelined in batches;
//   every command completes exactly once — with its reply, or with an error when the engine is
//   unreachable (at once, nothing is queued while it is down) or the connection fails (within
//   `io_timeout`).
// - the subscriber connection: SUBSCRIBE to `channel`; each message is handed to `on_message`
//   in the order Redis published it.
// Both reconnect by themselves (jittered backoff). `on_up` runs each time the command connection
// is (re)established: the owner then re-asserts what the engine may have lost (a restarted Redis
// keeps nothing when it runs without persistence). Callbacks run on the link's threads: the owner
// posts them to its executor. `stop()` joins both threads within `io_timeout`; it is idempotent.

#include <actr/backoff.hpp>
#include <actr/result.hpp>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace actr::sig {

/// A Redis reply, owned (hiredis's reply tree copied out).
struct RedisReply {
  enum class Type : std::uint8_t { Nil, Integer, String, Array, Error };
  Type type = Type::Nil;
  long long integer = 0;
  std::string str;  // String, Error (and status replies, as String)
  std::vector<RedisReply> elements;

  bool is_nil() const noexcept { return type == Type::Nil; }
};

/// Where the engine is: `redis://HOST:PORT` (the port defaults to 6379) or `unix:///path`.
struct RedisAddress {
  std::string host;
  std::uint16_t port = 6379;
  std::string unix_path;  // set: a Unix socket, host/port unused
};
/// Errors: `NetworkError::InvalidArgument`.
Result<RedisAddress> parse_redis_url(const std::string& url);

struct RedisLinkConfig {
  RedisAddress address;
  std::string channel;  // subscribed to by the subscriber connection
  std::chrono::milliseconds io_timeout{2000};  // connect, and each reply
  BackoffConfig backoff{};                     // between reconnect attempts
  std::size_t max_batch = 256;                 // commands written before their replies are read
};

class RedisLink {
 public:
  using Done = std::function<void(Result<RedisReply>)>;
  using OnMessage = std::function<void(std::string)>;

  RedisLink(RedisLinkConfig cfg, OnMessage on_message, std::function<void()> on_up);
  ~RedisLink();  // stop()
  RedisLink(const RedisLink&) = delete;
  RedisLink& operator=(const RedisLink&) = delete;

  void start();
  void stop();

  /// Queues one command (`args` as Redis receives them, binary-safe). `done` runs on the command
  /// thread. Errors: `NetworkError::NetworkUnreachable` while the engine is unreachable,
  /// `ConnectionClosed` if the connection failed with it unanswered, `ShuttingDown` after stop,
  /// `ProtocolError` for a Redis error reply (its text is logged).
  void command(std::vector<std::string> args, Done done);

  /// The command connection is established now.
  bool up() const;
  /// Times the command connection was established (1 after the first connect).
  std::uint64_t connects() const;

 private:
  struct Pending {
    std::vector<std::string> args;
    Done done;
  };
  void command_loop();
  void subscriber_loop();
  /// Waits `d` or until stop; false if stopped.
  bool pause(std::chrono::milliseconds d);
  void kick_subscriber();

  const RedisLinkConfig cfg_;
  const OnMessage on_message_;
  const std::function<void()> on_up_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Pending> queue_;
  bool stopping_ = false;
  bool up_ = false;
  std::uint64_t connects_ = 0;
  int sub_fd_ = -1;  // the subscriber's socket, shut down to wake its blocking read
  std::thread commands_, subscriber_;
};

}  // namespace actr::sig
