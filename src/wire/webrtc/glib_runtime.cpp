// The GLib thread of the WebRTC wire: gst_init once per process, one main context and loop,
// jobs posted as idle sources, orderly shutdown.
#include "wire/webrtc/glib_runtime.hpp"

#include "wire/webrtc/gst_pc.hpp"

#include <gst/gst.h>

#include <spdlog/spdlog.h>

#include <future>
#include <mutex>

namespace actr {

namespace {

using Job = std::function<void()>;

gboolean run_job(gpointer data) {
  try {
    (*static_cast<Job*>(data))();
  } catch (const std::exception& e) {
    spdlog::error("actr: webrtc GLib job failed: {}", e.what());
  }
  return G_SOURCE_REMOVE;
}

void delete_job(gpointer data) { delete static_cast<Job*>(data); }

void ensure_gst_initialised() {
  static std::once_flag once;
  std::call_once(once, [] {
    GError* err = nullptr;
    if (!gst_init_check(nullptr, nullptr, &err)) {
      spdlog::error("actr: gst_init failed: {}", err ? err->message : "unknown");
      if (err) g_error_free(err);
    }
  });
}

GMainContext* as_ctx(void* p) { return static_cast<GMainContext*>(p); }
GMainLoop* as_loop(void* p) { return static_cast<GMainLoop*>(p); }

}  // namespace

WebRtcRuntime::Impl::Impl() {
  ensure_gst_initialised();
  ctx_ = g_main_context_new();
  loop_ = g_main_loop_new(as_ctx(ctx_), FALSE);
  std::promise<std::thread::id> started;
  auto id = started.get_future();
  std::promise<void> ended;
  loop_ended_ = ended.get_future();
  thread_ = std::thread([this, &started, ended = std::move(ended)]() mutable {
    g_main_context_push_thread_default(as_ctx(ctx_));
    started.set_value(std::this_thread::get_id());
    g_main_loop_run(as_loop(loop_));
    g_main_context_pop_thread_default(as_ctx(ctx_));
    ended.set_value();
  });
  thread_id_ = id.get();
}

WebRtcRuntime::Impl::~Impl() {
  shutdown();
  if (thread_.joinable()) thread_.detach();  // destroyed on the loop thread itself, or abandoned
  if (abandoned_) return;  // the stuck thread still uses the loop and its context
  g_main_loop_unref(as_loop(loop_));
  g_main_context_unref(as_ctx(ctx_));  // destroys queued jobs that never ran
}

bool WebRtcRuntime::Impl::invoke(std::function<void()> fn) {
  std::lock_guard lk(mu_);
  if (stopped_) return false;
  GSource* src = g_idle_source_new();
  g_source_set_priority(src, G_PRIORITY_DEFAULT);
  g_source_set_callback(src, run_job, new Job(std::move(fn)), delete_job);
  g_source_attach(src, as_ctx(ctx_));
  g_source_unref(src);
  return true;
}

void WebRtcRuntime::Impl::shutdown() {
  {
    std::lock_guard lk(mu_);
    if (stopped_) return;
    stopped_ = true;
    // The last job: everything posted before it has run; it tears down what is left and stops.
    GSource* src = g_idle_source_new();
    g_source_set_priority(src, G_PRIORITY_LOW);
    g_source_set_callback(src, run_job, new Job([this] {
      auto pcs = std::move(pcs_);
      pcs_.clear();
      if (!pcs.empty()) spdlog::debug("actr: webrtc runtime shutdown tears down {} peer connection(s)", pcs.size());
      for (auto& [raw, pc] : pcs) pc->shutdown(false, nullptr);
      g_main_loop_quit(as_loop(loop_));
    }), delete_job);
    g_source_attach(src, as_ctx(ctx_));
    g_source_unref(src);
  }
  if (on_loop_thread() || !thread_.joinable()) return;
  if (loop_ended_.wait_for(kStopBound) == std::future_status::ready) {
    thread_.join();
    return;
  }
  // Seen rarely at process exit in the WebRTC tests: the process hung here. A bounded wait
  // turns that hang into this line.
  spdlog::error("actr: webrtc runtime: the GLib loop did not stop within {} s; leaving its thread", kStopBound.count());
  abandoned_ = true;
  thread_.detach();
}

void WebRtcRuntime::Impl::register_pc(const std::shared_ptr<rtc::GstPc>& pc) { pcs_.emplace(pc.get(), pc); }

void WebRtcRuntime::Impl::unregister_pc(const rtc::GstPc* pc) { pcs_.erase(pc); }

// ---- the public face ----------------------------------------------------------------------------

WebRtcRuntime::WebRtcRuntime() : impl_(std::make_unique<Impl>()) {}
WebRtcRuntime::~WebRtcRuntime() = default;

std::shared_ptr<WebRtcRuntime> WebRtcRuntime::create() { return std::shared_ptr<WebRtcRuntime>(new WebRtcRuntime()); }

std::shared_ptr<WebRtcRuntime> WebRtcRuntime::process_default() {
  // Created on first use, destroyed (loop stopped, thread joined) at static destruction. The
  // logger registry is touched first so that it is destroyed after us (the shutdown job logs).
  static std::shared_ptr<WebRtcRuntime> rt = (spdlog::default_logger(), create());
  return rt;
}

void WebRtcRuntime::shutdown() { impl_->shutdown(); }

}  // namespace actr
