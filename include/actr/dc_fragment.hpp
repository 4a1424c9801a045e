#pragma once
/// @file
/// The DataChannel fragmentation layer of actr's HEAD wire format (reference §7.1), byte-exact:
/// every DataChannel message is `[u32 BE msg_id][u16 BE frag_index][u16 BE total_frags] + payload`
/// and is at most 65,535 bytes long, so an application message above 65,527 bytes travels as
/// several fragments. Pure code: no GStreamer, no executor.
///
/// Stricter than the original, which had no memory cap, let duplicates overwrite each other and
/// never checked `total`: here reassembly is capped (per message and in total), and a fragment
/// whose index or total contradicts what came before is rejected with a typed error.

#include <actr/byte_budget.hpp>
#include <actr/detail/clock.hpp>
#include <actr/result.hpp>
#include <actr/types.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <vector>

namespace actr {

/// Largest DataChannel message we send or accept (u16::MAX: 65,536 fails in some SCTP stacks).
inline constexpr std::size_t kDcMaxMessageSize = 65535;
inline constexpr std::size_t kDcFragmentHeaderSize = 8;
/// Largest payload one fragment carries.
inline constexpr std::size_t kDcMaxFragmentPayload = kDcMaxMessageSize - kDcFragmentHeaderSize;
/// `total_frags` is a u16.
inline constexpr std::size_t kDcMaxFragments = 65535;

struct FragmentHeader {
  std::uint32_t msg_id = 0;
  std::uint16_t index = 0;
  std::uint16_t total = 0;
  friend bool operator==(const FragmentHeader&, const FragmentHeader&) = default;
};

/// A decoded fragment; `payload` points into the decoded message.
struct FragmentView {
  FragmentHeader header;
  ConstBytes payload;
};

/// Number of fragments a payload of `n` bytes travels as (1 for an empty payload).
std::size_t fragment_count(std::size_t n) noexcept;

/// Replaces `out` with fragment `index` of `payload` (header + slice), as the sender emits it:
/// every fragment but the last carries exactly `kDcMaxFragmentPayload` bytes.
/// Errors: `MessageTooLarge` if `payload` needs more than `kDcMaxFragments` fragments;
/// `InvalidArgument` if `index` is out of range.
Result<void> encode_fragment(std::uint32_t msg_id, ConstBytes payload, std::size_t index, Bytes& out);

/// Decodes one DataChannel message. Errors (`MalformedFrame`): fewer than 8 bytes; more than
/// `kDcMaxMessageSize` bytes; `total == 0`; `index >= total`.
Result<FragmentView> decode_fragment(ConstBytes message);

struct ReassemblyLimits {
  /// Largest reassembled message; a fragment whose `total` or bytes would exceed it is rejected.
  std::size_t max_message_size = 16u << 20;
  /// Bytes held by all incomplete messages together.
  std::size_t max_buffered_bytes = 32u << 20;
  /// Incomplete messages held at once (bounds bookkeeping even for empty fragments).
  std::size_t max_pending_messages = 1024;
  /// An incomplete message untouched this long is dropped (a fragment lost on a lossy channel).
  std::chrono::milliseconds ttl{30000};
  /// Shared with other reassemblers (every channel and connection of a node): their incomplete
  /// messages' bytes together stay within its limit. Null: only `max_buffered_bytes` applies.
  std::shared_ptr<ByteBudget> shared;
};

/// Reassembles the fragments of one DataChannel (msg ids are per channel). Fragments of
/// different messages may interleave; fragments of one message may arrive in any order.
/// Not thread-safe: one owner feeds it.
class Reassembler {
 public:
  explicit Reassembler(ReassemblyLimits limits = {});
  /// Gives back what it holds to the shared budget.
  ~Reassembler();
  Reassembler(Reassembler&& o) noexcept;
  Reassembler& operator=(Reassembler&& o) noexcept;
  Reassembler(const Reassembler&) = delete;
  Reassembler& operator=(const Reassembler&) = delete;

  /// Feeds one DataChannel message received at `now`. Returns the complete message when this
  /// fragment completes one, `std::nullopt` while it is incomplete (or when the fragment belongs
  /// to a message rejected earlier: it is dropped silently).
  /// Errors — the fragment is dropped and so is the whole message it belongs to, whose later
  /// fragments are then ignored; the channel and other messages are untouched:
  /// * `MalformedFrame`: not a valid fragment (`decode_fragment`); `total` differs from the
  ///   message's first fragment; an index seen twice; a non-final fragment that is not full-size
  ///   (`kDcMaxFragmentPayload` bytes, the sender's rule above);
  /// * `MessageTooLarge`: the message would exceed `max_message_size`;
  /// * `ResourceExhausted`: holding it would exceed `max_buffered_bytes`, `max_pending_messages`
  ///   or the `shared` budget.
  Result<std::optional<Bytes>> feed(ConstBytes message, Deadline now);

  std::size_t buffered_bytes() const noexcept { return buffered_; }
  std::size_t pending_messages() const noexcept { return pending_.size(); }
  /// Drops every incomplete message.
  void clear();

 private:
  struct Pending {
    std::uint16_t total = 0;
    std::uint16_t received = 0;
    std::size_t bytes = 0;
    Deadline touched;
    std::vector<std::optional<Bytes>> parts;
  };
  void evict_expired(Deadline now);
  void drop(std::size_t n) noexcept;  // n buffered bytes let go
  void reject(std::uint32_t msg_id);
  bool is_rejected(std::uint32_t msg_id) const;

  ReassemblyLimits limits_;
  std::map<std::uint32_t, Pending> pending_;
  std::deque<std::uint32_t> rejected_;  // recent rejected msg ids (bounded)
  std::size_t buffered_ = 0;
};

}  // namespace actr
