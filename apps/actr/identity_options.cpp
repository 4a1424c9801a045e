// Credential files and the AIS round trip of the CLI.
#include "identity_options.hpp"

#include <actr/error.hpp>
#include <actr/node.hpp>
#include <actr/signaling_client.hpp>
#include <actr/websocket.hpp>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <iterator>

namespace actr::cli {

namespace asio = boost::asio;

std::string identity_json(const AisIdentity& id) {
  nlohmann::json j;
  j["actr_id"] = id.id.to_string();
  j["credential"] = id.credential.to_base64();
  j["signing_key_id"] = id.signing_key.key_id();
  j["signing_pubkey"] = base64_encode(ConstBytes(id.signing_key.raw().data(), id.signing_key.raw().size()));
  j["renewal_token"] = base64_encode(id.renewal_token);
  j["expires_at"] = id.expires_at;
  return j.dump(2);
}

std::optional<AisIdentity> parse_identity_json(const std::string& text, std::string& why) {
  auto j = nlohmann::json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    why = "not JSON";
    return std::nullopt;
  }
  auto str = [&](const char* k) { return j.contains(k) && j[k].is_string() ? j[k].get<std::string>() : std::string(); };
  auto id = ActrId::parse(str("actr_id"));
  if (!id) {
    why = "actr_id: not an ActrId";
    return std::nullopt;
  }
  auto cred = Credential::from_base64(str("credential"));
  if (!cred) {
    why = "credential: not base64 of an AIdCredential";
    return std::nullopt;
  }
  auto raw = base64_decode(str("signing_pubkey"));
  const auto kid = j.contains("signing_key_id") && j["signing_key_id"].is_number_unsigned()
                       ? j["signing_key_id"].get<std::uint32_t>()
                       : cred->key_id;
  auto key = raw ? VerifyingKey::from_raw(kid, *raw) : Result<VerifyingKey>(raw.error());
  if (!key) {
    why = "signing_pubkey: not base64 of a 32-byte Ed25519 key";
    return std::nullopt;
  }
  auto token = base64_decode(str("renewal_token"));
  auto claims = cred->unverified_claims();
  if (!claims) {
    why = "credential: its claims do not decode";
    return std::nullopt;
  }
  return AisIdentity{*id, *cred, *key, token ? *token : Bytes{}, claims->expires_at, 0};
}

std::optional<AisIdentity> read_identity_file(const std::filesystem::path& path, std::string& why) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    why = "cannot read it";
    return std::nullopt;
  }
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  return parse_identity_json(text, why);
}

bool write_identity_file(const std::filesystem::path& path, const AisIdentity& id, std::string& why) {
  // Written to a private temporary and renamed: no reader sees half a file, and the mode is 0600
  // from the first byte.
  const auto tmp = path.string() + ".tmp";
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) {
    why = "cannot create " + tmp;
    return false;
  }
  const std::string text = identity_json(id) + "\n";
  const bool written = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
  const bool closed = ::close(fd) == 0;
  if (!written || !closed || ::rename(tmp.c_str(), path.c_str()) != 0) {
    (void)::unlink(tmp.c_str());
    why = "cannot write " + path.string();
    return false;
  }
  return true;
}

namespace {

asio::awaitable<void> keep(asio::awaitable<Result<AisIdentity>> aw, std::shared_ptr<std::optional<Result<AisIdentity>>> out) {
  out->emplace(co_await std::move(aw));
}

}  // namespace

Result<AisIdentity> ais_register_now(std::string signal_url, AisRegistration request, AisClientConfig cfg) {
  asio::io_context io;
  auto out = std::make_shared<std::optional<Result<AisIdentity>>>();
  asio::co_spawn(io, keep(ais_register(std::move(signal_url), std::move(request), std::move(cfg)), out),
                 [](std::exception_ptr e) {
                   if (e) std::rethrow_exception(e);
                 });
  io.run();
  if (!*out) return make_error_code(NetworkError::Cancelled);
  return std::move(**out);
}

