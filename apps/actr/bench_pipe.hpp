#pragma once
// The signaling of one `actr bench webrtc` cell: the two peer processes of a cell exchange their
// offer, answer and ICE candidates over one loopback TCP connection, one JSON object per line.
// Used by the raw webrtcbin peers and by our `wire` peers alike, so signaling is the same for
// both and out of every measured path (the `actr` peers go through `actr signal` instead).

#include <nlohmann/json.hpp>

#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <thread>

namespace actr::cli::bench {

class SignalPipe {
 public:
  using OnMessage = std::function<void(nlohmann::json)>;

  /// Server side: binds 127.0.0.1:0; `port()` is the port to print. `accept()` takes the one
  /// connection (blocking).
  static std::optional<SignalPipe> listen();
  bool accept();
  /// Client side: connects to 127.0.0.1:port.
  static std::optional<SignalPipe> connect(std::uint16_t port);

  std::uint16_t port() const noexcept { return port_; }
  /// Any thread; one line per call, whole lines never interleave. False once the peer is gone.
  bool send(const nlohmann::json& msg);
  /// Starts the reader thread: every line, parsed, in order; `on_eof` once the peer closes.
  void start(OnMessage on_msg, std::function<void()> on_eof = nullptr);
  /// Shuts the socket down and joins the reader. Idempotent; also done by the destructor.
  void close();

  SignalPipe() = default;
  SignalPipe(SignalPipe&& o) noexcept;
  SignalPipe& operator=(SignalPipe&& o) noexcept;
  SignalPipe(const SignalPipe&) = delete;
  ~SignalPipe();

 private:
  int listen_fd_ = -1;
  int fd_ = -1;
  std::uint16_t port_ = 0;
  std::mutex write_mu_;
  std::thread reader_;
};

}  // namespace actr::cli::bench
