#include "bench_pipe.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>
#include <utility>

namespace actr::cli::bench {

namespace {
sockaddr_in loopback(std::uint16_t port) {
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(port);
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return sa;
}
void no_delay(int fd) {
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}
}  // namespace

std::optional<SignalPipe> SignalPipe::listen() {
  SignalPipe p;
  p.listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  auto sa = loopback(0);
  socklen_t len = sizeof sa;
  if (p.listen_fd_ < 0 || ::bind(p.listen_fd_, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0 ||
      ::listen(p.listen_fd_, 1) != 0 || ::getsockname(p.listen_fd_, reinterpret_cast<sockaddr*>(&sa), &len) != 0)
    return std::nullopt;
  p.port_ = ntohs(sa.sin_port);
  return p;
}

bool SignalPipe::accept() {
  fd_ = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
  ::close(std::exchange(listen_fd_, -1));
  if (fd_ < 0) return false;
  no_delay(fd_);
  return true;
}

std::optional<SignalPipe> SignalPipe::connect(std::uint16_t port) {
  SignalPipe p;
  p.fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  auto sa = loopback(port);
  if (p.fd_ < 0 || ::connect(p.fd_, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) return std::nullopt;
  no_delay(p.fd_);
  p.port_ = port;
  return p;
}

bool SignalPipe::send(const nlohmann::json& msg) {
  const auto line = msg.dump() + "\n";
  std::lock_guard lk(write_mu_);
  const char* p = line.data();
  std::size_t n = line.size();
  while (n > 0) {
    const auto k = ::send(fd_, p, n, MSG_NOSIGNAL);
    if (k <= 0) return false;
    p += k;
    n -= static_cast<std::size_t>(k);
  }
  return true;
}

void SignalPipe::start(OnMessage on_msg, std::function<void()> on_eof) {
  reader_ = std::thread([fd = fd_, on_msg = std::move(on_msg), on_eof = std::move(on_eof)] {
    std::string buf;
    char chunk[4096];
    for (;;) {
      const auto k = ::recv(fd, chunk, sizeof chunk, 0);
      if (k <= 0) break;
      buf.append(chunk, static_cast<std::size_t>(k));
      for (std::size_t nl; (nl = buf.find('\n')) != std::string::npos;) {
        auto j = nlohmann::json::parse(buf.substr(0, nl), nullptr, false);
        buf.erase(0, nl + 1);
        if (!j.is_discarded()) on_msg(std::move(j));
      }
    }
    if (on_eof) on_eof();
  });
}

void SignalPipe::close() {
  if (fd_ >= 0) ::shutdown(fd_, SHUT_RDWR);
  if (reader_.joinable()) reader_.join();
  if (fd_ >= 0) ::close(std::exchange(fd_, -1));
  if (listen_fd_ >= 0) ::close(std::exchange(listen_fd_, -1));
}

SignalPipe::SignalPipe(SignalPipe&& o) noexcept
    : listen_fd_(std::exchange(o.listen_fd_, -1)),
      fd_(std::exchange(o.fd_, -1)),
      port_(o.port_),
      reader_(std::move(o.reader_)) {}

SignalPipe& SignalPipe::operator=(SignalPipe&& o) noexcept {
  if (this != &o) {
    close();
    listen_fd_ = std::exchange(o.listen_fd_, -1);
    fd_ = std::exchange(o.fd_, -1);
    port_ = o.port_;
    reader_ = std::move(o.reader_);
  }
  return *this;
}

SignalPipe::~SignalPipe() { close(); }

}  // namespace actr::cli::bench
