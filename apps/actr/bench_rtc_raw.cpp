// The raw webrtcbin baseline of `actr bench webrtc`, written the plain way, as an application
// would use GStreamer directly: one webrtcbin per process, the offerer (client) creates two
// DataChannels — "rel" (ordered, reliable) and "lat" (unordered, max 3 retransmits, the settings
// of our STREAM_LATENCY_FIRST lane) — and the answerer (server) counts what arrives and, in the
// echo and rtt modes, echoes every binary message on the channel it came in on. A text "count"
// on "rel" is answered with "REL_COUNT REL_LAST_NS LAT_COUNT LAT_LAST_NS". The sender paces
// itself on `buffered-amount` (≤ 1 MiB, 50 µs sleeps). Our equivalent of
// ../shared/baselines/webrtc/webrtc_dc_bench.cpp (see docs/benchmarks.md for the differences).
// The only translation unit of the `actr` executable with GStreamer.
#include "bench.hpp"
#include "bench_pipe.hpp"

#include <gst/gst.h>
#include <gst/sdp/sdp.h>
#include <gst/webrtc/webrtc.h>

#include <array>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <optional>
#include <sstream>
#include <string>
#include <thread>

namespace actr::cli::bench {

namespace {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

std::int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch()).count();
}

struct Peer;

struct Channel {  // one DataChannel of either side
  Peer* peer = nullptr;
  GstWebRTCDataChannel* ch = nullptr;  // our reference
  bool echo = false;                   // server: echo binary messages
  std::mutex m;
  std::condition_variable cv;
  bool open = false;
  long long got = 0;         // binary messages received
  std::int64_t last_ns = 0;  // when the last one arrived
  std::string text;          // client: the last text reply
};

struct Peer {
  PeerArgs a;
  SignalPipe pipe;
  GstElement* pipeline = nullptr;
  GstElement* webrtc = nullptr;  // owned by the pipeline
  Channel rel, lat;
  std::mutex m;
  std::condition_variable cv;
  bool failed = false, peer_gone = false;

  void fail(const std::string& why) {
    std::fprintf(stderr, "raw webrtcbin peer: %s\n", why.c_str());
    std::lock_guard l(m);
    failed = true;
    cv.notify_all();
  }
};

// ---- channel callbacks (SCTP / streaming threads) ----
void on_open(GstWebRTCDataChannel*, gpointer u) {
  auto* c = static_cast<Channel*>(u);
  std::lock_guard l(c->m);
  c->open = true;
  c->cv.notify_all();
}
void on_data(GstWebRTCDataChannel* ch, GBytes* data, gpointer u) {
  auto* c = static_cast<Channel*>(u);
  {
    std::lock_guard l(c->m);
    ++c->got;
    c->last_ns = now_ns();
  }
  c->cv.notify_all();
  if (c->echo) gst_webrtc_data_channel_send_data_full(ch, data, nullptr);
}
void on_string(GstWebRTCDataChannel* ch, gchar* s, gpointer u) {
  auto* c = static_cast<Channel*>(u);
  if (c->peer->a.role == "server") {  // the count query
    Peer& p = *c->peer;
    std::ostringstream r;
    for (Channel* x : {&p.rel, &p.lat}) {
      std::lock_guard l(x->m);
      r << x->got << ' ' << x->last_ns << ' ';
    }
    gst_webrtc_data_channel_send_string_full(ch, r.str().c_str(), nullptr);
    return;
  }
  std::lock_guard l(c->m);
  c->text = s;
  c->cv.notify_all();
}
void watch(Channel& c, GstWebRTCDataChannel* ch) {
  c.ch = ch;
  g_signal_connect(ch, "on-open", G_CALLBACK(on_open), &c);
  g_signal_connect(ch, "on-message-data", G_CALLBACK(on_data), &c);
  g_signal_connect(ch, "on-message-string", G_CALLBACK(on_string), &c);
  GstWebRTCDataChannelState st = GST_WEBRTC_DATA_CHANNEL_STATE_CLOSED;
  g_object_get(ch, "ready-state", &st, nullptr);
  if (st == GST_WEBRTC_DATA_CHANNEL_STATE_OPEN) on_open(ch, &c);
}

