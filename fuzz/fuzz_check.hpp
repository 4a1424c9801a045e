#pragma once
// Shared by the fuzz targets: FUZZ_CHECK(cond) aborts with the failed condition, so a broken
// invariant is a crash libFuzzer records (assert() would vanish under NDEBUG);
// forbid_protobuf_logs() makes any libprotobuf log line such a crash too (a line per inbound
// message would let a peer flood the log).

#include <google/protobuf/stubs/logging.h>

#include <cstdio>
#include <cstdlib>
#include <string>

#define FUZZ_CHECK(cond)                                                                   \
  do {                                                                                     \
    if (!(cond)) {                                                                         \
      std::fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__, __LINE__, #cond);    \
      std::abort();                                                                        \
    }                                                                                      \
  } while (0)

namespace actr::fuzz {

inline void forbid_protobuf_logs() {
  google::protobuf::SetLogHandler([](google::protobuf::LogLevel, const char* file, int line, const std::string& msg) {
    std::fprintf(stderr, "libprotobuf logged %s:%d: %s\n", file, line, msg.c_str());
    std::abort();
  });
}

}  // namespace actr::fuzz
