#include <actr/dc_fragment.hpp>
#include <actr/error.hpp>

#include <algorithm>
#include <utility>

namespace actr {

namespace {
constexpr std::size_t kRejectedMemory = 64;  // recently rejected msg ids whose stragglers are ignored
}  // namespace

std::size_t fragment_count(std::size_t n) noexcept {
  return n == 0 ? 1 : (n + kDcMaxFragmentPayload - 1) / kDcMaxFragmentPayload;
}

Result<void> encode_fragment(std::uint32_t msg_id, ConstBytes payload, std::size_t index, Bytes& out) {
  const std::size_t total = fragment_count(payload.size());
  if (total > kDcMaxFragments) return message_too_large(payload.size(), kDcMaxFragments * kDcMaxFragmentPayload);
  if (index >= total) return make_error_code(NetworkError::InvalidArgument);
  const std::size_t begin = index * kDcMaxFragmentPayload;
  const std::size_t len = std::min(kDcMaxFragmentPayload, payload.size() - begin);
  out.resize(kDcFragmentHeaderSize + len);
  out[0] = static_cast<std::uint8_t>(msg_id >> 24);
  out[1] = static_cast<std::uint8_t>(msg_id >> 16);
  out[2] = static_cast<std::uint8_t>(msg_id >> 8);
  out[3] = static_cast<std::uint8_t>(msg_id);
  out[4] = static_cast<std::uint8_t>(index >> 8);
  out[5] = static_cast<std::uint8_t>(index);
  out[6] = static_cast<std::uint8_t>(total >> 8);
  out[7] = static_cast<std::uint8_t>(total);
  if (len > 0) std::copy_n(payload.begin() + static_cast<std::ptrdiff_t>(begin), len, out.begin() + kDcFragmentHeaderSize);
  return ok();
}

Result<FragmentView> decode_fragment(ConstBytes message) {
  if (message.size() < kDcFragmentHeaderSize || message.size() > kDcMaxMessageSize)
    return make_error_code(NetworkError::MalformedFrame);
  FragmentHeader h;
  h.msg_id = (std::uint32_t{message[0]} << 24) | (std::uint32_t{message[1]} << 16) | (std::uint32_t{message[2]} << 8) |
             std::uint32_t{message[3]};
  h.index = static_cast<std::uint16_t>((message[4] << 8) | message[5]);
  h.total = static_cast<std::uint16_t>((message[6] << 8) | message[7]);
  if (h.total == 0 || h.index >= h.total) return make_error_code(NetworkError::MalformedFrame);
  return FragmentView{h, message.subspan(kDcFragmentHeaderSize)};
}

Reassembler::Reassembler(ReassemblyLimits limits) : limits_(std::move(limits)) {}

Reassembler::~Reassembler() { clear(); }

Reassembler::Reassembler(Reassembler&& o) noexcept
    : limits_(std::move(o.limits_)), pending_(std::move(o.pending_)), rejected_(std::move(o.rejected_)),
      buffered_(std::exchange(o.buffered_, 0)) {
  o.pending_.clear();
}

Reassembler& Reassembler::operator=(Reassembler&& o) noexcept {
  if (this != &o) {
    clear();
    limits_ = std::move(o.limits_);
    pending_ = std::move(o.pending_);
    rejected_ = std::move(o.rejected_);
    buffered_ = std::exchange(o.buffered_, 0);
    o.pending_.clear();
  }
  return *this;
}

void Reassembler::drop(std::size_t n) noexcept {
  buffered_ -= n;
  if (limits_.shared) limits_.shared->release(n);
}

void Reassembler::clear() {
  pending_.clear();
  drop(buffered_);
}

void Reassembler::reject(std::uint32_t msg_id) {
  if (auto it = pending_.find(msg_id); it != pending_.end()) {
    drop(it->second.bytes);
    pending_.erase(it);
  }
  rejected_.push_back(msg_id);
  if (rejected_.size() > kRejectedMemory) rejected_.pop_front();
}

bool Reassembler::is_rejected(std::uint32_t msg_id) const {
  return std::find(rejected_.begin(), rejected_.end(), msg_id) != rejected_.end();
}

void Reassembler::evict_expired(Deadline now) {
  for (auto it = pending_.begin(); it != pending_.end();) {
    if (now - it->second.touched >= limits_.ttl) {
      drop(it->second.bytes);
      it = pending_.erase(it);
    } else {
      ++it;
    }
  }
}

Result<std::optional<Bytes>> Reassembler::feed(ConstBytes message, Deadline now) {
  evict_expired(now);
  auto frag = decode_fragment(message);
  if (!frag) return frag.error();  // no trustworthy msg id: nothing else to drop
  const auto& h = frag->header;
  const auto payload = frag->payload;

  if (h.total == 1) {  // the common case: a whole message in one DataChannel message
    if (payload.size() > limits_.max_message_size) return message_too_large(payload.size(), limits_.max_message_size);
    return std::optional<Bytes>(Bytes(payload.begin(), payload.end()));
  }
  if (is_rejected(h.msg_id)) return std::optional<Bytes>();

  // `total` alone can prove the message too large (each earlier fragment is full-size).
  const std::size_t min_size = (std::size_t{h.total} - 1) * kDcMaxFragmentPayload + 1;
  if (min_size > limits_.max_message_size) {
    reject(h.msg_id);
    return message_too_large(min_size, limits_.max_message_size);
  }

  auto it = pending_.find(h.msg_id);
  if (it == pending_.end()) {
    if (pending_.size() >= limits_.max_pending_messages) {
      reject(h.msg_id);
      return make_error_code(NetworkError::ResourceExhausted);
    }
    Pending p;
    p.total = h.total;
    p.parts.resize(h.total);
    it = pending_.emplace(h.msg_id, std::move(p)).first;
  }
  Pending& p = it->second;
  const bool last = h.index + 1 == h.total;
  if (h.total != p.total || p.parts[h.index] || (!last && payload.size() != kDcMaxFragmentPayload)) {
    reject(h.msg_id);
    return make_error_code(NetworkError::MalformedFrame);
  }
  if (p.bytes + payload.size() > limits_.max_message_size) {
    reject(h.msg_id);
    return message_too_large(p.bytes + payload.size(), limits_.max_message_size);
  }
  if (p.received + 1 < p.total) {
    // Held until the rest arrives: within this channel's cap, then the one shared with every
    // other channel and connection.
    if (buffered_ + payload.size() > limits_.max_buffered_bytes ||
        (limits_.shared && !limits_.shared->try_acquire(payload.size()))) {
      reject(h.msg_id);
      return make_error_code(NetworkError::ResourceExhausted);
    }
    p.parts[h.index].emplace(payload.begin(), payload.end());
    p.bytes += payload.size();
    buffered_ += payload.size();
    p.touched = now;
    ++p.received;
    return std::optional<Bytes>();
  }
  // The fragment that completes a message is never held: the message leaves at once, so a full
  // budget cannot strand a message one fragment short.
  Bytes whole;
  whole.reserve(p.bytes + payload.size());
  for (std::size_t k = 0; k < p.parts.size(); ++k) {
    if (k == h.index)
      whole.insert(whole.end(), payload.begin(), payload.end());
    else
      whole.insert(whole.end(), p.parts[k]->begin(), p.parts[k]->end());
  }
  drop(p.bytes);
  pending_.erase(it);
  return std::optional<Bytes>(std::move(whole));
}

}  // namespace actr
