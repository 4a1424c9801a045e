#pragma once
// Private: one webrtcbin peer connection, seen from the wire. No GStreamer or GLib type appears
// here: rtc_wire.cpp (the Asio side) includes this header, and only gst_pc.cpp includes GStreamer.
//
// Threads: `GstPc` methods run on the GLib thread (posted with WebRtcRuntime::Impl::invoke).
// GStreamer calls the callbacks on its own threads (webrtcbin's, streaming, SCTP); each one does
// only `PcBridge::emit`, which hands a `PcEvent` to the sink the wire installed (a post onto the
// wire's strand) unless the bridge has been shut. `DataChannelRef` may be used from any thread.

#include <actr/result.hpp>
#include <actr/types.hpp>
#include <actr/webrtc.hpp>

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace actr::rtc {

enum class PcState : std::uint8_t { New, Connecting, Connected, Disconnected, Failed, Closed };

/// One reference to a GstWebRTCDataChannel. Thread-safe (GStreamer locks the channel).
class DataChannelRef {
 public:
  explicit DataChannelRef(void* channel);  // takes its own reference
  ~DataChannelRef();
  DataChannelRef(const DataChannelRef&) = delete;
  DataChannelRef& operator=(const DataChannelRef&) = delete;

  /// Sends one binary DataChannel message (ownership of the bytes passes to GStreamer). Errors:
  /// `DataChannelClosed` (closing or closed), `DataChannelNotOpen` (not open yet),
  /// `DataChannelError` (anything else webrtcbin refuses).
  Result<void> send(Bytes message);
  std::uint64_t buffered_amount() const;

 private:
  void* ch_;
};

struct PcEvent {
  enum class Type : std::uint8_t {
    LocalDescription,      ///< text = SDP of our offer/answer, applied as the local description
                           ///< (set-local-description succeeded); never emitted before that
    LocalCandidate,        ///< text = candidate line, mline
    RemoteDescriptionSet,  ///< the remote description was applied
    ChannelAdded,          ///< channel, pt (created by us, or announced by the peer)
    ChannelOpen,           ///< pt
    ChannelClosed,         ///< pt
    ChannelMessage,        ///< pt, data
    ChannelBufferedLow,    ///< pt
    ChannelIgnored,        ///< text = label of a channel the peer opened that maps to no data class
    ConnectionState,       ///< state
    Failure,               ///< text = what failed (negotiation, bus error, SCTP association error)
  };
  Type type = Type::Failure;
  PayloadType pt = PayloadType::RpcReliable;
  std::string text;
  std::uint32_t mline = 0;
  Bytes data;
  PcState state = PcState::New;
  std::shared_ptr<DataChannelRef> channel;
};
using PcEventSink = std::function<void(PcEvent&&)>;

/// The guard all GStreamer callbacks of one peer connection go through.
class PcBridge {
 public:
  explicit PcBridge(PcEventSink sink) : sink_(std::move(sink)) {}
  /// Any thread: forwards `ev` to the sink, unless shut. The sink must not block.
  void emit(PcEvent&& ev);
  /// After this returns no event passes (an emit in progress has finished). Releases the sink.
  void shut();

 private:
  std::mutex mu_;  // leaf: held only while calling the (non-blocking) sink
  PcEventSink sink_;
  bool open_ = true;
};

struct PcOptions {
  bool offerer = false;
  std::vector<IceServer> ice_servers;
  bool relay_only = false;
  std::vector<std::string> local_addresses;
  std::uint64_t buffered_low_threshold = 512u << 10;
};

/// One webrtcbin in its own pipeline. Every member function runs on the GLib thread.
class GstPc : public std::enable_shared_from_this<GstPc> {
 public:
  GstPc(WebRtcRuntime::Impl& rt, PcOptions opts, std::shared_ptr<PcBridge> bridge);
  ~GstPc();
  GstPc(const GstPc&) = delete;
  GstPc& operator=(const GstPc&) = delete;

  /// Builds the pipeline and starts it. Offerer: creates the four channels, then the offer.
  void start();
  /// Applies the remote offer (then creates the answer) or answer.
  void apply_remote(bool is_offer, const std::string& sdp);
  void add_candidate(std::uint32_t mline, const std::string& candidate);
  /// Any thread: whether webrtcbin holds a local description (pending or current) now. For
  /// tests that check a description is applied before it is relayed.
  bool has_local_description() const;
  /// Opens one more in-band DataChannel labelled `label` (ordered, reliable) on a running
  /// connection; its callbacks are not wired. For tests of what the answerer does with labels.
  void create_extra_channel(const std::string& label);
  /// Tears the connection down and disconnects every callback. `graceful`: first lets buffered
  /// data drain (≤ 1 s) and closes the channels so the peer sees them close (≤ 200 ms), in the
  /// background on the GLib loop. Otherwise at once, telling the peer nothing. A non-graceful
  /// call finishes a graceful one in progress. `done` (optional) runs on the GLib thread when
  /// the pipeline is down.
  void shutdown(bool graceful, std::function<void()> done);
  /// One tick of a graceful teardown (driven by a GLib timeout); false once finished.
  bool teardown_step();

  struct G;  // the GStreamer objects (gst_pc.cpp)

 private:
  void finish();
  WebRtcRuntime::Impl& rt_;
  const PcOptions opts_;
  const std::shared_ptr<PcBridge> bridge_;
  std::shared_ptr<G> g_;  // shared with the callbacks (weakly)
};

}  // namespace actr::rtc
