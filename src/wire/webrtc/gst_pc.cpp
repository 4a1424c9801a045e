// The GStreamer webrtcbin side of the WebRTC wire: one pipeline per peer connection, settings
// that work with Chromium (max-bundle, explicit offer after the channels exist, UPnP off),
// callbacks that only emit through the connection's PcBridge, bounded background teardown.
#include "wire/webrtc/gst_pc.hpp"

#include "wire/webrtc/glib_runtime.hpp"
#include "wire/webrtc/gst_util.hpp"
#include "wire/webrtc/ice_gate.hpp"

#include <actr/error.hpp>

#include <gst/gst.h>
#include <gst/sdp/sdp.h>
#include <gst/webrtc/webrtc.h>

#include <spdlog/spdlog.h>

#include <algorithm>
#include <optional>

namespace actr::rtc {

// ---- the GStreamer objects of one connection -----------------------------------------------------

struct GstPc::G {
  G(std::shared_ptr<PcBridge> b, const PcOptions& o) : bridge(std::move(b)), opts(o) {}
  const std::shared_ptr<PcBridge> bridge;
  const PcOptions opts;

  std::mutex mu;  // leaf: guards the fields below against GStreamer's threads
  bool torn = false;
  GstElement* pipeline = nullptr;  // owns the element
  GstElement* webrtc = nullptr;    // our own reference
  std::vector<std::pair<PayloadType, GstWebRTCDataChannel*>> channels;  // our own references
  std::vector<std::pair<gpointer, gulong>> handlers;
  std::vector<GstWebRTCDataChannel*> extra;  // create_extra_channel (our own references)

  // GLib thread only.
  bool shutdown_started = false;
  bool finished = false;
  int phase = 0;  // 0 draining, 1 closing
  gint64 phase_deadline = 0;
  std::vector<std::function<void()>> done;

