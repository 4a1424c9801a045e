#pragma once
/// @file
/// Domain types: `ActrId` (who), `Dest` (where a message goes), `PayloadType` (its QoS class).

#include <actr/result.hpp>

#include <compare>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace actr {

/// Owned message bytes.
using Bytes = std::vector<std::uint8_t>;
/// Borrowed message bytes; must stay valid until the operation it is passed to completes.
using ConstBytes = std::span<const std::uint8_t>;

/// Security realm of an actor.
struct Realm {
  std::uint32_t realm_id = 0;
  friend auto operator<=>(const Realm&, const Realm&) = default;
};

/// Kind of actor: who makes it, what it is, which version.
struct ActrType {
  std::string manufacturer;
  std::string name;
  std::string version;
  friend auto operator<=>(const ActrType&, const ActrType&) = default;

  /// "manufacturer:name:version" (actr's current form).
  std::string to_string() const;
  /// Parses "manufacturer:name:version"; manufacturer and name follow actr's name rules (non-empty,
  /// ≤ 32 chars, first alphabetic, last alphanumeric, interior [A-Za-z0-9_.-]); version is non-empty,
  /// ≤ 32 chars of [A-Za-z0-9._+-] (actr admits any non-empty version without ':'; we keep to what
  /// a header or URL carries safely). Errors: `NetworkError::InvalidArgument`.
  static Result<ActrType> parse(std::string_view s);
  /// True if every field follows the rules of `parse` (what `parse(to_string())` accepts).
  bool valid() const noexcept;
};

/// Identity of one actor instance. Equality, ordering and hash are field-wise over realm,
/// serial number, manufacturer, name and version (ordering is lexicographic in that order).
struct ActrId {
  Realm realm;
  std::uint64_t serial_number = 0;
  ActrType type;
  friend auto operator<=>(const ActrId&, const ActrId&) = default;

  /// actr's current string form (`ActrId::to_string_repr`, core/protocol/src/actr_ext.rs):
  /// "<serial_hex_lowercase, no leading zeros>@<realm_id_decimal>/<manufacturer>:<name>:<version>",
  /// e.g. "1a2b3c@101/acme:echo:1.0.0". It is what `IdentityClaims.actor_id` holds, compared as a string.
  std::string to_string() const;
  /// Validating parser for `to_string()`'s form (hex digits of either case; no sign, no spaces,
  /// where actr's parser would take a leading '+'). Errors: `NetworkError::InvalidArgument`.
  static Result<ActrId> parse(std::string_view s);

  /// Protobuf encoding (`actr.ActrId`), e.g. for `X-Actr-Source-ID`.
  Bytes to_protobuf() const;
  /// Decodes `actr.ActrId`. Errors: `NetworkError::DeserializationError` (bad bytes or missing fields).
  static Result<ActrId> from_protobuf(ConstBytes bytes);
};

/// Destination of a message: the embedding shell, the local workload, or a remote actor.
class Dest {
 public:
  struct Shell {
    friend auto operator<=>(const Shell&, const Shell&) = default;
  };
  struct Local {
    friend auto operator<=>(const Local&, const Local&) = default;
  };

  static Dest shell() { return Dest{Shell{}}; }
  static Dest local() { return Dest{Local{}}; }
  static Dest actor(ActrId id) { return Dest{std::move(id)}; }
  Dest(ActrId id) : v_(std::move(id)), hash_(compute_hash()) {}  // NOLINT: an ActrId is a Dest, as in the original

  bool is_shell() const noexcept { return std::holds_alternative<Shell>(v_); }
  bool is_local() const noexcept { return std::holds_alternative<Local>(v_); }
  bool is_actor() const noexcept { return std::holds_alternative<ActrId>(v_); }
  /// The actor id, or nullptr for Shell/Local.
  const ActrId* as_actor_id() const noexcept { return std::get_if<ActrId>(&v_); }

  /// "shell", "local" or "actor:<ActrId string>".
  std::string to_string() const;
  /// Hash of the destination, computed once at construction (a Dest is immutable), so map
  /// lookups on the send path do not rehash three strings.
  std::size_t hash() const noexcept { return hash_; }

  friend bool operator==(const Dest& a, const Dest& b) noexcept { return a.hash_ == b.hash_ && a.v_ == b.v_; }
  friend auto operator<=>(const Dest& a, const Dest& b) { return a.v_ <=> b.v_; }

 private:
  template <class T>
  explicit Dest(T v) : v_(std::move(v)), hash_(compute_hash()) {}
  std::size_t compute_hash() const noexcept;
  std::variant<Shell, Local, ActrId> v_;
  std::size_t hash_ = 0;  // equal destinations have equal hashes, so comparing it is harmless
};

/// QoS class of a message; the numeric value is the WebSocket frame type byte (reference §1.2).
enum class PayloadType : std::uint8_t {
  RpcReliable = 0,
  RpcSignal = 1,
  StreamReliable = 2,
  StreamLatencyFirst = 3,
  MediaRtp = 4,
};
inline constexpr std::size_t kPayloadTypeCount = 5;

/// "RPC_RELIABLE", ... (the protobuf enum names, also the WebRTC DataChannel labels).
std::string_view to_string(PayloadType pt) noexcept;
/// Parses the names above. Errors: `NetworkError::InvalidArgument`.
Result<PayloadType> parse_payload_type(std::string_view s);
/// Validates a wire byte (0..4). Errors: `NetworkError::MalformedFrame`.
Result<PayloadType> payload_type_from_byte(std::uint8_t b);
constexpr bool is_rpc(PayloadType pt) noexcept {
  return pt == PayloadType::RpcReliable || pt == PayloadType::RpcSignal;
}
constexpr bool is_stream(PayloadType pt) noexcept {
  return pt == PayloadType::StreamReliable || pt == PayloadType::StreamLatencyFirst;
}

std::size_t hash_value(const ActrId& id) noexcept;
std::size_t hash_value(const Dest& d) noexcept;

}  // namespace actr

template <>
struct std::hash<actr::ActrId> {
  std::size_t operator()(const actr::ActrId& id) const noexcept { return actr::hash_value(id); }
};
template <>
struct std::hash<actr::Dest> {
  std::size_t operator()(const actr::Dest& d) const noexcept { return actr::hash_value(d); }
};
