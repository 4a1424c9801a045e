// GStreamer helpers of the WebRTC wire: the callback bridge, data-channel references, the ICE
// settings of a webrtcbin (STUN/TURN, gathering addresses, libnice switches), and a fix for the
// partial reliability of its DataChannels.
#include "wire/webrtc/gst_util.hpp"

#include <actr/error.hpp>

#include <gst/sctp/sctpsendmeta.h>

#include <spdlog/spdlog.h>

#include <optional>

namespace actr::rtc {

// ---- bridge and channel refs ---------------------------------------------------------------------

void PcBridge::emit(PcEvent&& ev) {
  std::lock_guard lk(mu_);
  if (open_ && sink_) sink_(std::move(ev));
}

void PcBridge::shut() {
  PcEventSink dead;
  {
    std::lock_guard lk(mu_);
    open_ = false;
    dead.swap(sink_);
  }
}

GstWebRTCDataChannelState ready_state(GstWebRTCDataChannel* ch) {
  GstWebRTCDataChannelState s = GST_WEBRTC_DATA_CHANNEL_STATE_CLOSED;
  g_object_get(ch, "ready-state", &s, nullptr);
  return s;
}

namespace {
GstWebRTCDataChannel* as_dc(void* p) { return static_cast<GstWebRTCDataChannel*>(p); }
void free_bytes(gpointer p) { delete static_cast<Bytes*>(p); }
}  // namespace

DataChannelRef::DataChannelRef(void* channel) : ch_(g_object_ref(channel)) {}
DataChannelRef::~DataChannelRef() { g_object_unref(ch_); }

Result<void> DataChannelRef::send(Bytes message) {
  auto* holder = new Bytes(std::move(message));
  GBytes* b = g_bytes_new_with_free_func(holder->data(), holder->size(), free_bytes, holder);
  GError* err = nullptr;
  const bool sent = gst_webrtc_data_channel_send_data_full(as_dc(ch_), b, &err) != FALSE;
  g_bytes_unref(b);
  if (sent) return ok();
  const auto st = ready_state(as_dc(ch_));
  spdlog::debug("actr: webrtc send refused (state {}): {}", static_cast<int>(st), err ? err->message : "?");
  g_clear_error(&err);
  if (st == GST_WEBRTC_DATA_CHANNEL_STATE_CLOSING || st == GST_WEBRTC_DATA_CHANNEL_STATE_CLOSED)
    return make_error_code(NetworkError::DataChannelClosed);
  if (st == GST_WEBRTC_DATA_CHANNEL_STATE_CONNECTING) return make_error_code(NetworkError::DataChannelNotOpen);
  return make_error_code(NetworkError::DataChannelError);
}

std::uint64_t DataChannelRef::buffered_amount() const {
  guint64 v = 0;
  g_object_get(as_dc(ch_), "buffered-amount", &v, nullptr);
  return v;
}

// ---- ICE settings -------------------------------------------------------------------------------

namespace {

// "stun:host:port" → "stun://host:port"; TURN with escaped credentials.
std::optional<std::string> webrtcbin_url(const IceServer& s) {
  auto colon = s.url.find(':');
  if (colon == std::string::npos) return std::nullopt;
  std::string scheme = s.url.substr(0, colon);
  std::string rest = s.url.substr(colon + 1);
  if (rest.rfind("//", 0) == 0) rest = rest.substr(2);
  if (scheme == "stun") return "stun://" + rest;
  if (scheme != "turn" && scheme != "turns") return std::nullopt;
  gchar* user = g_uri_escape_string(s.username.c_str(), nullptr, FALSE);
  gchar* pass = g_uri_escape_string(s.credential.c_str(), nullptr, FALSE);
  std::string url = scheme + "://" + user + ":" + pass + "@" + rest;
  g_free(user);
  g_free(pass);
  return url;
}

}  // namespace

void configure_ice(GstElement* webrtc, const PcOptions& o) {
  g_object_set(webrtc, "bundle-policy", GST_WEBRTC_BUNDLE_POLICY_MAX_BUNDLE, nullptr);
  if (o.relay_only) g_object_set(webrtc, "ice-transport-policy", GST_WEBRTC_ICE_TRANSPORT_POLICY_RELAY, nullptr);
  bool have_stun = false;
  for (const auto& s : o.ice_servers) {
    auto url = webrtcbin_url(s);
    if (!url) {
      spdlog::warn("actr: webrtc ignores ICE server '{}'", s.url);
    } else if (url->rfind("stun", 0) == 0) {
      if (!have_stun) g_object_set(webrtc, "stun-server", url->c_str(), nullptr);
      have_stun = true;
    } else {
      gboolean added = FALSE;
      g_signal_emit_by_name(webrtc, "add-turn-server", url->c_str(), &added);
      if (!added) spdlog::warn("actr: webrtcbin refused TURN server '{}'", s.url);
    }
  }
  GstWebRTCICE* ice = nullptr;
  g_object_get(webrtc, "ice-agent", &ice, nullptr);
  if (!ice) return;
  for (const auto& a : o.local_addresses) {
    gboolean added = FALSE;
    g_signal_emit_by_name(ice, "add-local-ip-address", a.c_str(), &added);
    if (!added) spdlog::warn("actr: webrtc ICE agent refused local address {}", a);
  }
  g_object_set(ice, "ice-tcp", FALSE, nullptr);
  // The libnice agent: no UPnP discovery traffic off the host; keepalives that expect an answer,
  // so a peer that vanished is eventually reported failed (about 50 s in libnice 0.1.21).
  if (g_object_class_find_property(G_OBJECT_GET_CLASS(ice), "agent")) {
    GObject* agent = nullptr;
    g_object_get(ice, "agent", &agent, nullptr);
    if (agent) {
      if (g_object_class_find_property(G_OBJECT_GET_CLASS(agent), "upnp")) g_object_set(agent, "upnp", FALSE, nullptr);
      if (g_object_class_find_property(G_OBJECT_GET_CLASS(agent), "keepalive-conncheck"))
        g_object_set(agent, "keepalive-conncheck", TRUE, nullptr);
      g_object_unref(agent);
    }
  }
  gst_object_unref(ice);
}

// ---- partial reliability ---------------------------------------------------------------------------
//
// GStreamer's sctpassociation (1.22; upstream unchanged at the time of writing) passes a channel's
// max-retransmits / max-packet-lifetime to usrsctp as `g_htonl(value)`, but usrsctp reads
// `sendv_prinfo.pr_value` in host order: on a little-endian host "max 3 retransmits" becomes
// 50,331,648, so STREAM_LATENCY_FIRST never gives a message up and behaves as a reliable channel
// (found by tests/webrtc/webrtc_loss_test.cpp: a chunk sent 5 times was still delivered). Until
// that is fixed, the value in each outgoing buffer's SCTP send meta is swapped on its way into
// sctpenc, so GStreamer's swap restores it. A GStreamer with the bug fixed makes that test fail.

namespace {

GstPadProbeReturn unswap_pr_value(GstPad*, GstPadProbeInfo* info, gpointer) {
  GstBuffer* buf = GST_PAD_PROBE_INFO_BUFFER(info);
  GstSctpSendMeta* meta = gst_sctp_buffer_get_send_meta(buf);
  if (!meta || meta->pr == GST_SCTP_SEND_META_PARTIAL_RELIABILITY_NONE) return GST_PAD_PROBE_OK;
  buf = gst_buffer_make_writable(buf);
  GST_PAD_PROBE_INFO_DATA(info) = buf;
  meta = gst_sctp_buffer_get_send_meta(buf);
  meta->pr_param = GUINT32_SWAP_LE_BE(meta->pr_param);
  return GST_PAD_PROBE_OK;
}

void on_sctpenc_pad(GstElement*, GstPad* pad, gpointer) {
  if (GST_PAD_IS_SINK(pad)) gst_pad_add_probe(pad, GST_PAD_PROBE_TYPE_BUFFER, unswap_pr_value, nullptr, nullptr);
}

// webrtcbin adds its sctpenc when it sets up the SCTP transport; the sink pads (one per channel)
// are requested later, once the association is up.
void on_element_added(GstBin*, GstBin*, GstElement* e, gpointer) {
  GstElementFactory* f = gst_element_get_factory(e);
  if (f && g_strcmp0(GST_OBJECT_NAME(f), "sctpenc") == 0) g_signal_connect(e, "pad-added", G_CALLBACK(on_sctpenc_pad), nullptr);
}

}  // namespace

void fix_sctp_partial_reliability(GstElement* pipeline) {
  if constexpr (G_BYTE_ORDER == G_LITTLE_ENDIAN)
    g_signal_connect(pipeline, "deep-element-added", G_CALLBACK(on_element_added), nullptr);
}

}  // namespace actr::rtc