ObtainedIdentity obtain_identity(const std::optional<ActrId>& who, const IdentitySource& src) {
  ObtainedIdentity out;
  if (!src.credential_file.empty() && std::filesystem::exists(src.credential_file)) {
    std::string why;
    out.identity = read_identity_file(src.credential_file, why);
    if (!out.identity) out.message = "--credential " + src.credential_file + ": " + why;
    return out;
  }
  if (src.signal_url.empty()) {
    if (!src.credential_file.empty())
      out.message = "--credential " + src.credential_file + ": no such file (and no --signal to register at)";
    return out;
  }
  if (!who) {
    out.message = "--id is needed to register at the AIS (its realm and type; the server picks the serial)";
    return out;
  }
  AisRegistration reg{who->realm, who->type, std::nullopt, std::nullopt};
  if (!src.realm_secret_file.empty()) {
    std::ifstream in(src.realm_secret_file, std::ios::binary);
    std::string secret((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    while (!secret.empty() && (secret.back() == '\n' || secret.back() == '\r')) secret.pop_back();
    if (secret.empty()) {
      out.message = "--realm-secret-file " + src.realm_secret_file + ": empty or unreadable";
      return out;
    }
    reg.realm_secret = std::move(secret);
  }
  auto got = ais_register_now(src.signal_url, std::move(reg), AisClientConfig{src.tls, std::chrono::seconds(5)});
  if (!got) {
    out.error = got.error();
    return out;
  }
  spdlog::info("actr: identity {} from the AIS of {} (key {}, expires at {})", got->id.to_string(), src.signal_url,
               got->signing_key.key_id(), got->expires_at);
  if (!src.credential_file.empty()) {
    std::string why;
    if (!write_identity_file(src.credential_file, *got, why)) {
      out.message = "--credential: " + why;
      return out;
    }
  }
  out.identity = std::move(*got);
  return out;
}

int apply_identity(const char* cmd, const std::optional<ActrId>& hint, const IdentitySource& src, bool fallback,
                   NodeConfig& cfg, std::optional<AisIdentity>& out) {
  if (src.signal_url.empty() && src.credential_file.empty()) return -1;
  auto got = obtain_identity(hint, src);
  if (!got.message.empty()) {
    std::cerr << cmd << ": " << got.message << "\n";
    return 2;
  }
  if (!got.identity) {
    const auto& e = got.error;
    if (is_tls_failure(e)) {
      // As a node reports a signaling server it cannot trust (one line, exit 1, no retry).
      const auto why = last_tls_failure();
      std::cerr << cmd << ": signaling " << src.signal_url << ": " << error_name(e) << " ("
                << (why ? why->reason : e.message()) << ")\n";
      return 1;
    }
    const bool refused = e == make_error_code(NetworkError::PermissionError) || e == make_error_code(NetworkError::NotFound);
    if (fallback && src.credential_file.empty()) {
      // Our extension: an `actr signal` whose AIS is closed still registers ids over the socket
      // when it does not require identity; one that does will refuse us there, and say so.
      if (refused)
        spdlog::info("{}: the AIS of {} does not register us ({}); registering as {} over the socket", cmd,
                     src.signal_url, error_name(e), cfg.id.to_string());
      else
        spdlog::warn("{}: no identity from the AIS of {} ({}); registering as {} over the socket", cmd, src.signal_url,
                     error_name(e), cfg.id.to_string());
      return -1;
    }
    std::cerr << cmd << ": no identity from the AIS of " << src.signal_url << ": " << error_name(e) << "\n";
    return 1;
  }
  out = got.identity;
  cfg.id = out->id;
  cfg.identity.credential = out->credential;
  cfg.identity.trusted_keys.push_back(out->signing_key);
  if (hint && (hint->realm != out->id.realm || hint->type != out->id.type))
    spdlog::warn("{}: acting as {} (the credential's), not --id {}", cmd, out->id.to_string(), hint->to_string());
  return -1;
}

namespace {

// A coroutine of its own (not a capturing lambda's body): its parameters live in its frame.
asio::awaitable<Result<Credential>> renew_once(std::string url, std::shared_ptr<AisIdentity> latest,
                                               std::shared_ptr<TlsContext> tls) {
  auto r = co_await ais_renew(url, *latest, AisClientConfig{tls, std::chrono::seconds(5)});
  if (!r) co_return r.error();
  *latest = std::move(*r);
  spdlog::info("actr node: new credential for {} from the AIS (expires at {})", latest->id.to_string(),
               latest->expires_at);
  co_return latest->credential;
}

}  // namespace

std::function<asio::awaitable<Result<Credential>>()> reacquire_at_ais(std::string signal_url, AisIdentity ident,
                                                                      std::shared_ptr<TlsContext> tls) {
  auto latest = std::make_shared<AisIdentity>(std::move(ident));
  return [url = std::move(signal_url), latest, tls] { return renew_once(url, latest, tls); };
}

asio::awaitable<void> renew_identity(Node& node, std::string signal_url, AisIdentity ident,
                                     std::shared_ptr<TlsContext> tls) {
  asio::steady_timer timer(co_await asio::this_coro::executor);
  for (;;) {
    // The freshest credential we hold: signaling renews over its socket while connected.
    if (auto sig = node.signaling())
      if (auto c = sig->credential())
        if (auto claims = c->unverified_claims(); claims && claims->expires_at > ident.expires_at) {
          ident.credential = *c;
          ident.expires_at = claims->expires_at;
        }
    const auto now = unix_now();
    const auto left = ident.expires_at > now ? ident.expires_at - now : 0;
    const auto wait_s = std::max<std::uint64_t>(1, left * 3 / 4);
    if (left > 0) {
      timer.expires_after(std::chrono::seconds(wait_s));
      auto [ec] = co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
      if (ec) co_return;
      if (auto sig = node.signaling())
        if (auto c = sig->credential())
          if (auto claims = c->unverified_claims(); claims && claims->expires_at > ident.expires_at) continue;
    }
    auto r = co_await ais_renew(signal_url, ident, AisClientConfig{tls, std::chrono::seconds(5)});
    if (!r) {
      spdlog::warn("actr node: renewing {} at the AIS of {} failed: {}", ident.id.to_string(), signal_url,
                   error_name(r.error()));
      timer.expires_after(std::chrono::seconds(std::max<std::uint64_t>(1, std::min<std::uint64_t>(30, left / 8))));
      auto [ec] = co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
      if (ec) co_return;
      continue;
    }
    ident = std::move(*r);
    spdlog::info("actr node: credential of {} renewed at the AIS (expires at {})", ident.id.to_string(), ident.expires_at);
    if (auto sig = node.signaling()) (void)sig->use_identity(ident.id, ident.credential);
  }
}

}  // namespace actr::cli