// ---- webrtcbin callbacks ----
void on_data_channel(GstElement*, GstWebRTCDataChannel* ch, gpointer u) {  // server
  auto* p = static_cast<Peer*>(u);
  gchar* label = nullptr;
  g_object_get(ch, "label", &label, nullptr);
  Channel& c = std::strcmp(label ? label : "", "rel") == 0 ? p->rel : p->lat;
  g_free(label);
  c.echo = p->a.mode != "oneway";
  watch(c, GST_WEBRTC_DATA_CHANNEL(g_object_ref(ch)));
}
void on_ice_candidate(GstElement*, guint mline, gchar* cand, gpointer u) {
  // The agent gathers on 127.0.0.1 only; anything else is not passed on.
  if (std::strstr(cand, " 127.0.0.1 ")) static_cast<Peer*>(u)->pipe.send({{"k", "cand"}, {"m", mline}, {"c", cand}});
}
GstBusSyncReply on_bus(GstBus*, GstMessage* msg, gpointer u) {
  if (GST_MESSAGE_TYPE(msg) == GST_MESSAGE_ERROR) {
    GError* e = nullptr;
    gst_message_parse_error(msg, &e, nullptr);
    static_cast<Peer*>(u)->fail(std::string("bus error: ") + (e ? e->message : "?"));
    g_clear_error(&e);
  }
  gst_message_unref(msg);  // a sync handler that drops a message owns it
  return GST_BUS_DROP;
}

// A created offer/answer: send it, then set it as the local description.
void on_description(GstPromise* promise, gpointer u, const char* kind) {
  auto* p = static_cast<Peer*>(u);
  GstWebRTCSessionDescription* desc = nullptr;
  if (gst_promise_wait(promise) == GST_PROMISE_RESULT_REPLIED)
    if (const GstStructure* r = gst_promise_get_reply(promise))
      gst_structure_get(r, kind, GST_TYPE_WEBRTC_SESSION_DESCRIPTION, &desc, nullptr);
  gst_promise_unref(promise);
  if (!desc) return p->fail(std::string("no ") + kind);
  gchar* text = gst_sdp_message_as_text(desc->sdp);
  p->pipe.send({{"k", kind}, {"sdp", text}});
  g_free(text);
  g_signal_emit_by_name(p->webrtc, "set-local-description", desc, nullptr);
  gst_webrtc_session_description_free(desc);
}
void on_offer(GstPromise* promise, gpointer u) { on_description(promise, u, "offer"); }
void on_answer(GstPromise* promise, gpointer u) { on_description(promise, u, "answer"); }

bool build(Peer& p) {
  p.pipeline = gst_pipeline_new(nullptr);
  p.webrtc = gst_element_factory_make("webrtcbin", nullptr);
  if (!p.webrtc) return p.fail("webrtcbin is not available"), false;
  g_object_set(p.webrtc, "bundle-policy", GST_WEBRTC_BUNDLE_POLICY_MAX_BUNDLE, nullptr);
  GstWebRTCICE* ice = nullptr;
  g_object_get(p.webrtc, "ice-agent", &ice, nullptr);
  gboolean added = FALSE;
  g_signal_emit_by_name(ice, "add-local-ip-address", "127.0.0.1", &added);
  g_object_set(ice, "ice-tcp", FALSE, nullptr);
  gst_object_unref(ice);
  gst_bin_add(GST_BIN(p.pipeline), p.webrtc);
  g_signal_connect(p.webrtc, "on-ice-candidate", G_CALLBACK(on_ice_candidate), &p);
  g_signal_connect(p.webrtc, "on-data-channel", G_CALLBACK(on_data_channel), &p);
  GstBus* bus = gst_pipeline_get_bus(GST_PIPELINE(p.pipeline));
  gst_bus_set_sync_handler(bus, on_bus, &p, nullptr);
  gst_object_unref(bus);
  if (gst_element_set_state(p.pipeline, GST_STATE_PLAYING) == GST_STATE_CHANGE_FAILURE)
    return p.fail("pipeline refused PLAYING"), false;
  return true;
}

void set_remote(Peer& p, const std::string& sdp, GstWebRTCSDPType type) {
  GstSDPMessage* msg = nullptr;
  gst_sdp_message_new_from_text(sdp.c_str(), &msg);
  auto* desc = gst_webrtc_session_description_new(type, msg);
  g_signal_emit_by_name(p.webrtc, "set-remote-description", desc, nullptr);
  gst_webrtc_session_description_free(desc);
}

