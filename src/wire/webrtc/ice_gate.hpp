#pragma once
// Private, pure (no GStreamer, no executor): which remote ICE candidates to apply, buffer or drop,
// keyed by ICE generation (the username fragment of the remote description they belong to), and
// the few SDP/candidate facts the WebRTC wire reads. Unit-tested on its own.

#include <cstddef>
#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace actr::rtc {

/// The first `a=ice-ufrag:` value of an SDP, if any.
std::optional<std::string> sdp_ice_ufrag(std::string_view sdp);
/// The connection address of a candidate line ("candidate:1 1 UDP 2015364095 127.0.0.1 5000 typ
/// host" → "127.0.0.1"), with or without a leading "a=".
std::optional<std::string> candidate_address(std::string_view candidate);

struct RemoteCandidate {
  std::uint32_t mline = 0;
  std::string line;
  std::string ufrag;
};

/// Remote candidates of one wire. The current generation is the ufrag of the remote description
/// applied last; a candidate of the current generation is applied, one of a remembered older
/// generation is stale, one of an unknown generation (its description has not arrived yet) is
/// buffered up to a cap, oldest dropped first.
class CandidateGate {
 public:
  enum class Verdict { Apply, Buffered, Stale, Rejected };

  explicit CandidateGate(std::size_t max_buffered = 256, std::size_t generations_remembered = 8);

  /// A remote candidate arrived. `Rejected`: it carries no ufrag.
  Verdict offer(RemoteCandidate c);
  /// A remote description with ICE ufrag `ufrag` is being applied: it becomes the current
  /// generation, the previous current one becomes stale. Returns the buffered candidates of
  /// `ufrag`, in arrival order, to apply now; buffered candidates of stale generations are dropped.
  std::vector<RemoteCandidate> activate(const std::string& ufrag);
  /// A new peer connection is starting: the current generation becomes stale and nothing is
  /// current until the next `activate`.
  void retire_current();

  const std::optional<std::string>& current() const noexcept { return current_; }
  std::size_t buffered() const noexcept { return buffered_.size(); }
  std::uint64_t dropped() const noexcept { return dropped_; }

 private:
  bool is_stale(const std::string& ufrag) const;
  void remember_stale(std::string ufrag);

  std::size_t max_buffered_;
  std::size_t generations_remembered_;
  std::optional<std::string> current_;
  std::deque<std::string> stale_;
  std::deque<RemoteCandidate> buffered_;
  std::uint64_t dropped_ = 0;
};

}  // namespace actr::rtc
