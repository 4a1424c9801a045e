#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace actr::cli {

struct NodeArgs {
  std::string id, listen;
  std::vector<std::string> peers;
  bool echo = false;
  int keepalive_ms = 1000;
};
struct CallArgs {
  std::string id = "ca11e2@101/actr:cli:1.0.0";
  std::string to, url, klass = "rpc";
  int count = 1, size = 64, timeout_ms = 2000;
  bool json = false;
};
struct DemoArgs {
  int calls = 200;
  bool json = false;
};

int run_node(const NodeArgs& a);
int run_call(const CallArgs& a);
int run_demo(const DemoArgs& a);

}  // namespace actr::cli
