// Two nodes talking over a WebRTC DataChannel set up through a signaling server, on 127.0.0.1.
//   webrtc_echo                    embeds the library's SignalingServer
//   webrtc_echo ws://HOST:PORT/    uses a running `actr signal --listen 127.0.0.1:0` instead
// Node B answers requests; node A calls it until an answer has come over WebRTC (the first calls
// may ride WebSocket while the DataChannels are set up). A finds B's addresses through signaling
// alone: no address book. Exit 0 once a call has gone over WebRTC, 1 if a call fails, if none
// has after 20 s of calls, or after 30 s in all.
#include "deadline.hpp"

#include <actr/node.hpp>
#include <actr/signaling.hpp>
#include <actr/webrtc.hpp>

#include <boost/asio/io_context.hpp>

#include <chrono>
#include <cstdio>
#include <optional>
#include <string>

namespace asio = boost::asio;
using namespace std::chrono_literals;

namespace {

actr::NodeConfig node_config(const char* id, const std::string& signal_url) {
  actr::NodeConfig c;
  c.id = *actr::ActrId::parse(id);
  c.signal_url = signal_url;                 // register, discover, and set up WebRTC there
  c.webrtc.local_addresses = {"127.0.0.1"};  // ICE candidates on loopback only
  return c;
}

}  // namespace

int main(int argc, char** argv) {
  asio::io_context io;
  std::optional<actr::SignalingServer> embedded;
  std::string signal_url;
  if (argc > 1) {
    signal_url = argv[1];
  } else {
    embedded.emplace(io.get_executor());
    const auto port = embedded->listen("127.0.0.1", 0);
    if (!port) return 1;
    signal_url = "ws://127.0.0.1:" + std::to_string(*port) + "/";
  }
  std::printf("signaling at %s\n", signal_url.c_str());

  actr::Node a(io.get_executor(), node_config("1@101/acme:caller:1.0.0", signal_url));
  actr::Node b(io.get_executor(), node_config("2@101/acme:echo:1.0.0", signal_url));
  b.on_request([](actr::ActrId, actr::pb::RpcEnvelope request) -> asio::awaitable<actr::Result<actr::Bytes>> {
    co_return actr::Bytes(request.payload().begin(), request.payload().end());
  });
  if (!a.start() || !b.start()) return 1;

  auto run = [&]() -> asio::awaitable<int> {
    int exit_code = 1;
    // Await into locals (GCC 12 miscompiles `if (co_await …)`).
    const auto a_registered = co_await a.wait_registered(actr::Clock::now() + 10s);
    const auto b_registered = co_await b.wait_registered(actr::Clock::now() + 10s);
    if (!a_registered || !b_registered) {
      std::fprintf(stderr, "registration with signaling failed\n");
    } else {
      const actr::Bytes ping{'p', 'i', 'n', 'g'};
      const auto give_up = actr::Clock::now() + 20s;
      for (int calls = 1; actr::Clock::now() < give_up && b.stats().frames_webrtc == 0; ++calls) {
        const auto answer = co_await a.call(b.id(), "example.Echo", ping, 5s);
        if (!answer || *answer != ping) {
          std::fprintf(stderr, "call %d failed\n", calls);
          break;
        }
        if (b.stats().frames_webrtc > 0) {
          std::printf("call %d went over WebRTC\n", calls);
          exit_code = 0;
        }
      }
      if (exit_code != 0) std::fprintf(stderr, "no call went over WebRTC\n");
    }
    co_await a.stop();
    co_await b.stop();
    if (embedded) co_await embedded->close();
    co_return exit_code;
  };
  const int exit_code = run_with_deadline(io, run(), 30s, "webrtc_echo");
  // GLib's and GStreamer's threads end before the process does.
  actr::WebRtcRuntime::process_default()->shutdown();
  return exit_code;
}