// Signals from the other process (the pipe's reader thread), applied in order.
void on_signal(Peer& p, const nlohmann::json& j) {
  const auto k = j.value("k", "");
  if (k == "offer") {  // server: the peer connection is built when the offer arrives
    if (!build(p)) return;
    set_remote(p, j["sdp"].get<std::string>(), GST_WEBRTC_SDP_TYPE_OFFER);
    g_signal_emit_by_name(p.webrtc, "create-answer", nullptr, gst_promise_new_with_change_func(on_answer, &p, nullptr));
  } else if (k == "answer") {
    set_remote(p, j["sdp"].get<std::string>(), GST_WEBRTC_SDP_TYPE_ANSWER);
  } else if (k == "cand" && p.webrtc) {
    g_signal_emit_by_name(p.webrtc, "add-ice-candidate", j["m"].get<guint>(), j["c"].get<std::string>().c_str());
  }
}

void teardown(Peer& p) {
  if (p.pipeline) {
    gst_element_set_state(p.pipeline, GST_STATE_NULL);
    gst_object_unref(p.pipeline);
  }
  for (Channel* c : {&p.rel, &p.lat})
    if (c->ch) g_object_unref(c->ch);
  quiesce_gstreamer();
}

// ---- the client's measurements -------------------------------------------------------------------

bool send(Channel& c, GBytes* msg) { return gst_webrtc_data_channel_send_data_full(c.ch, msg, nullptr) != FALSE; }
guint64 buffered(Channel& c) {
  guint64 v = 0;
  g_object_get(c.ch, "buffered-amount", &v, nullptr);
  return v;
}
template <class Pred>
bool wait(Channel& c, Clock::duration d, Pred pred) {
  std::unique_lock l(c.m);
  return c.cv.wait_for(l, d, pred);
}

// The server's counts: {rel count, rel last ns, lat count, lat last ns}.
std::optional<std::array<double, 4>> ask_count(Peer& p) {
  {
    std::lock_guard l(p.rel.m);
    p.rel.text.clear();
  }
  gst_webrtc_data_channel_send_string_full(p.rel.ch, "count", nullptr);
  if (!wait(p.rel, 5s, [&] { return !p.rel.text.empty(); })) return std::nullopt;
  std::array<double, 4> v{};
  std::istringstream in(p.rel.text);
  for (auto& x : v) in >> x;
  return v;
}

Measured measure(Peer& p, std::int64_t t_start) {
  Measured m;
  for (Channel* c : {&p.rel, &p.lat})
    if (!wait(*c, 20s, [&] { return c->open; })) return p.fail("channels did not open within 20 s"), m;
  m.connect_ms = static_cast<double>(now_ns() - t_start) / 1e6;
  const bool lat = p.a.lane == "latency";
  Channel& c = lat ? p.lat : p.rel;
  const std::string payload(p.a.size, 'x');
  GBytes* msg = g_bytes_new_static(payload.data(), payload.size());
  const auto dur = std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(p.a.seconds));
  auto echoed = [&] {
    std::lock_guard l(c.m);
    return c.got;
  };
  if (p.a.mode == "rtt") {
    std::vector<double> us;
    for (int i = 0; i < kRttWarmup; ++i) {
      const auto want = echoed() + 1;
      send(c, msg);
      (void)wait(c, lat ? 200ms : 5s, [&] { return c.got >= want; });
    }
    const auto t0 = Clock::now(), end = t0 + dur;
    while (Clock::now() < end) {
      const auto want = echoed() + 1;
      const auto t = Clock::now();
      if (!send(c, msg)) break;
      if (wait(c, lat ? 200ms : 5s, [&] { return c.got >= want; }))
        us.push_back(std::chrono::duration<double, std::micro>(Clock::now() - t).count());
      else if (lat) ++m.lost;
      else break;  // a reliable echo never came: a failed run
    }
    m.secs = std::chrono::duration<double>(Clock::now() - t0).count();
    m.msgs = static_cast<double>(us.size());
    m.p50_us = percentile_us(us, 0.5);
    m.p99_us = percentile_us(us, 0.99);
  } else if (p.a.mode == "echo") {
    long long sent = 0;
    const auto base = echoed();
    const auto t0 = Clock::now(), end = t0 + dur;
    while (Clock::now() < end) {
      if (!wait(c, 5s, [&] { return sent - (c.got - base) < static_cast<long long>(p.a.window); })) break;
      if (!send(c, msg)) break;
      ++sent;
    }
    const bool drained = wait(c, 10s, [&] { return c.got - base == sent; });
    m.secs = std::chrono::duration<double>(Clock::now() - t0).count();
    m.msgs = drained ? static_cast<double>(sent) : -1;
  } else {  // oneway; the rate is counted / (the server's last arrival − our first send)
    const auto t0 = now_ns();
    const auto start = Clock::now(), end = start + dur;
    while (Clock::now() < end) {
      if (p.a.rate > 0 &&
          m.sent >= static_cast<double>(due(p.a.rate, std::chrono::duration<double>(Clock::now() - start).count()))) {
        std::this_thread::sleep_for(1ms);
        continue;
      }
      while (buffered(c) > (1u << 20)) std::this_thread::sleep_for(50us);
      if (!send(c, msg)) break;
      ++m.sent;
    }
    const std::size_t at = lat ? 2 : 0;
    double last_count = -1;
    const auto give_up = Clock::now() + 10s;
    for (int quiet = 0; quiet < 3 && Clock::now() < give_up;) {  // all arrived, or (lossy lane) the count stopped
      auto v = ask_count(p);
      if (!v) break;
      quiet = lat && (*v)[at] == last_count ? quiet + 1 : 0;
      last_count = (*v)[at];
      m.msgs = last_count;
      m.secs = ((*v)[at + 1] - static_cast<double>(t0)) / 1e9;
      if (last_count >= m.sent) break;
      std::this_thread::sleep_for(lat ? 50ms : 5ms);
    }
    if (!lat && m.msgs != m.sent) m.msgs = -1;  // the reliable lane lost a message: a failed run
  }
  g_bytes_unref(msg);
  return m;
}

}  // namespace

