#pragma once
// Child processes of the `actr` command (demo nodes, benchmark peers): spawned from this same
// executable with stdout on a pipe, read with deadlines, killed and reaped by their owner.

#include <sys/types.h>

#include <chrono>
#include <optional>
#include <string>
#include <vector>

namespace actr::cli {

class ChildProcess {
 public:
  /// Runs `/proc/self/exe args...` with stdout on a pipe (stderr inherited). False if fork/exec
  /// set-up fails.
  bool spawn(const std::vector<std::string>& args);
  /// Reads stdout until a line containing `needle` arrives; returns that line, or nothing on EOF
  /// or when `deadline` passes.
  std::optional<std::string> read_line_with(const std::string& needle, std::chrono::milliseconds deadline);
  /// Reads stdout to EOF (or `deadline`) and returns everything read.
  std::string read_all(std::chrono::milliseconds deadline);
  /// SIGKILL and reap. Idempotent; also done by the destructor.
  void kill_now();
  /// SIGTERM (no reap: follow with `wait`).
  void terminate();
  /// Waits for the child to exit by itself; its exit status, or nothing after `deadline`
  /// (then it is killed).
  std::optional<int> wait(std::chrono::milliseconds deadline);
  pid_t pid() const noexcept { return pid_; }

  ChildProcess() = default;
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;
  ChildProcess(ChildProcess&& o) noexcept;
  ChildProcess& operator=(ChildProcess&& o) noexcept;
  ~ChildProcess();

 private:
  bool read_more(std::chrono::steady_clock::time_point until);
  pid_t pid_ = -1;
  int out_ = -1;
  std::string buf_;
};

/// Every child spawned and not yet reaped, for a Ctrl-C handler that must kill them all.
std::vector<pid_t> live_children();

}  // namespace actr::cli