  GstElement* ref_webrtc() {
    std::lock_guard lk(mu);
    if (torn || !webrtc) return nullptr;
    return GST_ELEMENT(gst_object_ref(webrtc));
  }
  void fail(std::string what) {
    PcEvent ev;
    ev.type = PcEvent::Type::Failure;
    ev.text = std::move(what);
    bridge->emit(std::move(ev));
  }
};

namespace {

constexpr guint kPollMs = 10;
constexpr gint64 kDrainMaxUs = 1'000'000;
constexpr gint64 kCloseLingerUs = 200'000;

// What one callback needs; one per connected handler or promise, freed by GLib.
struct Ctx {
  std::weak_ptr<GstPc::G> g;
  std::shared_ptr<PcBridge> bridge;
  PayloadType pt = PayloadType::RpcReliable;
  bool is_offer = false;
};
void free_ctx_closure(gpointer data, GClosure*) { delete static_cast<Ctx*>(data); }
void free_ctx(gpointer data) { delete static_cast<Ctx*>(data); }
Ctx& ctx(gpointer data) { return *static_cast<Ctx*>(data); }

template <class Fn>
void connect(GstPc::G& g, gpointer instance, const char* signal, Fn* fn, Ctx c) {  // g.mu held
  const gulong id = g_signal_connect_data(instance, signal, reinterpret_cast<GCallback>(fn), new Ctx(std::move(c)),
                                          free_ctx_closure, GConnectFlags{});
  g.handlers.emplace_back(instance, id);
}

void emit_simple(Ctx& c, PcEvent::Type t) {
  PcEvent ev;
  ev.type = t;
  ev.pt = c.pt;
  c.bridge->emit(std::move(ev));
}

PcState map_state(GstWebRTCPeerConnectionState s) {
  switch (s) {
    case GST_WEBRTC_PEER_CONNECTION_STATE_NEW: return PcState::New;
    case GST_WEBRTC_PEER_CONNECTION_STATE_CONNECTING: return PcState::Connecting;
    case GST_WEBRTC_PEER_CONNECTION_STATE_CONNECTED: return PcState::Connected;
    case GST_WEBRTC_PEER_CONNECTION_STATE_DISCONNECTED: return PcState::Disconnected;
    case GST_WEBRTC_PEER_CONNECTION_STATE_FAILED: return PcState::Failed;
    case GST_WEBRTC_PEER_CONNECTION_STATE_CLOSED: return PcState::Closed;
  }
  return PcState::Closed;
}

// The error of a finished promise, if it has one.
std::optional<std::string> promise_error(GstPromise* p) {
  const auto res = gst_promise_wait(p);
  if (res != GST_PROMISE_RESULT_REPLIED) return std::string("promise not replied (") + std::to_string(res) + ")";
  const GstStructure* r = gst_promise_get_reply(p);
  if (r && gst_structure_has_field(r, "error")) {
    GError* e = nullptr;
    gst_structure_get(r, "error", G_TYPE_ERROR, &e, nullptr);
    std::string msg = e ? e->message : "unknown error";
    g_clear_error(&e);
    return msg;
  }
  return std::nullopt;
}

// ---- channel callbacks (SCTP / streaming threads) ----
void on_channel_open(GstWebRTCDataChannel*, gpointer d) { emit_simple(ctx(d), PcEvent::Type::ChannelOpen); }
void on_channel_close(GstWebRTCDataChannel*, gpointer d) { emit_simple(ctx(d), PcEvent::Type::ChannelClosed); }
void on_channel_low(GstWebRTCDataChannel*, gpointer d) { emit_simple(ctx(d), PcEvent::Type::ChannelBufferedLow); }
void on_channel_error(GstWebRTCDataChannel*, GError* e, gpointer d) {
  spdlog::warn("actr: webrtc {} channel error: {}", to_string(ctx(d).pt), e ? e->message : "?");
}
void on_channel_data(GstWebRTCDataChannel*, GBytes* data, gpointer d) {
  PcEvent ev;
  ev.type = PcEvent::Type::ChannelMessage;
  ev.pt = ctx(d).pt;
  if (data) {
    gsize n = 0;
    const auto* p = static_cast<const std::uint8_t*>(g_bytes_get_data(data, &n));
    if (n > 0) ev.data.assign(p, p + n);
  }
  ctx(d).bridge->emit(std::move(ev));
}
void on_channel_string(GstWebRTCDataChannel*, gchar*, gpointer d) {
  // actr speaks binary only; a text message is a malformed fragment.
  PcEvent ev;
  ev.type = PcEvent::Type::ChannelMessage;
  ev.pt = ctx(d).pt;
  ev.text = "text";
  ctx(d).bridge->emit(std::move(ev));
}

// Takes ownership of one reference to `ch` and wires its callbacks. g.mu held.
std::vector<PcEvent> adopt_channel(const std::shared_ptr<GstPc::G>& g, GstWebRTCDataChannel* ch, PayloadType pt) {
  g_object_set(ch, "buffered-amount-low-threshold", static_cast<guint64>(g->opts.buffered_low_threshold), nullptr);
  Ctx base{g, g->bridge, pt, false};
  connect(*g, ch, "on-open", &on_channel_open, base);
  connect(*g, ch, "on-close", &on_channel_close, base);
  connect(*g, ch, "on-error", &on_channel_error, base);
  connect(*g, ch, "on-message-data", &on_channel_data, base);
  connect(*g, ch, "on-message-string", &on_channel_string, base);
  connect(*g, ch, "on-buffered-amount-low", &on_channel_low, base);
  g->channels.emplace_back(pt, ch);
  std::vector<PcEvent> out(1);
  out[0].type = PcEvent::Type::ChannelAdded;
  out[0].pt = pt;
  out[0].channel = std::make_shared<DataChannelRef>(ch);
  // An answerer's channels arrive already open, and then no on-open follows.
  if (ready_state(ch) == GST_WEBRTC_DATA_CHANNEL_STATE_OPEN) {
    out.emplace_back();
    out.back().type = PcEvent::Type::ChannelOpen;
    out.back().pt = pt;
  }
  return out;
}

// ---- webrtcbin callbacks (webrtcbin's thread) ----
void on_ice_candidate(GstElement*, guint mline, gchar* candidate, gpointer d) {
  auto& c = ctx(d);
  auto g = c.g.lock();
  if (!g || !candidate || !*candidate) return;
  if (!g->opts.local_addresses.empty()) {
    auto addr = candidate_address(candidate);
    const auto& allowed = g->opts.local_addresses;
    if (!addr || std::find(allowed.begin(), allowed.end(), *addr) == allowed.end()) return;
  }
  PcEvent ev;
  ev.type = PcEvent::Type::LocalCandidate;
  ev.text = candidate;
  ev.mline = mline;
  c.bridge->emit(std::move(ev));
}

void on_data_channel(GstElement*, GstWebRTCDataChannel* ch, gpointer d) {
  auto g = ctx(d).g.lock();
  if (!g) return;
  gchar* label = nullptr;
  g_object_get(ch, "label", &label, nullptr);
  auto pt = parse_payload_type(label ? label : "");
  if (!pt || *pt == PayloadType::MediaRtp) {
    PcEvent ev;
    ev.type = PcEvent::Type::ChannelIgnored;
    ev.text = label ? label : "";
    g_free(label);
    g->bridge->emit(std::move(ev));
    return;
  }
  g_free(label);
  std::vector<PcEvent> events;
  {
    std::lock_guard lk(g->mu);
    if (g->torn) return;
    events = adopt_channel(g, GST_WEBRTC_DATA_CHANNEL(g_object_ref(ch)), *pt);
  }
  for (auto& ev : events) g->bridge->emit(std::move(ev));
}

void on_connection_state(GObject* obj, GParamSpec*, gpointer d) {
  GstWebRTCPeerConnectionState s = GST_WEBRTC_PEER_CONNECTION_STATE_NEW;
  g_object_get(obj, "connection-state", &s, nullptr);
  PcEvent ev;
  ev.type = PcEvent::Type::ConnectionState;
  ev.state = map_state(s);
  ctx(d).bridge->emit(std::move(ev));
}

GstBusSyncReply on_bus(GstBus*, GstMessage* m, gpointer d) {
  if (GST_MESSAGE_TYPE(m) == GST_MESSAGE_ERROR) {
    GError* e = nullptr;
    gchar* dbg = nullptr;
    gst_message_parse_error(m, &e, &dbg);
    std::string what = std::string(GST_OBJECT_NAME(GST_MESSAGE_SRC(m))) + ": " + (e ? e->message : "error");
    g_clear_error(&e);
    g_free(dbg);
    PcEvent ev;
    ev.type = PcEvent::Type::Failure;
    ev.text = std::move(what);
    ctx(d).bridge->emit(std::move(ev));
  }
  // Nothing accumulates on the bus. A sync handler that drops a message owns it (GstBusSyncHandler
  // contract): without this unref every message, and the elements it refers to, would leak.
  gst_message_unref(m);
  return GST_BUS_DROP;
}

// What the set-local-description promise needs: the connection and the SDP it applies.
struct LocalCtx {
  Ctx c;
  std::string sdp;
};
void free_local_ctx(gpointer data) { delete static_cast<LocalCtx*>(data); }

// The local description is applied: only now is it announced (and so relayed to the peer). An
// answer to an offer relayed earlier could reach webrtcbin before its own set-local-description
// ran and be refused ("Not in the correct state (stable)").
void on_local_set(GstPromise* p, gpointer d) {
  auto& lc = *static_cast<LocalCtx*>(d);
  const auto err = promise_error(p);
  gst_promise_unref(p);
  auto g = lc.c.g.lock();
  if (!g) return;
  if (err) {
    g->fail("set-local-description: " + *err);
    return;
  }
  PcEvent ev;
  ev.type = PcEvent::Type::LocalDescription;
  ev.text = std::move(lc.sdp);
  g->bridge->emit(std::move(ev));
}

// An offer or answer was created: set it as the local description (announced once applied).
void on_description_created(GstPromise* p, gpointer d, const char* field) {
  auto g = ctx(d).g.lock();
  GstElement* w = g ? g->ref_webrtc() : nullptr;
  if (!w) {
    gst_promise_unref(p);
    return;
  }
  GstWebRTCSessionDescription* desc = nullptr;
  const auto err = promise_error(p);
  if (const GstStructure* r = err ? nullptr : gst_promise_get_reply(p); r)
    gst_structure_get(r, field, GST_TYPE_WEBRTC_SESSION_DESCRIPTION, &desc, nullptr);
  gst_promise_unref(p);
  if (err || !desc) {
    g->fail(std::string("create-") + field + ": " + (err ? *err : std::string("no description")));
  } else {
    gchar* text = gst_sdp_message_as_text(desc->sdp);
    auto* lc = new LocalCtx{ctx(d), text ? text : ""};
    g_free(text);
    auto* done = gst_promise_new_with_change_func(on_local_set, lc, free_local_ctx);
    g_signal_emit_by_name(w, "set-local-description", desc, done);
    gst_webrtc_session_description_free(desc);
  }
  gst_object_unref(w);
}
void on_offer_created(GstPromise* p, gpointer d) { on_description_created(p, d, "offer"); }
void on_answer_created(GstPromise* p, gpointer d) { on_description_created(p, d, "answer"); }

void on_remote_set(GstPromise* p, gpointer d) {
  auto& c = ctx(d);
  auto g = c.g.lock();
  auto err = promise_error(p);
  gst_promise_unref(p);
  if (!g) return;
  if (err) {
    g->fail("set-remote-description: " + *err);
    return;
  }
  PcEvent ev;
  ev.type = PcEvent::Type::RemoteDescriptionSet;
  g->bridge->emit(std::move(ev));
  if (!c.is_offer) return;
  if (GstElement* w = g->ref_webrtc()) {
    auto* promise = gst_promise_new_with_change_func(on_answer_created, new Ctx(c), free_ctx);
    g_signal_emit_by_name(w, "create-answer", nullptr, promise);
    gst_object_unref(w);
  }
}

struct ChannelSpec {
  PayloadType pt;
  bool ordered;
  int max_retransmits;  // -1: reliable
};
constexpr ChannelSpec kChannels[] = {
    {PayloadType::RpcReliable, true, -1},
    {PayloadType::RpcSignal, true, -1},
    {PayloadType::StreamReliable, true, -1},
    {PayloadType::StreamLatencyFirst, false, 3},
};

}  // namespace

// ---- GstPc ---------------------------------------------------------------------------------------

GstPc::GstPc(WebRtcRuntime::Impl& rt, PcOptions opts, std::shared_ptr<PcBridge> bridge)
    : rt_(rt), opts_(std::move(opts)), bridge_(std::move(bridge)), g_(std::make_shared<G>(bridge_, opts_)) {}

GstPc::~GstPc() {
  if (g_->pipeline && !g_->finished) {  // never started teardown: not expected, but never leak a pipeline
    gst_element_set_state(g_->pipeline, GST_STATE_NULL);
    gst_object_unref(g_->pipeline);
    if (g_->webrtc) gst_object_unref(g_->webrtc);
    for (auto& [pt, ch] : g_->channels) g_object_unref(ch);
    for (auto* ch : g_->extra) g_object_unref(ch);
  }
}

void GstPc::start() {
  auto g = g_;
  GstElement* pipeline = gst_pipeline_new(nullptr);
  GstElement* webrtc = gst_element_factory_make("webrtcbin", nullptr);
  if (!pipeline || !webrtc) {
    if (pipeline) gst_object_unref(pipeline);
    if (webrtc) gst_object_unref(gst_object_ref_sink(webrtc));
    g->fail("webrtcbin is not available (install gstreamer1.0-plugins-bad and gstreamer1.0-nice)");
    return;
  }
  configure_ice(webrtc, opts_);
  fix_sctp_partial_reliability(pipeline);
  {
    std::lock_guard lk(g->mu);
    g->pipeline = pipeline;
    g->webrtc = GST_ELEMENT(gst_object_ref(webrtc));
    Ctx base{g, bridge_, PayloadType::RpcReliable, false};
    connect(*g, webrtc, "on-ice-candidate", &on_ice_candidate, base);
    connect(*g, webrtc, "on-data-channel", &on_data_channel, base);
    connect(*g, webrtc, "notify::connection-state", &on_connection_state, base);
  }
  GstBus* bus = gst_pipeline_get_bus(GST_PIPELINE(pipeline));
  gst_bus_set_sync_handler(bus, on_bus, new Ctx{g, bridge_, PayloadType::RpcReliable, false}, free_ctx);
  gst_object_unref(bus);
  gst_bin_add(GST_BIN(pipeline), webrtc);
  rt_.register_pc(shared_from_this());  // from here on, runtime shutdown tears it down
  if (gst_element_set_state(pipeline, GST_STATE_PLAYING) == GST_STATE_CHANGE_FAILURE) {
    g->fail("webrtcbin pipeline refused to start");
    return;
  }
  if (!opts_.offerer) return;
  // Offerer: all channels first, then the offer (an offer made earlier may lack the m-line).
  std::vector<PcEvent> events;
  for (const auto& spec : kChannels) {
    GstStructure* o = spec.max_retransmits < 0
                          ? gst_structure_new("options", "ordered", G_TYPE_BOOLEAN, spec.ordered, nullptr)
                          : gst_structure_new("options", "ordered", G_TYPE_BOOLEAN, spec.ordered, "max-retransmits",
                                              G_TYPE_INT, spec.max_retransmits, nullptr);
    GstWebRTCDataChannel* ch = nullptr;
    g_signal_emit_by_name(webrtc, "create-data-channel", std::string(to_string(spec.pt)).c_str(), o, &ch);
    gst_structure_free(o);
    if (!ch) {
      g->fail(std::string("create-data-channel ") + std::string(to_string(spec.pt)) + " failed");
      return;
    }
    std::lock_guard lk(g->mu);
    auto evs = adopt_channel(g, ch, spec.pt);  // adopts the reference create-data-channel returned
    for (auto& ev : evs) events.push_back(std::move(ev));
  }
  for (auto& ev : events) bridge_->emit(std::move(ev));
  auto* promise = gst_promise_new_with_change_func(on_offer_created, new Ctx{g, bridge_, PayloadType::RpcReliable, false},
                                                   free_ctx);
  g_signal_emit_by_name(webrtc, "create-offer", nullptr, promise);
}

void GstPc::apply_remote(bool is_offer, const std::string& sdp) {
  GstElement* w = g_->ref_webrtc();
  if (!w) return;
  GstSDPMessage* msg = nullptr;
  if (gst_sdp_message_new_from_text(sdp.c_str(), &msg) != GST_SDP_OK || !msg) {
    if (msg) gst_sdp_message_free(msg);
    g_->fail("remote SDP does not parse");
    gst_object_unref(w);
    return;
  }
  auto* desc = gst_webrtc_session_description_new(is_offer ? GST_WEBRTC_SDP_TYPE_OFFER : GST_WEBRTC_SDP_TYPE_ANSWER, msg);
  auto* promise = gst_promise_new_with_change_func(on_remote_set, new Ctx{g_, bridge_, PayloadType::RpcReliable, is_offer},
                                                   free_ctx);
  g_signal_emit_by_name(w, "set-remote-description", desc, promise);
  gst_webrtc_session_description_free(desc);
  gst_object_unref(w);
}

void GstPc::add_candidate(std::uint32_t mline, const std::string& candidate) {
  GstElement* w = g_->ref_webrtc();
  if (!w) return;
  const char* line = candidate.rfind("a=", 0) == 0 ? candidate.c_str() + 2 : candidate.c_str();
  g_signal_emit_by_name(w, "add-ice-candidate", static_cast<guint>(mline), line);
  gst_object_unref(w);
}

bool GstPc::has_local_description() const {
  GstElement* w = g_->ref_webrtc();
  if (!w) return false;
  GstWebRTCSessionDescription* desc = nullptr;
  g_object_get(w, "local-description", &desc, nullptr);
  gst_object_unref(w);
  if (!desc) return false;
  gst_webrtc_session_description_free(desc);
  return true;
}

void GstPc::create_extra_channel(const std::string& label) {
  GstElement* w = g_->ref_webrtc();
  if (!w) return;
  GstWebRTCDataChannel* ch = nullptr;
  g_signal_emit_by_name(w, "create-data-channel", label.c_str(), nullptr, &ch);
  if (ch) {
    std::lock_guard lk(g_->mu);
    g_->extra.push_back(ch);  // released with the connection
  }
  gst_object_unref(w);
}

namespace {
gboolean teardown_tick(gpointer data);
void delete_pc_ref(gpointer data) { delete static_cast<std::shared_ptr<GstPc>*>(data); }
}  // namespace

void GstPc::shutdown(bool graceful, std::function<void()> done) {
  auto& g = *g_;
  if (done) g.done.push_back(std::move(done));
  if (g.finished) {
    auto callbacks = std::move(g.done);
    g.done.clear();
    for (auto& cb : callbacks) cb();
    return;
  }
  if (g.shutdown_started) {
    if (!graceful) finish();
    return;
  }
  g.shutdown_started = true;
  std::vector<std::pair<gpointer, gulong>> handlers;
  {
    std::lock_guard lk(g.mu);
    g.torn = true;  // no more channels adopted, no more negotiation steps
    handlers.swap(g.handlers);
  }
  for (auto& [instance, id] : handlers) g_signal_handler_disconnect(instance, id);
  if (g.pipeline) {
    GstBus* bus = gst_pipeline_get_bus(GST_PIPELINE(g.pipeline));
    gst_bus_set_sync_handler(bus, nullptr, nullptr, nullptr);
    gst_object_unref(bus);
  }
  if (!graceful || !g.pipeline || g.channels.empty()) {
    finish();
    return;
  }
  g.phase = 0;
  g.phase_deadline = g_get_monotonic_time() + kDrainMaxUs;
  GSource* t = g_timeout_source_new(kPollMs);
  g_source_set_callback(t, teardown_tick, new std::shared_ptr<GstPc>(shared_from_this()), delete_pc_ref);
  g_source_attach(t, static_cast<GMainContext*>(rt_.context()));
  g_source_unref(t);
}

namespace {
gboolean teardown_tick(gpointer data) {
  auto& pc = *static_cast<std::shared_ptr<GstPc>*>(data);
  return pc->teardown_step() ? G_SOURCE_CONTINUE : G_SOURCE_REMOVE;
}
}  // namespace

bool GstPc::teardown_step() {
  auto& g = *g_;
  if (g.finished) return false;
  const gint64 now = g_get_monotonic_time();
  if (g.phase == 0) {
    const bool drained = std::all_of(g.channels.begin(), g.channels.end(), [](const auto& c) {
      guint64 v = 0;
      g_object_get(c.second, "buffered-amount", &v, nullptr);
      return v == 0;
    });
    if (!drained && now < g.phase_deadline) return true;
    for (auto& [pt, ch] : g.channels) gst_webrtc_data_channel_close(ch);
    g.phase = 1;
    g.phase_deadline = now + kCloseLingerUs;
    return true;
  }
  const bool closed = std::all_of(g.channels.begin(), g.channels.end(), [](const auto& c) {
    return ready_state(c.second) == GST_WEBRTC_DATA_CHANNEL_STATE_CLOSED;
  });
  if (!closed && now < g.phase_deadline) return true;
  finish();
  return false;
}

void GstPc::finish() {
  auto& g = *g_;
  if (g.finished) return;
  g.finished = true;
  auto keep = shared_from_this();  // the registry may hold the last reference
  GstElement* pipeline = nullptr;
  GstElement* webrtc = nullptr;
  std::vector<std::pair<PayloadType, GstWebRTCDataChannel*>> channels;
  std::vector<std::pair<gpointer, gulong>> handlers;
  std::vector<GstWebRTCDataChannel*> extra;
  {
    std::lock_guard lk(g.mu);
    g.torn = true;
    std::swap(pipeline, g.pipeline);
    std::swap(webrtc, g.webrtc);
    channels.swap(g.channels);
    handlers.swap(g.handlers);
    extra.swap(g.extra);
  }
  for (auto& [instance, id] : handlers) g_signal_handler_disconnect(instance, id);
  if (pipeline) {
    gst_element_set_state(pipeline, GST_STATE_NULL);
    gst_object_unref(pipeline);
  }
  if (webrtc) gst_object_unref(webrtc);
  for (auto& [pt, ch] : channels) g_object_unref(ch);
  for (auto* ch : extra) g_object_unref(ch);
  rt_.unregister_pc(this);
  auto callbacks = std::move(g.done);
  g.done.clear();
  for (auto& cb : callbacks) cb();
}

}  // namespace actr::rtc
