#include <actr/error.hpp>
#include <actr/types.hpp>

#include "actr.pb.h"

#include <boost/container_hash/hash.hpp>

#include <array>
#include <charconv>
#include <climits>

namespace actr {
namespace {

constexpr std::size_t kMaxNameLength = 32;

bool is_alpha(char c) noexcept { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool is_digit(char c) noexcept { return c >= '0' && c <= '9'; }
bool is_alnum(char c) noexcept { return is_alpha(c) || is_digit(c); }

// Manufacturer and name rules of actr HEAD's `Name` (core/protocol/src/name.rs): 1–32 chars,
// first alphabetic, last alphanumeric, interior alphanumeric, '-', '_' or '.'. ASCII only: actr
// also admits Unicode letters, which the header and URL forms of an id cannot carry safely.
bool valid_name(std::string_view s) noexcept {
  if (s.empty() || s.size() > kMaxNameLength) return false;
  if (!is_alpha(s.front()) || !is_alnum(s.back())) return false;
  for (char c : s) {
    if (!is_alnum(c) && c != '_' && c != '-' && c != '.') return false;
  }
  return true;
}

bool valid_version(std::string_view s) noexcept {
  if (s.empty() || s.size() > kMaxNameLength) return false;
  for (char c : s) {
    if (!is_alnum(c) && c != '.' && c != '_' && c != '+' && c != '-') return false;
  }
  return true;
}

// Whole-string unsigned parse: from_chars already rejects signs, whitespace and overflow; we add
// the "consumed everything" check.
template <class U>
bool parse_unsigned(std::string_view s, int base, U& out) noexcept {
  if (s.empty()) return false;
  const auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), out, base);
  return ec == std::errc{} && ptr == s.data() + s.size();
}

Error invalid_argument() noexcept { return make_error_code(NetworkError::InvalidArgument); }

constexpr std::array<std::string_view, kPayloadTypeCount> kPayloadTypeNames = {
    "RPC_RELIABLE", "RPC_SIGNAL", "STREAM_RELIABLE", "STREAM_LATENCY_FIRST", "MEDIA_RTP"};

}  // namespace

std::string ActrType::to_string() const {
  std::string s;
  s.reserve(manufacturer.size() + name.size() + version.size() + 2);
  s.append(manufacturer).append(1, ':').append(name).append(1, ':').append(version);
  return s;
}

bool ActrType::valid() const noexcept {
  return valid_name(manufacturer) && valid_name(name) && valid_version(version);
}

Result<ActrType> ActrType::parse(std::string_view s) {
  const auto first = s.find(':');
  if (first == std::string_view::npos) return invalid_argument();
  const auto second = s.find(':', first + 1);
  if (second == std::string_view::npos) return invalid_argument();
  const auto manufacturer = s.substr(0, first);
  const auto name = s.substr(first + 1, second - first - 1);
  // A third ':' lands in the version, whose alphabet excludes it.
  const auto version = s.substr(second + 1);
  if (!valid_name(manufacturer) || !valid_name(name) || !valid_version(version)) {
    return invalid_argument();
  }
  return ActrType{std::string(manufacturer), std::string(name), std::string(version)};
}

std::string ActrId::to_string() const {
  // 16 hex digits and 10 decimal digits always fit: to_chars cannot fail here.
  std::array<char, 16> hex{};
  std::array<char, 10> dec{};
  const auto h = std::to_chars(hex.data(), hex.data() + hex.size(), serial_number, 16).ptr;
  const auto d = std::to_chars(dec.data(), dec.data() + dec.size(), realm.realm_id).ptr;
  std::string s(hex.data(), h);
  s.push_back('@');
  s.append(dec.data(), d);
  s.push_back('/');
  s.append(type.to_string());
  return s;
}

Result<ActrId> ActrId::parse(std::string_view s) {
  const auto at = s.find('@');
  if (at == std::string_view::npos) return invalid_argument();
  const auto slash = s.find('/', at + 1);
  if (slash == std::string_view::npos) return invalid_argument();
  ActrId id;
  if (!parse_unsigned(s.substr(0, at), 16, id.serial_number)) return invalid_argument();
  if (!parse_unsigned(s.substr(at + 1, slash - at - 1), 10, id.realm.realm_id)) {
    return invalid_argument();
  }
  auto type = ActrType::parse(s.substr(slash + 1));
  if (!type) return type.error();
  id.type = std::move(*type);
  return id;
}

Bytes ActrId::to_protobuf() const {
  pb::ActrId msg;
  msg.mutable_realm()->set_realm_id(realm.realm_id);
  msg.set_serial_number(serial_number);
  pb::ActrType* t = msg.mutable_type();
  t->set_manufacturer(type.manufacturer);
  t->set_name(type.name);
  t->set_version(type.version);
  Bytes out(msg.ByteSizeLong());
  // Cannot fail: every required field is set and the buffer has exactly the computed size.
  msg.SerializeToArray(out.data(), static_cast<int>(out.size()));
  return out;
}

Result<ActrId> ActrId::from_protobuf(ConstBytes bytes) {
  const Error corrupt = make_error_code(NetworkError::DeserializationError);
  if (bytes.size() > static_cast<std::size_t>(INT_MAX)) return corrupt;
  pb::ActrId msg;
  // The partial parse plus IsInitialized rejects the same inputs as ParseFromArray, but without
  // libprotobuf logging an ERROR line for every peer that sends an incomplete id.
  if (!msg.ParsePartialFromArray(bytes.data(), static_cast<int>(bytes.size())) ||
      !msg.IsInitialized()) {
    return corrupt;
  }
  return ActrId{Realm{msg.realm().realm_id()}, msg.serial_number(),
                ActrType{msg.type().manufacturer(), msg.type().name(), msg.type().version()}};
}

std::string Dest::to_string() const {
  if (is_shell()) return "shell";
  if (is_local()) return "local";
  return "actor:" + as_actor_id()->to_string();
}

std::string_view to_string(PayloadType pt) noexcept {
  const auto i = static_cast<std::size_t>(pt);
  return i < kPayloadTypeNames.size() ? kPayloadTypeNames[i] : std::string_view{"UNKNOWN"};
}

Result<PayloadType> parse_payload_type(std::string_view s) {
  for (std::size_t i = 0; i < kPayloadTypeNames.size(); ++i) {
    if (kPayloadTypeNames[i] == s) return static_cast<PayloadType>(i);
  }
  return invalid_argument();
}

Result<PayloadType> payload_type_from_byte(std::uint8_t b) {
  if (b >= kPayloadTypeCount) return make_error_code(NetworkError::MalformedFrame);
  return static_cast<PayloadType>(b);
}

std::size_t hash_value(const ActrId& id) noexcept {
  std::size_t seed = 0;
  boost::hash_combine(seed, id.realm.realm_id);
  boost::hash_combine(seed, id.serial_number);
  boost::hash_combine(seed, id.type.manufacturer);
  boost::hash_combine(seed, id.type.name);
  boost::hash_combine(seed, id.type.version);
  return seed;
}

std::size_t hash_value(const Dest& d) noexcept { return d.hash(); }

std::size_t Dest::compute_hash() const noexcept {
  // Discriminant first, then the id, as the original's hand-written Hash (reference §1.5).
  std::size_t seed = 0;
  const ActrId* id = as_actor_id();
  boost::hash_combine(seed, is_shell() ? 0U : is_local() ? 1U : 2U);
  if (id != nullptr) boost::hash_combine(seed, hash_value(*id));
  return seed;
}

}  // namespace actr
