// The peer the fault suite kills: an `actr` Node that answers calls and receives STREAM_RELIABLE
// chunks, and writes down on stdout, as it happens, everything it handled. The test reads that
// pipe; what a SIGKILLed process wrote there survives it, so the pipe is the receiver's durable
// log across restarts.
//
//   actr_fault_peer ID PORT      (PORT 0 picks one; prints "listening PORT" once serving)
//
// Lines: "r N" when the handler of call N (an 8-byte big-endian number) runs; "c S" when chunk S
// of STREAM_RELIABLE is handled. Route "fault.acked" answers "F L": the first and the last chunk
// sequence this process handled (-1 -1 before any) — the receiver's acknowledgement.
#include <actr/node.hpp>

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>

using namespace actr;
namespace asio = boost::asio;

namespace {

// One write(2) per line, no stdio buffer: the line is in the pipe before the handler returns,
// so a SIGKILL right after cannot take it back.
void log_line(const std::string& s) {
  const std::string line = s + "\n";
  (void)!::write(STDOUT_FILENO, line.data(), line.size());
}

std::uint64_t number_of(const std::string& payload) {
  std::uint64_t n = 0;
  for (unsigned char c : payload) n = (n << 8) | c;
  return n;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: actr_fault_peer ID PORT\n");
    return 2;
  }
  spdlog::set_default_logger(spdlog::stderr_color_mt("fault_peer"));  // stdout is the log of what it handled
  auto id = ActrId::parse(argv[1]);
  if (!id) return 2;
  NodeConfig cfg;
  cfg.id = *id;
  cfg.listen_port = static_cast<std::uint16_t>(std::atoi(argv[2]));
  if (const char* ka = std::getenv("ACTR_FAULT_KEEPALIVE_MS"))
    cfg.wires.ws.keepalive_interval = std::chrono::milliseconds(std::atoi(ka));
  asio::io_context io;
  Node node(io.get_executor(), cfg);
  long long first = -1, last = -1;  // the io thread only
  node.on_request([&](ActrId, pb::RpcEnvelope req) -> asio::awaitable<Result<Bytes>> {
    if (req.route_key() == "fault.acked") {
      const auto s = std::to_string(first) + " " + std::to_string(last);
      co_return Bytes(s.begin(), s.end());
    }
    log_line("r " + std::to_string(number_of(req.payload())));
    co_return Bytes(req.payload().begin(), req.payload().end());
  });
  node.on_chunk([&](const ActrId&, PayloadType pt, const pb::DataStream& c) {
    if (pt != PayloadType::StreamReliable) return;
    log_line("c " + std::to_string(c.sequence()));
    if (first < 0) first = static_cast<long long>(c.sequence());
    last = static_cast<long long>(c.sequence());
  });
  asio::signal_set signals(io, SIGTERM, SIGINT);
  signals.async_wait([&](const boost::system::error_code&, int) { io.stop(); });
  auto port = node.start();
  if (!port) return 1;
  log_line("listening " + std::to_string(*port));
  io.run();
  return 0;
}
