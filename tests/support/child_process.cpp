#include "support/child_process.hpp"

#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>

namespace actr::testing {

ChildProcess::~ChildProcess() {
  stop(SIGKILL);
  if (out_ >= 0) ::close(out_);
}

bool ChildProcess::start(const std::vector<std::string>& argv) {
  if (argv.empty() || pid_ > 0) return false;
  int fds[2];
  if (::pipe(fds) != 0) return false;
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_ = ::fork();
  if (pid_ < 0) {
    ::close(fds[0]);
    ::close(fds[1]);
    return false;
  }
  if (pid_ == 0) {  // the child: only async-signal-safe calls until exec
    ::dup2(fds[1], STDOUT_FILENO);
    ::close(fds[0]);
    ::close(fds[1]);
    ::execv(args[0], args.data());
    std::_Exit(127);
  }
  ::close(fds[1]);
  out_ = fds[0];
  return true;
}

bool ChildProcess::read_until(const std::string& needle, std::chrono::milliseconds limit) {
  const auto until = std::chrono::steady_clock::now() + limit;
  while (text_.find(needle) == std::string::npos) {
    if (!read_some(until)) return false;
  }
  return true;
}

bool ChildProcess::wait_eof(std::chrono::steady_clock::time_point until) {
  while (read_some(until)) {
  }
  return std::chrono::steady_clock::now() < until;
}

bool ChildProcess::read_some(std::chrono::steady_clock::time_point until) {
  if (out_ < 0) return false;
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - std::chrono::steady_clock::now());
  if (left.count() <= 0) return false;
  pollfd p{out_, POLLIN, 0};
  if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) return false;
  char buf[512];
  const auto n = ::read(out_, buf, sizeof buf);
  if (n <= 0) return false;
  text_.append(buf, static_cast<std::size_t>(n));
  return true;
}

int ChildProcess::stop(int sig) {
  if (pid_ > 0) ::kill(pid_, sig);
  return wait();
}

int ChildProcess::wait() {
  int status = -1;
  if (pid_ > 0) {
    ::waitpid(pid_, &status, 0);
    pid_ = -1;
  }
  return status;
}

bool ChildProcess::try_reap(int& status) {
  if (pid_ <= 0) return false;
  if (::waitpid(pid_, &status, WNOHANG) != pid_) return false;
  pid_ = -1;
  return true;
}

}  // namespace actr::testing
