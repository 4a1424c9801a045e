#include <actr/error.hpp>
#include <actr/hex.hpp>

#include <random>

namespace actr {

std::string to_hex(ConstBytes bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string s;
  s.reserve(bytes.size() * 2);
  for (auto b : bytes) {
    s.push_back(kDigits[b >> 4]);
    s.push_back(kDigits[b & 0xf]);
  }
  return s;
}

std::string random_hex(std::size_t digits) {
  thread_local std::mt19937_64 rng{(std::uint64_t{std::random_device{}()} << 32) ^ std::random_device{}()};
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string s(digits, '0');
  std::uint64_t v = 0;
  for (std::size_t i = 0; i < digits; ++i, v >>= 4) {
    if (i % 16 == 0) v = rng();
    s[i] = kDigits[v & 0xf];
  }
  return s;
}

Result<Bytes> from_hex(std::string_view hex) {
  if (hex.size() % 2 != 0) return make_error_code(NetworkError::InvalidArgument);
  auto nibble = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  Bytes out;
  out.reserve(hex.size() / 2);
  for (std::size_t i = 0; i < hex.size(); i += 2) {
    int hi = nibble(hex[i]), lo = nibble(hex[i + 1]);
    if (hi < 0 || lo < 0) return make_error_code(NetworkError::InvalidArgument);
    out.push_back(static_cast<std::uint8_t>(hi << 4 | lo));
  }
  return out;
}

}  // namespace actr
