#pragma once
// Private: the state of a SignalingClient, shared by signaling_client.cpp (requests, inbound
// envelopes, public API) and client_tasks.cpp (supervisor, heartbeat, shutdown).

#include <actr/hex.hpp>
#include <actr/detail/task_group.hpp>
#include <actr/error.hpp>
#include <actr/signaling_client.hpp>

#include "detail/asio.hpp"
#include "signaling/envelope.hpp"
#include "wire/websocket/ws_conn.hpp"

#include <atomic>
#include <functional>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

namespace actr {

namespace sig {
struct Pending {
  explicit Pending(std::uint64_t e) : epoch(e) {}
  const std::uint64_t epoch;  // the link the request went out on
  detail::AsyncQueue<pb::SignalingEnvelope> reply{1};  // closed (without a reply) when the link drops
};

// The outcome of connect()'s first dial. Not constructible from an Error on purpose: a queue item
// that is would make `Result<item>` ambiguous.
class FirstAttempt {
 public:
  static FirstAttempt of(Error e) {
    FirstAttempt f;
    f.ec_ = e;
    return f;
  }
  const Error& ec() const { return ec_; }

 private:
  Error ec_;
};

struct Identity {
  ActrId id;
  std::optional<std::string> ws_address;
  std::optional<pb::AIdCredential> credential;  // set once the server accepted it
  std::uint64_t renew_at = 0;                   // unix s: register again (renew) from then on
};

inline Error closed_error() { return make_error_code(NetworkError::ConnectionClosed); }
inline Error protocol_error() { return make_error_code(NetworkError::ProtocolError); }
// Result<bool> cannot be built from an error_code implicitly (error_code converts to bool).
inline Result<bool> bool_error(const Error& e) { return Result<bool>(boost::system::in_place_error, e); }

// The server's answer to a request, or the error it sent instead.
inline Result<pb::SignalingToActr> server_reply(const pb::SignalingEnvelope& env) {
  if (env.has_envelope_error()) return signaling_error_from_wire(env.envelope_error().code());
  if (!env.has_server_to_actr()) return protocol_error();
  if (env.server_to_actr().has_error()) return signaling_error_from_wire(env.server_to_actr().error().code());
  return env.server_to_actr();
}

inline boost::asio::awaitable<bool> was_cancelled() {
  auto cs = co_await boost::asio::this_coro::cancellation_state;
  co_return cs.cancelled() != boost::asio::cancellation_type::none;
}
// A dial failure no retry can fix (SignalingClient::terminal_error): the certificate, or HTTP 403.
inline bool is_terminal_dial_failure(const Error& ec) {
  return is_tls_failure(ec) || ec == make_error_code(NetworkError::PermissionError);
}

// actr_instance: distinct per client object (a process that restarts makes a new one), not secret.
inline std::string new_instance_token() { return random_hex(16); }

}  // namespace sig

struct SignalingClient::Impl : std::enable_shared_from_this<Impl> {
  Impl(boost::asio::any_io_executor e, SignalingClientConfig c)
      : ex(std::move(e)), cfg(std::move(c)),
        link_cfg{.max_message_size = cfg.max_message_size,
                 .handshake_timeout = cfg.connect_timeout,
                 .keepalive_interval = cfg.keepalive_interval,
                 .close_timeout = cfg.close_timeout,
                 .queue_limit = cfg.send_queue_limit,
                 .tls = cfg.tls},
        tasks(ex), default_inbox(cfg.inbox_capacity), roles(cfg.inbox_capacity), errors(cfg.inbox_capacity),
        heartbeat(cfg.heartbeat_interval) {}

  boost::asio::any_io_executor ex;
  const SignalingClientConfig cfg;
  const std::string instance = sig::new_instance_token();  // actr_instance in our URL identity
  ws::ConnConfig link_cfg;
  detail::TaskGroup tasks;  // supervisor, heartbeat
  SignalInbox default_inbox;
  detail::AsyncQueue<RoleAssignmentEvent> roles;
  detail::AsyncQueue<SignalingErrorEvent> errors;
  detail::Notifier changed;  // link, state, registrations or closed changed
  detail::Notifier rereg;    // the server says we are not registered (any more)
  std::atomic<SignalingState> state{SignalingState::Disconnected};
  std::atomic<std::uint64_t> registrations{0}, dropped{0}, pongs{0}, next_env{1}, refused_relays{0}, switches{0};
  std::atomic<Clock::rep> last_inbound{0};  // when the current link last delivered anything