void quiesce_gstreamer() {
  gst_task_cleanup_all();
  g_thread_pool_stop_unused_threads();
  std::this_thread::sleep_for(20ms);  // they exit on their own once told; no join is offered
}

int run_rtc_raw_peer(const PeerArgs& args) {
  pin(args.cpu);  // before GStreamer starts its threads: they inherit the mask
  gst_init(nullptr, nullptr);
  Peer p;
  p.a = args;
  p.rel.peer = p.lat.peer = &p;
  if (p.a.role == "server") {
    auto pipe = SignalPipe::listen();
    if (!pipe) return 1;
    p.pipe = std::move(*pipe);
    print_port(p.pipe.port());
    if (!p.pipe.accept()) return 1;
    p.pipe.start([&](nlohmann::json j) { on_signal(p, j); }, [&] {
      std::lock_guard l(p.m);
      p.peer_gone = true;
      p.cv.notify_all();
    });
    {
      std::unique_lock l(p.m);
      p.cv.wait(l, [&] { return p.peer_gone || p.failed; });
    }
    p.pipe.close();
    teardown(p);
    return p.failed ? 1 : 0;
  }
  auto pipe = SignalPipe::connect(p.a.port);
  if (!pipe) return 1;
  p.pipe = std::move(*pipe);
  p.pipe.start([&](nlohmann::json j) { on_signal(p, j); });
  const auto t_start = now_ns();
  Measured m;
  if (build(p)) {
    GstWebRTCDataChannel* ch = nullptr;
    GstStructure* o = gst_structure_new("o", "ordered", G_TYPE_BOOLEAN, TRUE, nullptr);
    g_signal_emit_by_name(p.webrtc, "create-data-channel", "rel", o, &ch);
    gst_structure_free(o);
    watch(p.rel, ch);
    o = gst_structure_new("o", "ordered", G_TYPE_BOOLEAN, FALSE, "max-retransmits", G_TYPE_INT, 3, nullptr);
    g_signal_emit_by_name(p.webrtc, "create-data-channel", "lat", o, &ch);
    gst_structure_free(o);
    watch(p.lat, ch);
    g_signal_emit_by_name(p.webrtc, "create-offer", nullptr, gst_promise_new_with_change_func(on_offer, &p, nullptr));
    m = measure(p, t_start);
  }
  print_result(p.a, m);
  p.pipe.close();
  teardown(p);
  return m.msgs > 0 ? 0 : 1;
}

}  // namespace actr::cli::bench
