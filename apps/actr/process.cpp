#include "process.hpp"

#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <mutex>
#include <utility>

namespace actr::cli {

namespace {
std::mutex g_mu;
std::vector<pid_t> g_live;
void forget(pid_t pid) {
  std::lock_guard lk(g_mu);
  std::erase(g_live, pid);
}
}  // namespace

std::vector<pid_t> live_children() {
  std::lock_guard lk(g_mu);
  return g_live;
}

bool ChildProcess::spawn(const std::vector<std::string>& args) {
  kill_now();
  int fds[2];
  if (::pipe(fds) != 0) return false;
  std::vector<char*> argv;
  static char self[] = "/proc/self/exe";
  argv.push_back(self);
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  const pid_t pid = ::fork();
  if (pid < 0) {
    ::close(fds[0]);
    ::close(fds[1]);
    return false;
  }
  if (pid == 0) {
    ::dup2(fds[1], STDOUT_FILENO);
    ::close(fds[0]);
    ::close(fds[1]);
    ::execv(self, argv.data());
    std::_Exit(127);
  }
  ::close(fds[1]);
  pid_ = pid;
  out_ = fds[0];
  buf_.clear();
  std::lock_guard lk(g_mu);
  g_live.push_back(pid);
  return true;
}

bool ChildProcess::read_more(std::chrono::steady_clock::time_point until) {
  if (out_ < 0) return false;
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - std::chrono::steady_clock::now());
  if (left.count() <= 0) return false;
  pollfd p{out_, POLLIN, 0};
  if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) return false;
  char chunk[4096];
  const auto n = ::read(out_, chunk, sizeof chunk);
  if (n <= 0) {
    ::close(out_);
    out_ = -1;
    return false;
  }
  buf_.append(chunk, static_cast<std::size_t>(n));
  return true;
}

std::optional<std::string> ChildProcess::read_line_with(const std::string& needle, std::chrono::milliseconds deadline) {
  const auto until = std::chrono::steady_clock::now() + deadline;
  for (;;) {
    std::size_t nl;
    while ((nl = buf_.find('\n')) != std::string::npos) {
      auto line = buf_.substr(0, nl);
      buf_.erase(0, nl + 1);
      if (line.find(needle) != std::string::npos) return line;
    }
    if (!read_more(until)) return std::nullopt;
  }
}

std::string ChildProcess::read_all(std::chrono::milliseconds deadline) {
  const auto until = std::chrono::steady_clock::now() + deadline;
  while (read_more(until)) {
  }
  return std::exchange(buf_, {});
}

std::optional<int> ChildProcess::wait(std::chrono::milliseconds deadline) {
  const auto until = std::chrono::steady_clock::now() + deadline;
  while (pid_ > 0) {
    int status = 0;
    const auto r = ::waitpid(pid_, &status, WNOHANG);
    if (r == pid_) {
      forget(pid_);
      pid_ = -1;
      return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    }
    if (std::chrono::steady_clock::now() > until) break;
    // The child's stdout closing (read_more) is the usual wake-up; poll the pid as a fallback.
    if (!read_more(std::min(until, std::chrono::steady_clock::now() + std::chrono::milliseconds(20)))) {
      pollfd none{-1, 0, 0};
      ::poll(&none, 0, 5);
    }
  }
  kill_now();
  return std::nullopt;
}

void ChildProcess::terminate() {
  if (pid_ > 0) ::kill(pid_, SIGTERM);
}

void ChildProcess::kill_now() {
  if (pid_ > 0) {
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
    forget(pid_);
    pid_ = -1;
  }
  if (out_ >= 0) {
    ::close(out_);
    out_ = -1;
  }
}

ChildProcess::ChildProcess(ChildProcess&& o) noexcept
    : pid_(std::exchange(o.pid_, -1)), out_(std::exchange(o.out_, -1)), buf_(std::move(o.buf_)) {}

ChildProcess& ChildProcess::operator=(ChildProcess&& o) noexcept {
  if (this != &o) {
    kill_now();
    pid_ = std::exchange(o.pid_, -1);
    out_ = std::exchange(o.out_, -1);
    buf_ = std::move(o.buf_);
  }
  return *this;
}

ChildProcess::~ChildProcess() { kill_now(); }

}  // namespace actr::cli