  mutable std::mutex mu;  // guards everything below; a leaf: no await, send or callback under it
  bool closed = false;
  bool started = false;
  std::vector<std::string> urls;  // the servers, in the caller's order (set by connect)
  std::size_t current = 0;        // index of the server of the current (or last) link
  bool linked = false;            // some link was ever established (`current` means something)
  std::shared_ptr<ws::Connection> link;  // where sends go; registered whenever we have an identity
  std::uint64_t epoch = 0;          // the newest link; inbound pushes from older links are ignored
  std::uint64_t epochs = 0;
  std::optional<sig::Identity> identity;
  std::optional<VerifyingKey> server_key;  // the key the server says signed our credential
  std::shared_ptr<KeyRing> relay_keys;     // verify_relays: peers' relays must verify (null: off)
  bool relay_trust_server_key = false;
  // A TLS failure of the last dial: the client stopped trying (a certificate problem does not
  // go away by itself). Cleared by a successful attach.
  Error terminal;
  std::uint64_t identity_gen = 0;  // bumped by register_actor/unregister: older registrations lose
  std::chrono::milliseconds heartbeat;
  std::unordered_map<std::string, std::shared_ptr<sig::Pending>> pending;
  std::unordered_map<ActrId, std::shared_ptr<SignalInbox>> inboxes;

  std::string next_id() { return "env-" + std::to_string(next_env.fetch_add(1)); }
  void set_state(SignalingState s) {
    state.store(s);
    changed.notify();
  }
  bool is_closed() const {
    std::lock_guard lk(mu);
    return closed;
  }
  // Records the outcome of a dial for `terminal_error()`: a terminal failure (TLS, HTTP 403), or
  // success (clears it).
  void note_dial(const Error& ec) {
    {
      std::lock_guard lk(mu);
      if (!ec) terminal = {};
      else if (sig::is_terminal_dial_failure(ec)) terminal = ec;
      else return;
    }
    changed.notify();
  }


  // ---- requests (signaling_client.cpp) ---------------------------------------------------------
  // Sends `env` on `l` and waits for the envelope whose reply_for names it.
  boost::asio::awaitable<Result<pb::SignalingEnvelope>> request(pb::SignalingEnvelope env,
                                                                 std::shared_ptr<ws::Connection> l, std::uint64_t ep);
  // Sends an ActrToSignaling (source, credential, and what `fill` adds) and returns the server's
  // answer; an error envelope or `SignalingToActr.error` becomes its SignalingErrc.
  boost::asio::awaitable<Result<pb::SignalingToActr>> ask(std::function<void(pb::ActrToSignaling*)> fill);
  // Fills source + credential. Errors: NotRegistered before a successful registration.
  Result<void> sign_locked(pb::ActrId* source, pb::AIdCredential* cred) const;
  boost::asio::awaitable<Result<void>> do_register(sig::Identity want, std::uint64_t gen,
                                                   std::shared_ptr<ws::Connection> l, std::uint64_t ep);

  // ---- inbound, on the link's strand (signaling_client.cpp) -------------------------------------
  void on_message(std::uint64_t ep, ConstBytes data, bool binary);
  void deliver_relay(const pb::ActrRelay& relay);
  /// `verify_relays`' check of one relay from `from`.
  bool relay_verified(const pb::ActrRelay& relay, const ActrId& from);
  // The link of epoch `ep` died: its pending requests fail now, not at their deadlines.
  void on_closed(std::uint64_t ep, const Error& why);

  // ---- tasks (client_tasks.cpp) ----------------------------------------------------------------
  // Dials urls[which], registers again if we have an identity, and publishes the link. Runs on the
  // supervisor's strand, which becomes the link's strand.
  boost::asio::awaitable<Result<void>> attach(std::size_t which);
  // One round: attach() to each URL once, from urls[start] on, wrapping around, until one
  // succeeds. Its failure: a terminal one only if every URL failed terminally, else the last.
  boost::asio::awaitable<Result<void>> attach_round(std::size_t start);
  boost::asio::awaitable<void> supervise(std::shared_ptr<detail::AsyncQueue<sig::FirstAttempt>> first);
  boost::asio::awaitable<void> heartbeat_loop();
  // Marks the client closed and releases everything that can be released without waiting.
  // Returns the link to close (null on a second call).
  std::shared_ptr<ws::Connection> shutdown();
};

}  // namespace actr
