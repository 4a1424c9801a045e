// Reading and checking the CLI's PEM files.
#include "tls_options.hpp"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <optional>
#include <sstream>

namespace actr::cli {

namespace {

// The whole file, or the reason it cannot be read (errno's words).
std::optional<std::string> read_file(const std::string& path, std::string& why) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    why = std::string("cannot read: ") + std::strerror(errno);
    return std::nullopt;
  }
  std::ostringstream s;
  s << in.rdbuf();
  if (in.bad()) {
    why = std::string("cannot read: ") + std::strerror(errno);
    return std::nullopt;
  }
  return s.str();
}

}  // namespace

TlsFromFiles server_tls_from_files(const std::string& cert_path, const std::string& key_path) {
  if (cert_path.empty() && key_path.empty()) return {};
  if (cert_path.empty() || key_path.empty())
    return {nullptr, "--tls-cert and --tls-key go together (a certificate and its private key)"};
  std::string why;
  auto cert = read_file(cert_path, why);
  if (!cert) return {nullptr, "--tls-cert " + cert_path + ": " + why};
  auto key = read_file(key_path, why);
  if (!key) return {nullptr, "--tls-key " + key_path + ": " + why};
  auto ctx = make_tls_server_context({std::move(*cert), std::move(*key)}, why);
  if (ctx) return {*ctx, {}};
  // `why` names the part that failed: point at its file.
  if (why.rfind("certificate:", 0) == 0) return {nullptr, "--tls-cert " + cert_path + ": " + why};
  if (why.rfind("private key:", 0) == 0) return {nullptr, "--tls-key " + key_path + ": " + why};
  return {nullptr, "--tls-cert " + cert_path + " / --tls-key " + key_path + ": " + why};
}

TlsFromFiles client_tls_from_file(const std::string& ca_path) {
  if (ca_path.empty()) return {};
  std::string why;
  auto ca = read_file(ca_path, why);
  if (!ca) return {nullptr, "--ca " + ca_path + ": " + why};
  if (ca->empty()) return {nullptr, "--ca " + ca_path + ": empty file (want PEM CA certificates)"};
  auto ctx = make_tls_client_context({std::move(*ca), true}, why);
  if (!ctx) return {nullptr, "--ca " + ca_path + ": " + why};
  return {*ctx, {}};
}

}  // namespace actr::cli
