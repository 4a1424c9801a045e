#include "wire/webrtc/ice_gate.hpp"

#include <gtest/gtest.h>

using namespace actr::rtc;
using V = CandidateGate::Verdict;

namespace {
RemoteCandidate cand(std::string ufrag, std::string line = "candidate:1 1 UDP 2015364095 127.0.0.1 5000 typ host") {
  return RemoteCandidate{0, std::move(line), std::move(ufrag)};
}
}  // namespace

TEST(IceGate, ReadsUfragAndCandidateAddress) {
  EXPECT_EQ(sdp_ice_ufrag("v=0\r\nm=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\na=ice-ufrag:AbC\r\na=ice-pwd:x\r\n"),
            "AbC");
  EXPECT_EQ(sdp_ice_ufrag("v=0\na=ice-ufrag:nl\n"), "nl");
  EXPECT_FALSE(sdp_ice_ufrag("v=0\r\n"));
  EXPECT_EQ(candidate_address("candidate:1 1 UDP 2015364095 127.0.0.1 46077 typ host"), "127.0.0.1");
  EXPECT_EQ(candidate_address("a=candidate:2 1 udp 1 192.0.2.2 9 typ host generation 0 ufrag x"), "192.0.2.2");
  EXPECT_FALSE(candidate_address("candidate:1 1 UDP"));
  EXPECT_FALSE(candidate_address("nonsense"));
}

TEST(IceGate, BuffersUntilTheDescriptionThenAppliesCurrentAndDropsOld) {
  CandidateGate g(4, 8);
  EXPECT_EQ(g.offer(cand("u1")), V::Buffered);  // before any remote description
  EXPECT_EQ(g.offer(cand("")), V::Rejected);    // no ufrag: not accepted
  auto flush = g.activate("u1");
  ASSERT_EQ(flush.size(), 1u);
  EXPECT_EQ(g.offer(cand("u1")), V::Apply);
  // A restart: u1 becomes old; u2's candidates may come before its description.
  g.retire_current();
  EXPECT_EQ(g.offer(cand("u1")), V::Stale);
  EXPECT_EQ(g.offer(cand("u2")), V::Buffered);
  EXPECT_EQ(g.activate("u2").size(), 1u);
  EXPECT_EQ(g.offer(cand("u2")), V::Apply);
  EXPECT_EQ(g.offer(cand("u1")), V::Stale);
}

TEST(IceGate, BufferIsCappedOldestFirstAndStaleBufferedAreDroppedOnActivate) {
  CandidateGate g(2, 8);
  g.activate("old");
  g.retire_current();
  EXPECT_EQ(g.offer(cand("a", "1")), V::Buffered);
  EXPECT_EQ(g.offer(cand("b", "2")), V::Buffered);
  EXPECT_EQ(g.offer(cand("b", "3")), V::Buffered);  // "1" dropped: oldest first
  EXPECT_EQ(g.buffered(), 2u);
  auto now = g.activate("b");
  ASSERT_EQ(now.size(), 2u);
  EXPECT_EQ(now[0].line, "2");
  EXPECT_EQ(now[1].line, "3");
  // Activating a newer one makes "b" stale.
  g.activate("c");
  EXPECT_EQ(g.offer(cand("b")), V::Stale);
}

TEST(IceGate, RemembersABoundedNumberOfGenerations) {
  CandidateGate g(8, 2);
  g.activate("g1");
  g.activate("g2");
  g.activate("g3");
  g.activate("g4");  // stale: g2, g3 (g1 forgotten)
  EXPECT_EQ(g.offer(cand("g3")), V::Stale);
  EXPECT_EQ(g.offer(cand("g2")), V::Stale);
  EXPECT_EQ(g.offer(cand("g1")), V::Buffered);  // forgotten: treated as unknown, buffered (bounded)
}
