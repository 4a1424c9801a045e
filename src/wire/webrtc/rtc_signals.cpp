// The WebRTC wire, signaling: our descriptions and candidates out (a description only once it is
// applied locally, candidates only after their description), the peer's offers, answers and
// candidates in (by exchange id and ICE generation), and the task that hands signals to the sink.
#include "wire/webrtc/rtc_wire.hpp"

#include <actr/error.hpp>

#include "detail/asio.hpp"

#include <spdlog/spdlog.h>

namespace actr {

using namespace detail;
using Impl = WebRtcWire::Impl;
using Phase = Impl::Phase;

namespace {
}  // namespace

// ---- our side (GStreamer events, on strand, mu held) ---------------------------------------------

void Impl::on_local_description_locked(Later& later, Gen& g, std::string sdp) {
  // webrtcbin reports the description once set-local-description succeeded, so the peer's answer
  // to it can never arrive before our side is ready for it.
  g.local_ufrag = rtc::sdp_ice_ufrag(sdp).value_or("");
  g.local_applied = true;
  PeerSignal s;
  s.kind = !offerer ? PeerSignal::Kind::Answer
                    : (g.restart ? PeerSignal::Kind::IceRestartOffer : PeerSignal::Kind::Offer);
  s.sdp = std::move(sdp);
  s.sdp_exchange_id = g.exchange_id;
  std::vector<PeerSignal> out;
  out.push_back(std::move(s));
  // Candidates gathered before the description was reported follow it, tagged with its ufrag.
  for (auto& c : std::exchange(g.early_candidates, {})) {
    c.username_fragment = g.local_ufrag;
    out.push_back(std::move(c));
  }
  later.push_back([this, out = std::move(out)]() mutable {
    for (auto& sig : out) push_signal(std::move(sig));
  });
  if (g.early_answer) {
    auto answer = std::move(*g.early_answer);
    g.early_answer.reset();
    apply_answer_locked(later, g, std::move(answer));
  }
}

void Impl::on_local_candidate_locked(Later& later, Gen& g, std::string candidate, std::uint32_t mline) {
  PeerSignal s;
  s.kind = PeerSignal::Kind::IceCandidate;
  s.candidate = std::move(candidate);
  s.sdp_mline_index = mline;
  if (!g.local_applied) {  // its description is not out yet (and its ufrag not known)
    g.early_candidates.push_back(std::move(s));
    return;
  }
  s.username_fragment = g.local_ufrag;
  later.push_back([this, s = std::move(s)]() mutable { push_signal(std::move(s)); });
}

void Impl::apply_answer_locked(Later& later, Gen& g, PeerSignal s) {
  g.answer_applied = true;
  auto flush = gate.activate(rtc::sdp_ice_ufrag(s.sdp).value_or(""));
  later.push_back([this, pc = g.pc, sdp = std::move(s.sdp), flush = std::move(flush)] {
    (void)invoke([pc, sdp, flush] {
      pc->apply_remote(false, sdp);
      for (const auto& c : flush) pc->add_candidate(c.mline, c.line);
    });
  });
}

// ---- signals from the peer (on strand) ---------------------------------------------------------

void Impl::handle_signal(PeerSignal s) {
  std::weak_ptr<Impl> weak = weak_from_this();
  asio::post(strand, [weak, s = std::move(s)]() mutable {
    if (auto self = weak.lock()) self->on_signal(std::move(s));
  });
}

void Impl::on_signal(PeerSignal&& s) {
  using K = PeerSignal::Kind;
  Later later;
  {
    std::lock_guard lk(mu);
    auto stale = [&](const char* why) {
      ++stats.stale_signals;
      spdlog::debug("actr: webrtc[{}] dropped a signal: {}", session, why);
    };
    if (phase == Phase::Closed) return stale("wire closed");
    switch (s.kind) {
      case K::Offer:
      case K::IceRestartOffer: {
        if (offerer) return stale("offer to the offerer");
        if (gen && !s.sdp_exchange_id.empty() && s.sdp_exchange_id == gen->exchange_id) return stale("duplicate offer");
        if (s.kind == K::Offer && (phase == Phase::Open || phase == Phase::Recovering))
          return stale("plain offer to a connected wire");
        if (phase == Phase::Open) enter_recovery_locked(later, true);
        if (phase == Phase::Idle) phase = Phase::Connecting;
        auto g = new_gen_locked(false, later);
        g->exchange_id = s.sdp_exchange_id;
        auto flush = gate.activate(rtc::sdp_ice_ufrag(s.sdp).value_or(""));
        later.push_back([this, g, sdp = std::move(s.sdp), flush = std::move(flush)] {
          const bool posted = invoke([pc = g->pc, sdp, flush] {
            pc->start();
            pc->apply_remote(true, sdp);
            for (const auto& c : flush) pc->add_candidate(c.mline, c.line);
          });
          if (!posted) {
            std::lock_guard lk2(mu);
            g->failure = make_error_code(NetworkError::WebRtcError);
          }
        });
        break;
      }
      case K::Answer: {
        if (!offerer) return stale("answer to the answerer");
        if (!gen || gen->answer_applied || gen->early_answer || s.sdp_exchange_id != gen->exchange_id ||
            (phase != Phase::Connecting && phase != Phase::Recovering))
          return stale("answer to no pending offer");
        if (!gen->local_applied) {  // our offer is still being applied: the answer waits for it
          gen->early_answer = std::move(s);
          break;
        }
        apply_answer_locked(later, *gen, std::move(s));
        break;
      }
      case K::IceCandidate: {
        rtc::RemoteCandidate c{s.sdp_mline_index.value_or(0), std::move(s.candidate), s.username_fragment.value_or("")};
        const auto verdict = gate.offer(c);
        if (verdict == rtc::CandidateGate::Verdict::Apply && gen) {
          later.push_back([this, pc = gen->pc, c = std::move(c)] {
            (void)invoke([pc, c] { pc->add_candidate(c.mline, c.line); });
          });
        } else if (verdict == rtc::CandidateGate::Verdict::Stale || verdict == rtc::CandidateGate::Verdict::Rejected) {
          return stale("candidate of an old ICE generation, or without a username fragment");
        }
        break;
      }
      case K::IceRestartRequest:
        if (!offerer) return stale("restart request to the answerer");
        if (phase == Phase::Open) {
          enter_recovery_locked(later, false);
        } else if (phase == Phase::Recovering) {
          restart_requested = true;
          later.push_back([this] { changed.notify(); });
        }
        break;
      case K::SetupRefused:
        // Only our offer in flight can be refused; the connect() waiting on it fails typed now.
        if (!offerer || phase != Phase::Connecting || !gen || gen->failure) return stale("set-up refusal for no pending offer");
        spdlog::info("actr: webrtc[{}] {} refused the set-up: {}", session, remote.to_string(), s.reason);
        gen->failure = make_error_code(NetworkError::ResourceExhausted);
        later.push_back([this] { changed.notify(); });
        break;
      case K::PeerRestarted:
        return stale("peer restarted (the coordinator closes the wire)");
      case K::PeerGone:
        return stale("peer gone (the coordinator closes the wire)");
    }
  }
  run(later);
}

asio::awaitable<void> Impl::signal_sender() {
  for (;;) {
    auto s = co_await signals.pop(kNoDeadline);
    if (!s) {
      if (s.error() == NetworkError::TimeoutError) continue;
      co_return;  // closed or cancelled
    }
    if (!sink) continue;  // no signaling: nothing can be negotiated (connect() will time out)
    auto r = co_await sink->send_signal(remote, std::move(*s));
    if (!r) spdlog::warn("actr: webrtc[{}] signal to {} not sent: {}", session, remote.to_string(), r.error().message());
  }
}

}  // namespace actr
