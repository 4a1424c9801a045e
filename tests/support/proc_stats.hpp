#pragma once
// What this process holds, from /proc: open file descriptors and resident memory.

#include <cstddef>
#include <filesystem>
#include <fstream>
#include <string>

#if defined(__SANITIZE_ADDRESS__)
// The sanitizer runtime's (sanitizer/allocator_interface.h, which GCC 12 does not ship).
extern "C" std::size_t __sanitizer_get_current_allocated_bytes();
#endif

namespace actr::testing {

/// Open file descriptors of this process (entries of /proc/self/fd, the directory's own included).
inline std::size_t open_fds() {
  std::size_t n = 0;
  for ([[maybe_unused]] auto& e : std::filesystem::directory_iterator("/proc/self/fd")) ++n;
  return n;
}

/// Resident set size of this process in bytes (VmRSS of /proc/self/status; 0 if unreadable).
inline std::size_t rss_bytes() {
  std::ifstream in("/proc/self/status");
  for (std::string line; std::getline(in, line);)
    if (line.rfind("VmRSS:", 0) == 0) return std::stoull(line.substr(6)) * 1024;  // "VmRSS:  1234 kB"
  return 0;
}

/// Heap bytes allocated and not freed, where the allocator tells (under ASan: its live-chunk count,
/// without the quarantine of freed blocks that makes RSS grow under ASan); -1 elsewhere.
inline long long live_heap_bytes() {
#if defined(__SANITIZE_ADDRESS__)
  return static_cast<long long>(__sanitizer_get_current_allocated_bytes());
#else
  return -1;
#endif
}

}  // namespace actr::testing
