#pragma once
#include <actr/types.hpp>
#include <actr/wire_pool.hpp>

#include <string>

namespace actr::testing {
inline ActrId actor_id(std::uint64_t serial, std::string name = "peer") {
  return ActrId{Realm{101}, serial, ActrType{"acme", std::move(name), "1.0.0"}};
}
inline Dest actor(std::uint64_t serial) { return Dest::actor(actor_id(serial)); }
inline Bytes bytes(std::string_view s) { return Bytes(s.begin(), s.end()); }
// Fast connect retries for tests: 3 attempts, 1 ms apart, no jitter.
inline WirePoolConfig fast_pool() {
  WirePoolConfig c;
  c.connect_backoff.initial = std::chrono::milliseconds{1};
  c.connect_backoff.max = std::chrono::milliseconds{2};
  c.connect_backoff.jitter = 0;
  c.close_timeout = std::chrono::milliseconds{200};
  return c;
}
}  // namespace actr::testing
