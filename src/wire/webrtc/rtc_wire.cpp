// The WebRTC wire, Asio side: generations, connect, GStreamer events, idempotent bounded close.
// Signaling is in rtc_signals.cpp, recovery by restart in rtc_recovery.cpp. GStreamer work is
// posted to the GLib thread (`invoke`); its events come back posted onto `strand` (`on_event`).
#include "wire/webrtc/rtc_wire.hpp"

#include "wire/webrtc/glib_runtime.hpp"

#include <actr/backoff.hpp>
#include <actr/error.hpp>

#include "detail/asio.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstdio>

namespace actr {

using namespace detail;
using Impl = WebRtcWire::Impl;
using Phase = Impl::Phase;

namespace {
// A UUID v4 (RFC 9562 §5.4), as actr's `new_envelope_id`: random bits, version 4, variant 10.
std::string fresh_exchange_id() {
  std::uint64_t hi = Backoff::fresh_seed(), lo = Backoff::fresh_seed();
  hi = (hi & ~0xF000ULL) | 0x4000ULL;                  // version nibble
  lo = (lo & ~(3ULL << 62)) | (2ULL << 62);            // variant bits
  char out[37];
  std::snprintf(out, sizeof out, "%08llx-%04llx-%04llx-%04llx-%012llx", static_cast<unsigned long long>(hi >> 32),
                static_cast<unsigned long long>((hi >> 16) & 0xFFFF), static_cast<unsigned long long>(hi & 0xFFFF),
                static_cast<unsigned long long>(lo >> 48), static_cast<unsigned long long>(lo & 0xFFFFFFFFFFFFULL));
  return out;
}
}  // namespace

Impl::Impl(asio::any_io_executor e, WebRtcConfig c, ActrId l, ActrId r, bool off, std::shared_ptr<PeerSignalSink> s,
           FrameHandler f, std::shared_ptr<WebRtcRuntime> rt, std::uint64_t sess)
    : ex(e), strand(asio::make_strand(e)), cfg(std::move(c)), local(std::move(l)), remote(std::move(r)), offerer(off),
      sink(std::move(s)), runtime(std::move(rt)), session(sess), tasks(e), on_frame(std::move(f)),
      gate(cfg.max_pending_candidates) {}

Impl::~Impl() {
  // Normally done by close()/abandon(); never leave a bridge that could post to this object.
  if (gen) retire(gen, true);
  if (close_bridge) close_bridge->shut();
}

void Impl::start(std::weak_ptr<WebRtcWire> o) {
  owner = std::move(o);
  auto self = shared_from_this();
  tasks.spawn("webrtc-signals", [self]() -> asio::awaitable<void> { co_await self->signal_sender(); });
  tasks.spawn("webrtc-reader", [self]() -> asio::awaitable<void> { co_await self->reader(); });
}

bool Impl::invoke(std::function<void()> fn) { return runtime->impl().invoke(std::move(fn)); }

void Impl::push_signal(PeerSignal s) {
  if (!signals.try_push(std::move(s))) spdlog::warn("actr: webrtc[{}] outbound signal dropped (queue full or closed)", session);
}

void Impl::notify_all() {
  changed.notify();
  inbound_ready.notify();
  for (auto& r : room) r.notify();
}

// ---- generations --------------------------------------------------------------------------------

std::shared_ptr<Impl::Gen> Impl::new_gen_locked(bool restart, Later& later) {
  auto g = std::make_shared<Gen>();
  g->id = next_gen++;
  g->restart = restart;
  if (offerer) g->exchange_id = fresh_exchange_id();
  ReassemblyLimits lim;
  lim.max_message_size = cfg.max_message_size;
  lim.max_buffered_bytes = cfg.max_reassembly_bytes;
  lim.ttl = cfg.reassembly_ttl;
  lim.shared = cfg.reassembly_budget;
  for (auto& r : g->reassembly) r = Reassembler(lim);
  std::weak_ptr<Impl> weak = weak_from_this();
  // Every event carries (session, generation); on arrival both must still be current.
  g->bridge = std::make_shared<rtc::PcBridge>([weak, sess = session, id = g->id, s = strand](rtc::PcEvent&& ev) {
    asio::post(s, [weak, sess, id, ev = std::move(ev)]() mutable {
      if (auto self = weak.lock()) self->on_event(sess, id, std::move(ev));
    });
  });
  rtc::PcOptions o;
  o.offerer = offerer;
  o.ice_servers = cfg.ice_servers;
  o.relay_only = cfg.relay_only;
  o.local_addresses = cfg.local_addresses;
  o.buffered_low_threshold = cfg.send_high_water / 2;
  g->pc = std::make_shared<rtc::GstPc>(runtime->impl(), std::move(o), g->bridge);
  if (auto old = std::exchange(gen, g)) later.push_back([this, old] { retire(old, false); });
  gate.retire_current();
  ++stats.peer_connections;
  spdlog::debug("actr: webrtc[{}] peer connection generation {} ({})", session, g->id, restart ? "restart" : "first");
  return g;
}

void Impl::retire(const std::shared_ptr<Gen>& g, bool graceful) {
  g->bridge->shut();  // from here on none of its callbacks reaches us
  if (!invoke([pc = g->pc, graceful] { pc->shutdown(graceful, nullptr); })) {
    // The runtime is shut down: it already tore down every peer connection.
  }
}

// ---- connect ------------------------------------------------------------------------------------

asio::awaitable<Result<void>> Impl::connect() {
  auto self = shared_from_this();
  Later later;
  std::shared_ptr<Gen> started;
  std::uint64_t failures_before = 0;
  {
    std::lock_guard lk(mu);
    failures_before = failed_setups;
    if (phase == Phase::Closed) co_return make_error_code(NetworkError::PeerConnectionClosed);
    if (phase == Phase::Open) co_return ok();
    if (phase == Phase::Idle && offerer) {
      phase = Phase::Connecting;
      started = new_gen_locked(false, later);
    }
  }
  run(later);
  if (started && !invoke([pc = started->pc] { pc->start(); })) {
    std::lock_guard lk(mu);
    started->failure = make_error_code(NetworkError::WebRtcError);
  }
  const auto deadline = Clock::now() + cfg.connect_timeout;
  for (;;) {
    const auto seen = changed.version();
    Error failed;
    {
      std::lock_guard lk(mu);
      if (phase == Phase::Open) co_return ok();
      // Every caller waiting on an attempt that failed learns why (not only the first to look).
      if (failed_setups != failures_before) co_return last_setup_failure;
      if (phase == Phase::Closed) co_return make_error_code(NetworkError::PeerConnectionClosed);
      if (phase == Phase::Connecting && gen && gen->failure) {  // this attempt failed: tear it down
        failed = gen->failure;
        ++failed_setups;
        last_setup_failure = failed;
        later.push_back([this] { changed.notify(); });  // the other waiters of this attempt
        later.push_back([this, g = std::exchange(gen, nullptr)] { retire(g, false); });
        phase = Phase::Idle;
      }
    }
    if (failed) {
      run(later);
      co_return failed;
    }
    auto w = co_await changed.async_wait_change(seen, deadline);
    if (!w) {
      {
        std::lock_guard lk(mu);
        if (phase == Phase::Connecting) {  // give the attempt up; connect() may be called again
          phase = Phase::Idle;
          if (gen) later.push_back([this, g = std::exchange(gen, nullptr)] { retire(g, false); });
        }
      }
      run(later);
      co_return w.error();
    }
  }
}

// ---- close --------------------------------------------------------------------------------------

void Impl::abandon() {
  std::shared_ptr<Gen> g;
  {
    std::lock_guard lk(mu);
    if (closing) return;
    closing = true;
    phase = Phase::Closed;
    connected.store(false, std::memory_order_release);
    g = std::exchange(gen, nullptr);
    on_frame = nullptr;
    inbound.clear();
    inbound_bytes = 0;
    torn_down = true;
  }
  notify_all();
  signals.close();
  tasks.close();
  if (g) retire(g, true);
}

asio::awaitable<void> Impl::close() {
  auto self = shared_from_this();
  std::shared_ptr<Gen> g;
  bool first = false;
  {
    std::lock_guard lk(mu);
    if (!closing) {
      first = true;
      closing = true;
      phase = Phase::Closed;  // reported before the slow part: lanes and connect() fail from now on
      connected.store(false, std::memory_order_release);
      g = std::exchange(gen, nullptr);
      on_frame = nullptr;  // callbacks cleared
      inbound.clear();
      inbound_bytes = 0;
      if (g) {
        std::weak_ptr<Impl> weak = weak_from_this();
        close_bridge = std::make_shared<rtc::PcBridge>([weak, s = strand](rtc::PcEvent&&) {
          asio::post(s, [weak] {
            auto me = weak.lock();
            if (!me) return;
            {
              std::lock_guard lk2(me->mu);
              me->torn_down = true;
            }
            me->teardown_done.notify();
          });
        });
      } else {
        torn_down = true;
      }
    }
  }
  if (first) {
    notify_all();
    signals.close();
    tasks.close();
    if (g) {
      g->bridge->shut();
      auto done = close_bridge;
      if (!invoke([pc = g->pc, done] { pc->shutdown(true, [done] { done->emit(rtc::PcEvent{}); }); })) {
        std::lock_guard lk(mu);
        torn_down = true;
      }
    }
  }
  // Bounded: the pipeline may take longer to stop; it finishes on the GLib thread regardless.
  const auto deadline = Clock::now() + cfg.close_timeout;
  for (;;) {
    const auto seen = teardown_done.version();
    {
      std::lock_guard lk(mu);
      if (torn_down) break;
    }
    auto w = co_await teardown_done.async_wait_change(seen, deadline);
    if (!w) break;
  }
  std::shared_ptr<rtc::PcBridge> cb;
  {
    std::lock_guard lk(mu);
    cb = close_bridge;
  }
  if (cb) cb->shut();
}

// ---- GStreamer events (on strand) ---------------------------------------------------------------

void Impl::on_event(std::uint64_t session_id, std::uint64_t gen_id, rtc::PcEvent&& ev) {
  using T = rtc::PcEvent::Type;
  Later later;
  {
    std::lock_guard lk(mu);
    if (session_id != session || phase == Phase::Closed || !gen || gen->id != gen_id) {
      spdlog::debug("actr: webrtc[{}] ignores a late event of session {} generation {}", session, session_id, gen_id);
      return;  // an old connection's late callback
    }
    Gen& g = *gen;
    const auto i = lane_index(ev.pt);
    switch (ev.type) {
      case T::LocalDescription:
        on_local_description_locked(later, g, std::move(ev.text));
        break;
      case T::LocalCandidate:
        on_local_candidate_locked(later, g, std::move(ev.text), ev.mline);
        break;
      case T::RemoteDescriptionSet:
        break;
      case T::ChannelAdded:
        g.channels[i] = std::move(ev.channel);
        break;
      case T::ChannelOpen:
        // An answerer's channel can report open twice (its state when adopted, and on-open);
        // only the first counts. A connection recovery gave up on never reopens the wire: a
        // late "open" of it must not end a recovery that has not rebuilt anything.
        if (g.open[i]) break;
        g.open[i] = true;
        if (std::all_of(g.open.begin(), g.open.end(), [](bool b) { return b; }) && !g.lost &&
            (phase == Phase::Connecting || phase == Phase::Recovering)) {
          if (phase == Phase::Recovering) ++stats.restarts_completed;
          phase = Phase::Open;
          connected.store(true, std::memory_order_release);
          spdlog::debug("actr: webrtc[{}] open (generation {})", session, g.id);
          later.push_back([this] { notify_all(); });
        }
        break;
      case T::ChannelClosed:
        if (phase == Phase::Open) {
          spdlog::info("actr: webrtc[{}] peer closed {}", session, to_string(ev.pt));
          die_locked(later, make_error_code(NetworkError::DataChannelClosed));
        } else if (!g.failure) {
          g.failure = make_error_code(NetworkError::DataChannelClosed);
          later.push_back([this] { changed.notify(); });
        }
        break;
      case T::ChannelMessage:
        on_message_locked(later, g, ev);
        break;
      case T::ChannelBufferedLow:
        later.push_back([this, i] { room[i].notify(); });
        break;
      case T::ChannelIgnored:
        ++stats.channels_ignored;
        spdlog::info("actr: webrtc[{}] ignores a DataChannel labelled '{}'", session, ev.text);
        break;
      case T::ConnectionState:
        if (ev.state == rtc::PcState::Disconnected || ev.state == rtc::PcState::Failed) {
          spdlog::info("actr: webrtc[{}] connection {}", session,
                       ev.state == rtc::PcState::Failed ? "failed" : "disconnected");
          if (phase == Phase::Open) {
            enter_recovery_locked(later, false);
          } else if (!g.failure) {
            g.failure = make_error_code(NetworkError::IceError);
            later.push_back([this] { changed.notify(); });
          }
        } else if (ev.state == rtc::PcState::Closed && phase == Phase::Open) {
          die_locked(later, make_error_code(NetworkError::PeerConnectionClosed));
        }
        break;
      case T::Failure:
        spdlog::info("actr: webrtc[{}] {}", session, ev.text);
        if (phase == Phase::Open) {
          die_locked(later, make_error_code(NetworkError::PeerConnectionClosed));
        } else if (!g.failure) {
          g.failure = make_error_code(NetworkError::WebRtcError);
          later.push_back([this] { changed.notify(); });
        }
        break;
    }
  }
  run(later);
}

void Impl::die_locked(Later& later, Error why) {
  if (phase == Phase::Closed) return;
  phase = Phase::Closed;
  connected.store(false, std::memory_order_release);
  auto g = std::exchange(gen, nullptr);
  const bool report = !closing;
  later.push_back([this, g, why, report] {
    if (g) retire(g, true);
    notify_all();
    signals.close();
    if (report) {
      if (auto w = owner.lock()) w->died(why);
    }
  });
}

// ---- the handle ---------------------------------------------------------------------------------

WebRtcWire::WebRtcWire() : WireHandle(WireKind::WebRtc) {}
WebRtcWire::~WebRtcWire() {
  if (impl_) impl_->abandon();
}
asio::awaitable<Result<void>> WebRtcWire::connect() { return impl_->connect(); }
asio::awaitable<void> WebRtcWire::close() { return impl_->close(); }
bool WebRtcWire::is_connected() const noexcept {
  return impl_->connected.load(std::memory_order_acquire) && !impl_->close_begun.load(std::memory_order_acquire);
}
// Only a flag: the coordinator then negotiates a new connection instead of handing this one out.
// A separate flag, so that a restart completing afterwards does not make the wire look usable again.
void WebRtcWire::begin_close() noexcept { impl_->close_begun.store(true, std::memory_order_release); }
Result<std::shared_ptr<DataLane>> WebRtcWire::get_lane(PayloadType pt) { return impl_->get_lane(pt); }
void WebRtcWire::handle_signal(PeerSignal signal) { impl_->handle_signal(std::move(signal)); }
void WebRtcWire::report_connection_lost() { impl_->report_connection_lost(); }
const ActrId& WebRtcWire::local() const noexcept { return impl_->local; }
const ActrId& WebRtcWire::remote() const noexcept { return impl_->remote; }
bool WebRtcWire::is_offerer() const noexcept { return impl_->offerer; }

bool WebRtcWire::is_setting_up() const {
  std::lock_guard lk(impl_->mu);
  return impl_->phase == Impl::Phase::Idle || impl_->phase == Impl::Phase::Connecting;
}

WebRtcStats WebRtcWire::stats() const {
  std::lock_guard lk(impl_->mu);
  WebRtcStats s = impl_->stats;
  s.messages_sent = impl_->messages_sent.load();
  s.fragments_sent = impl_->fragments_sent.load();
  return s;
}

std::shared_ptr<WebRtcWire> make_webrtc_wire(asio::any_io_executor ex, WebRtcConfig cfg, ActrId local, ActrId remote,
                                             bool is_offerer, std::shared_ptr<PeerSignalSink> signals,
                                             FrameHandler on_frame, std::shared_ptr<WebRtcRuntime> runtime) {
  if (!runtime) runtime = WebRtcRuntime::process_default();
  std::shared_ptr<WebRtcWire> w(new WebRtcWire());
  w->impl_ = std::make_shared<WebRtcWire::Impl>(std::move(ex), std::move(cfg), std::move(local), std::move(remote),
                                                is_offerer, std::move(signals), std::move(on_frame),
                                                std::move(runtime), w->identity().session_id);
  w->impl_->start(w);
  return w;
}

}  // namespace actr
