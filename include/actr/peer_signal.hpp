#pragma once
/// @file
/// The seam between the WebRTC wire and the signaling client: what one peer says to another about
/// one peer connection, relayed by the signaling server (`ActrRelay` payloads, reference §12.1,
/// HEAD format). The WebRTC wire produces and consumes these; the signaling client carries them.
/// Tests connect two wires with an in-process pipe of `PeerSignal`s instead.

#include <actr/result.hpp>
#include <actr/types.hpp>

#include <boost/asio/awaitable.hpp>

#include <cstdint>
#include <optional>
#include <string>

namespace actr {

struct PeerSignal {
  enum class Kind : std::uint8_t {
    Offer,              ///< SessionDescription OFFER (a new peer connection)
    Answer,             ///< SessionDescription ANSWER (to an offer or an ICE-restart offer)
    IceRestartOffer,    ///< SessionDescription ICE_RESTART_OFFER (same peer connection, new ICE credentials)
    IceCandidate,       ///< one trickled candidate
    IceRestartRequest,  ///< answerer asks the offerer to restart ICE
    /// From the signaling server only (`PeerRestarted`): the peer registered anew as a new
    /// process, so every connection with its old process is dead. Never sent by a client.
    PeerRestarted,
    /// From the signaling server only (`PeerGone`): the peer's registration ended with its
    /// connection, so its WebRTC connections are presumed dead. Never sent by a client.
    PeerGone,
    /// The answerer refused to set up the connection an offer asked for (it is at its bound of
    /// set-ups in progress); `reason` says why. The offerer's set-up fails with ResourceExhausted.
    SetupRefused,
  };
  Kind kind = Kind::Offer;
  /// Offer / Answer / IceRestartOffer: the SDP, and the exchange id created with each offer and
  /// echoed by its answer (a stale answer never consumes the pending offer).
  std::string sdp;
  std::string sdp_exchange_id;  ///< a UUID v4 string, as actr HEAD's; empty: none
  /// IceCandidate: the candidate line (without "a="), its m-line, and the ICE username fragment
  /// of the generation it belongs to (stale generations are dropped by the receiver).
  std::string candidate;
  std::optional<std::string> sdp_mid;
  std::optional<std::uint32_t> sdp_mline_index;
  std::optional<std::string> username_fragment;
  /// IceRestartRequest, SetupRefused: why.
  std::string reason;
};

/// The outbound path of one local actor's signals to peers. Implemented by the signaling client
/// (relay through the server) and by test pipes. Completes when the signal is queued for
/// delivery; errors are closed-like when the signaling connection is down.
class PeerSignalSink {
 public:
  virtual ~PeerSignalSink() = default;
  virtual boost::asio::awaitable<Result<void>> send_signal(const ActrId& to, PeerSignal signal) = 0;
};

}  // namespace actr
