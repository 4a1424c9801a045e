// The signaling URL identity (see url_identity.hpp). Decoding follows the form-urlencoded rules
// actrix's axum `Query` extractor applies ('+' is a space, %XX a byte); malformed escapes refuse.
#include "signaling/url_identity.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <map>

namespace actr::sig {

namespace {
int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::string separator(const std::string& url) {
  if (url.find('?') == std::string::npos) return "?";
  return url.back() == '?' || url.back() == '&' ? "" : "&";
}
}  // namespace

std::string form_encode(std::string_view s) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(s.size() * 3);
  for (unsigned char c : s) {
    const bool plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
                       c == '.' || c == '_' || c == '*';
    if (plain) {
      out.push_back(static_cast<char>(c));
    } else if (c == ' ') {
      out.push_back('+');
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  return out;
}

std::optional<std::string> form_decode(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '+') {
      out.push_back(' ');
    } else if (s[i] == '%') {
      if (i + 2 >= s.size()) return std::nullopt;
      const int hi = hex_value(s[i + 1]), lo = hex_value(s[i + 2]);
      if (hi < 0 || lo < 0) return std::nullopt;
      out.push_back(static_cast<char>(hi * 16 + lo));
      i += 2;
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

std::string with_identity(const std::string& url, const ActrId& id, const Credential& c, bool answer,
                          const std::string& instance) {
  std::string out = url + separator(url);
  out += "actor_id=" + form_encode(id.to_string());
  out += "&key_id=" + std::to_string(c.key_id);
  out += "&claims=" + form_encode(base64_encode(c.claims));
  out += "&signature=" + form_encode(base64_encode(c.signature));
  if (answer) out += "&webrtc_role=answer";
  if (!instance.empty()) out += "&actr_instance=" + form_encode(instance);
  return out;
}

std::string with_answer_role(const std::string& url) { return url + separator(url) + "webrtc_role=answer"; }

std::optional<std::string> parse_identity(std::string_view target, UrlIdentity& out) {
  out = UrlIdentity{};
  const auto q = target.find('?');
  std::map<std::string, std::string, std::less<>> params;
  if (q != std::string_view::npos) {
    std::string_view rest = target.substr(q + 1);
    while (!rest.empty()) {
      const auto amp = rest.find('&');
      const auto pair = rest.substr(0, amp);
      rest = amp == std::string_view::npos ? std::string_view{} : rest.substr(amp + 1);
      if (pair.empty()) continue;
      const auto eq = pair.find('=');
      auto name = form_decode(pair.substr(0, eq));
      auto value = form_decode(eq == std::string_view::npos ? std::string_view{} : pair.substr(eq + 1));
      if (!name || !value) return "malformed query";
      params.emplace(std::move(*name), std::move(*value));  // the first of repeated names wins
    }
  }
  if (auto r = params.find("webrtc_role"); r != params.end()) out.answer = r->second == "answer";
  if (auto r = params.find("actr_instance"); r != params.end()) {
    const auto& v = r->second;
    const bool ok = !v.empty() && v.size() <= 64 && std::all_of(v.begin(), v.end(), [](unsigned char ch) {
      return std::isalnum(ch) || ch == '_' || ch == '-';
    });
    if (!ok) return "malformed actr_instance";
    out.instance = v;
  }
  static constexpr std::string_view kNames[] = {"actor_id", "key_id", "claims", "signature"};
  bool any = false;
  for (auto n : kNames) any = any || params.count(n) > 0;
  if (!any) return std::nullopt;
  for (auto n : kNames)
    if (!params.count(n)) return "missing " + std::string(n);
  auto id = ActrId::parse(params.find("actor_id")->second);
  if (!id) return "invalid actor_id";
  const auto& key = params.find("key_id")->second;
  std::uint32_t key_id = 0;
  const auto [end, ec] = std::from_chars(key.data(), key.data() + key.size(), key_id);
  if (ec != std::errc{} || end != key.data() + key.size() || key.empty()) return "invalid key_id";
  auto claims = base64_decode(params.find("claims")->second);
  if (!claims) return "invalid claims base64";
  auto signature = base64_decode(params.find("signature")->second);
  if (!signature) return "invalid signature base64";
  out.id = std::move(*id);
  out.credential = Credential{key_id, std::move(*claims), std::move(*signature)};
  return std::nullopt;
}

}  // namespace actr::sig
