#pragma once
// Private: the GLib side of `WebRtcRuntime`. One GLib main context with one thread running its
// loop; every GStreamer control call of the WebRTC wire (pipeline set-up, negotiation, teardown)
// runs there, posted with `invoke`. No GStreamer or GLib type appears in this header.

#include <actr/webrtc.hpp>

#include <chrono>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <thread>
#include <unordered_map>

namespace actr::rtc {

class GstPc;

}  // namespace actr::rtc

namespace actr {

struct WebRtcRuntime::Impl {
  Impl();
  ~Impl();
  Impl(const Impl&) = delete;
  Impl& operator=(const Impl&) = delete;

  /// Runs `fn` on the GLib thread, later (never inline, even when called from that thread).
  /// Jobs run in the order they were posted. Returns false (and drops `fn`) once shut down.
  /// Thread-safe. A job must not block on Asio.
  bool invoke(std::function<void()> fn);
  /// Stops accepting jobs, tears down every peer connection still registered (without
  /// lingering), stops the loop and joins its thread. Idempotent. From the GLib thread itself it
  /// only stops the loop (a thread cannot join itself); the destructor then detaches.
  /// Bounded: a loop that has not ended within `kStopBound` (a GStreamer element stuck in its
  /// teardown) is logged and left running, detached, with its context, instead of hanging the
  /// caller (at process exit: the exit).
  void shutdown();
  bool on_loop_thread() const noexcept { return std::this_thread::get_id() == thread_id_; }

  /// GLib thread only: the registry of live peer connections, so shutdown can reach them.
  void register_pc(const std::shared_ptr<rtc::GstPc>& pc);
  void unregister_pc(const rtc::GstPc* pc);

  /// Opaque GMainContext*, for GLib sources the peer connections attach (timeouts).
  void* context() const noexcept { return ctx_; }

 private:
  void* ctx_ = nullptr;   // GMainContext*
  void* loop_ = nullptr;  // GMainLoop*
  static constexpr std::chrono::seconds kStopBound{10};
  std::thread thread_;
  std::thread::id thread_id_;
  std::future<void> loop_ended_;  // ready once g_main_loop_run has returned
  bool abandoned_ = false;        // the loop outlived kStopBound: its context must stay alive
  std::mutex mu_;  // guards stopped_ (leaf; held only while attaching a source)
  bool stopped_ = false;
  std::unordered_map<const rtc::GstPc*, std::shared_ptr<rtc::GstPc>> pcs_;  // GLib thread only
};

}  // namespace actr
