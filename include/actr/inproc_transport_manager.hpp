#pragma once
/// @file
/// `InprocTransportManager`: the in-process bridge (workload ↔ shell). Envelopes move through
/// bounded queues as objects: nothing is serialized.

#include <actr/detail/async_queue.hpp>
#include <actr/detail/clock.hpp>
#include <actr/rpc_correlation.hpp>
#include <actr/types.hpp>

#include "package.pb.h"

#include <boost/asio/awaitable.hpp>

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

namespace actr {

struct InprocConfig {
  std::size_t queue_capacity = 1024;  ///< per lane; a full lane backpressures the sender
};

/// One direction of the in-process bridge. The sending side calls `send_request` /
/// `send_message`; the receiving side calls `recv` and answers with `send_response`, which
/// completes the caller's pending request.
///
/// Direction is explicit (`RpcEnvelope.direction`): a RESPONSE completes a pending request or is
/// dropped as an orphan — never delivered as a request; REQUEST and TELL are delivered.
/// Thread safety: all members may be called from any thread.
class InprocTransportManager {
 public:
  explicit InprocTransportManager(InprocConfig cfg = {});
  ~InprocTransportManager();

  /// Sends a request and waits for its response, for at most `env.timeout_ms` (which must be
  /// > 0: `InvalidArgument` otherwise). Sets direction REQUEST. The pending entry is removed on
  /// every exit path. Errors: `InvalidArgument`, `TimeoutError`, `ChannelNotFound` (unknown
  /// stream channel), `ChannelClosed`, `ProtocolError` (remote handler error), `Cancelled`.
  boost::asio::awaitable<Result<Bytes>> send_request(PayloadType pt, std::optional<std::string> channel,
                                                     pb::RpcEnvelope env);
  /// Delivers an envelope without correlation (TELL, or a stream chunk). Waits for queue room
  /// until `deadline`.
  boost::asio::awaitable<Result<void>> send_message(PayloadType pt, std::optional<std::string> channel,
                                                    pb::RpcEnvelope env, Deadline deadline);
  /// Answers a request received from `recv`: completes the caller (no queue involved).
  /// Errors: `InvalidArgument` if no request with that id is pending (late or unknown).
  Result<void> send_response(pb::RpcEnvelope response);

  /// Next inbound request or tell, RPC_SIGNAL before RPC_RELIABLE. Waits until `deadline`.
  /// Errors: `TimeoutError`, `ChannelClosed` (after `close`), `Cancelled`.
  boost::asio::awaitable<Result<pb::RpcEnvelope>> recv(Deadline deadline);
  /// Next envelope of a stream/media channel created with `create_channel`.
  boost::asio::awaitable<Result<pb::RpcEnvelope>> recv_channel(std::string channel, Deadline deadline);

  /// Creates (or returns) the lane of a stream/media channel. Idempotent.
  void create_channel(const std::string& channel);

  /// Fails pending requests with `ChannelClosed` and wakes receivers. Idempotent.
  void close();
  std::size_t pending_requests() const { return correlation_.size(); }

 private:
  using Queue = detail::AsyncQueue<pb::RpcEnvelope>;
  Result<std::shared_ptr<Queue>> lane_for(PayloadType pt, const std::optional<std::string>& channel);
  boost::asio::awaitable<Result<void>> push(PayloadType pt, std::optional<std::string> channel,
                                            pb::RpcEnvelope env, Deadline deadline);

  const InprocConfig cfg_;
  RpcCorrelation correlation_;
  std::shared_ptr<Queue> reliable_;
  std::shared_ptr<Queue> signal_;
  detail::Notifier rpc_readable_;  // bumped on every push to reliable_ or signal_
  std::atomic<bool> closed_{false};
  mutable std::mutex mu_;
  std::map<std::string, std::shared_ptr<Queue>> channels_;
};

}  // namespace actr
