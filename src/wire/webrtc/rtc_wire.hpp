#pragma once
// Private: the state of one WebRTC wire (`WebRtcWire::Impl`), shared by rtc_wire.cpp (lifecycle,
// events, close), rtc_signals.cpp (signaling), rtc_recovery.cpp (restarts) and rtc_data.cpp (lanes,
// fragmentation, inbound).
//
// Threads and locks: `mu` guards every mutable field below (a leaf lock: nothing is called under
// it — actions are collected in `Later` and run after unlock). GStreamer events arrive through the
// current generation's `PcBridge`, posted onto `strand`, so they are handled one at a time and in
// the order GStreamer emitted them; each is checked against the current generation first. Public
// entry points may run on any thread.

#include <actr/dc_fragment.hpp>
#include <actr/detail/async_queue.hpp>
#include <actr/detail/notifier.hpp>
#include <actr/detail/task_group.hpp>
#include <actr/webrtc.hpp>

#include "wire/webrtc/gst_pc.hpp"
#include "wire/webrtc/ice_gate.hpp"

#include <boost/asio/strand.hpp>

#include <array>
#include <atomic>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace actr {

inline constexpr std::size_t kDcLaneCount = 4;  // the data PayloadTypes 0..3
inline std::size_t lane_index(PayloadType pt) noexcept { return static_cast<std::size_t>(pt); }

struct WebRtcWire::Impl : std::enable_shared_from_this<WebRtcWire::Impl> {
  enum class Phase : std::uint8_t { Idle, Connecting, Open, Recovering, Closed };

  /// One peer connection the wire built. A restart builds a new one; events of an old one are
  /// dropped (its bridge is shut first, and its id no longer matches).
  struct Gen {
    std::uint64_t id = 0;
    std::shared_ptr<rtc::PcBridge> bridge;
    std::shared_ptr<rtc::GstPc> pc;
    std::string local_ufrag;        ///< tags our candidates
    std::string exchange_id;  ///< offerer: of the offer in flight; answerer: of the offer answered
    bool restart = false;           ///< offerer: announce the offer as an IceRestartOffer
    bool answer_applied = false;
    bool local_applied = false;  ///< webrtcbin applied our description (and it went out)
    std::vector<PeerSignal> early_candidates;  ///< ours, gathered before that: sent after it
    std::optional<PeerSignal> early_answer;    ///< offerer: an answer that came before that
    std::array<std::shared_ptr<rtc::DataChannelRef>, kDcLaneCount> channels;
    std::array<bool, kDcLaneCount> open{};
    std::array<Reassembler, kDcLaneCount> reassembly;
    Error failure;  ///< set if setting this connection up failed
    bool lost = false;  ///< recovery began while this was current: it never reopens the wire
  };

  struct Inbound {
    PayloadType pt;
    Bytes data;
  };
  /// Actions decided under `mu`, run after it is released.
  using Later = std::vector<std::function<void()>>;
  static void run(Later& later) {
    for (auto& f : later) f();
    later.clear();
  }

  Impl(boost::asio::any_io_executor ex, WebRtcConfig cfg, ActrId local, ActrId remote, bool offerer,
       std::shared_ptr<PeerSignalSink> sink, FrameHandler on_frame, std::shared_ptr<WebRtcRuntime> runtime,
       std::uint64_t session);
  ~Impl();
  void start(std::weak_ptr<WebRtcWire> owner);

  // ---- rtc_wire.cpp (and rtc_recovery.cpp)
  boost::asio::awaitable<Result<void>> connect();
  boost::asio::awaitable<void> close();
  void abandon();  // close without waiting (destructor of the handle)
  void handle_signal(PeerSignal s);
  void report_connection_lost();
  void on_event(std::uint64_t session_id, std::uint64_t gen_id, rtc::PcEvent&& ev);
  void on_signal(PeerSignal&& s);

  // ---- rtc_signals.cpp (on strand, mu held)
  void on_local_description_locked(Later& later, Gen& g, std::string sdp);
  void on_local_candidate_locked(Later& later, Gen& g, std::string candidate, std::uint32_t mline);
  void apply_answer_locked(Later& later, Gen& g, PeerSignal answer);

  std::shared_ptr<Gen> new_gen_locked(bool restart, Later& later);
  void retire(const std::shared_ptr<Gen>& g, bool graceful);
  void enter_recovery_locked(Later& later, bool by_remote_offer);
  void die_locked(Later& later, Error why);
  void notify_all();
  bool invoke(std::function<void()> fn);
  void push_signal(PeerSignal s);
  boost::asio::awaitable<void> signal_sender();
  boost::asio::awaitable<void> recover_as_offerer();
  boost::asio::awaitable<void> recover_as_answerer();
  boost::asio::awaitable<bool> wait_change(Deadline until, std::function<bool()> done);

  // ---- rtc_data.cpp
  Result<std::shared_ptr<DataLane>> get_lane(PayloadType pt);
  boost::asio::awaitable<Result<void>> send(PayloadType pt, ConstBytes bytes);
  void on_message_locked(Later& later, Gen& g, rtc::PcEvent& ev);
  boost::asio::awaitable<void> reader();

  // Immutable after construction.
  boost::asio::any_io_executor ex;
  boost::asio::strand<boost::asio::any_io_executor> strand;
  const WebRtcConfig cfg;
  const ActrId local;
  const ActrId remote;
  const bool offerer;
  const std::shared_ptr<PeerSignalSink> sink;
  const std::shared_ptr<WebRtcRuntime> runtime;
  const std::uint64_t session;
  std::weak_ptr<WebRtcWire> owner;
  detail::TaskGroup tasks;
  detail::AsyncQueue<PeerSignal> signals{1024};

  std::atomic<bool> connected{false};
  std::atomic<bool> close_begun{false};  ///< begin_close(): reports not connected from now on
  detail::Notifier changed;  ///< phase, readiness, failures, restart requests
  std::array<detail::Notifier, kDcLaneCount> room;  ///< a DataChannel's send buffer went low
  detail::Notifier inbound_ready;
  detail::Notifier teardown_done;
  std::array<std::atomic<std::uint32_t>, kDcLaneCount> next_msg_id{};
  std::atomic<std::uint64_t> messages_sent{0};
  std::atomic<std::uint64_t> fragments_sent{0};

  mutable std::mutex mu;
  Phase phase = Phase::Idle;
  std::uint64_t failed_setups = 0;  ///< attempts that ended with `Gen::failure` (connect() waiters compare)
  Error last_setup_failure;
  bool closing = false;  ///< close()/abandon() ran: nothing is reported any more
  FrameHandler on_frame;
  std::shared_ptr<Gen> gen;
  std::uint64_t next_gen = 1;
  rtc::CandidateGate gate;
  Deadline recovery_deadline{};
  Deadline answerer_request_due{};
  bool restart_requested = false;
  std::shared_ptr<rtc::PcBridge> close_bridge;  ///< carries "teardown finished" back; shut after close
  bool torn_down = false;
  std::array<std::shared_ptr<DataLane>, kDcLaneCount> lanes;
  std::deque<Inbound> inbound;
  std::size_t inbound_bytes = 0;
  WebRtcStats stats;  // the counters not kept in atomics
};

}  // namespace actr
