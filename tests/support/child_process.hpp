#pragma once
// A child process a test starts (e.g. the `actr` binary), with its stdout read through a pipe
// under deadlines. SIGKILLed and reaped on destruction: nothing outlives the test.

#include <sys/types.h>

#include <chrono>
#include <string>
#include <vector>

namespace actr::testing {

class ChildProcess {
 public:
  ChildProcess() = default;
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;
  ~ChildProcess();

  /// Starts `argv[0]` with `argv` (no shell), stdout to a pipe, stderr inherited. False if it
  /// could not be forked (an exec failure shows as exit status 127).
  bool start(const std::vector<std::string>& argv);

  /// Reads stdout until it contains `needle` (true), or EOF or `limit` (false).
  bool read_until(const std::string& needle, std::chrono::milliseconds limit);
  /// Reads stdout until EOF (true: the process closed it, normally by exiting) or `until` (false).
  bool wait_eof(std::chrono::steady_clock::time_point until);
  /// Sends `sig` and reaps the child; its wait status (-1 if it was not running).
  int stop(int sig);
  /// Waits for the child to exit (after it closed stdout, say) and reaps it; its wait status.
  int wait();
  /// Reaps the child if it has exited (true, `status` set); false if it still runs.
  bool try_reap(int& status);

  pid_t pid() const { return pid_; }
  /// Everything read from stdout so far.
  const std::string& output() const { return text_; }

 private:
  bool read_some(std::chrono::steady_clock::time_point until);

  pid_t pid_ = -1;
  int out_ = -1;
  std::string text_;
};

}  // namespace actr::testing
