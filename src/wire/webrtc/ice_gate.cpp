#include "wire/webrtc/ice_gate.hpp"

#include <algorithm>
#include <sstream>

namespace actr::rtc {

std::optional<std::string> sdp_ice_ufrag(std::string_view sdp) {
  constexpr std::string_view key = "a=ice-ufrag:";
  std::size_t pos = 0;
  while (pos < sdp.size()) {
    auto eol = sdp.find('\n', pos);
    auto line = sdp.substr(pos, eol == std::string_view::npos ? std::string_view::npos : eol - pos);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.substr(0, key.size()) == key && line.size() > key.size()) return std::string(line.substr(key.size()));
    if (eol == std::string_view::npos) break;
    pos = eol + 1;
  }
  return std::nullopt;
}

std::optional<std::string> candidate_address(std::string_view candidate) {
  if (candidate.substr(0, 2) == "a=") candidate.remove_prefix(2);
  if (candidate.substr(0, 10) != "candidate:") return std::nullopt;
  std::istringstream in{std::string(candidate)};
  std::string field;
  for (int i = 0; i < 5; ++i) {  // foundation, component, transport, priority, address
    if (!(in >> field)) return std::nullopt;
  }
  return field;
}

CandidateGate::CandidateGate(std::size_t max_buffered, std::size_t generations_remembered)
    : max_buffered_(max_buffered), generations_remembered_(generations_remembered) {}

bool CandidateGate::is_stale(const std::string& ufrag) const {
  return std::find(stale_.begin(), stale_.end(), ufrag) != stale_.end();
}

void CandidateGate::remember_stale(std::string ufrag) {
  if (is_stale(ufrag)) return;
  stale_.push_back(std::move(ufrag));
  while (stale_.size() > generations_remembered_) stale_.pop_front();
}

CandidateGate::Verdict CandidateGate::offer(RemoteCandidate c) {
  if (c.ufrag.empty()) {
    ++dropped_;
    return Verdict::Rejected;
  }
  if (current_ && c.ufrag == *current_) return Verdict::Apply;
  if (is_stale(c.ufrag)) {
    ++dropped_;
    return Verdict::Stale;
  }
  if (max_buffered_ == 0) {
    ++dropped_;
    return Verdict::Rejected;
  }
  if (buffered_.size() >= max_buffered_) {
    buffered_.pop_front();
    ++dropped_;
  }
  buffered_.push_back(std::move(c));
  return Verdict::Buffered;
}

std::vector<RemoteCandidate> CandidateGate::activate(const std::string& ufrag) {
  if (current_ && *current_ != ufrag) remember_stale(*current_);
  current_ = ufrag;
  stale_.erase(std::remove(stale_.begin(), stale_.end(), ufrag), stale_.end());
  std::vector<RemoteCandidate> now;
  std::deque<RemoteCandidate> keep;
  for (auto& c : buffered_) {
    if (c.ufrag == ufrag) {
      now.push_back(std::move(c));
    } else if (is_stale(c.ufrag)) {
      ++dropped_;
    } else {
      keep.push_back(std::move(c));
    }
  }
  buffered_.swap(keep);
  return now;
}

void CandidateGate::retire_current() {
  if (current_) remember_stale(*current_);
  current_.reset();
}

}  // namespace actr::rtc
