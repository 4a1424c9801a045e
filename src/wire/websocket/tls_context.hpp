#pragma once
// Private: what `actr::TlsContext` is (an OpenSSL context plus how it verifies peers), and the
// client-side checks and failure typing of a wss:// dial (tls.cpp; no Beast).

#include <actr/result.hpp>

#include <boost/asio/ssl/context.hpp>

#include <string>

namespace actr {

class TlsContext {
 public:
  explicit TlsContext(boost::asio::ssl::context::method m) : ctx(m) {}
  boost::asio::ssl::context ctx;
  bool verify_peer = true;
};

namespace ws {

/// Before a client handshake on `ssl`: sends SNI for `host` (not for an IP address) and, when
/// `verify` is set, makes OpenSSL check that the certificate names `host` (DNS name or IP
/// address, RFC 6125), so a mismatch is reported as such by the verify result.
/// Errors: `ConfigurationError`.
Result<void> prepare_client_tls(SSL* ssl, const std::string& host, bool verify);

/// A failed client handshake typed: `TlsCertificateUntrusted` / `TlsHostnameMismatch` when the
/// certificate did not verify, `TlsHandshakeFailed` for another TLS protocol failure, and
/// `ConnectionError` when the failure is the transport's (reset, EOF mid-handshake), which a
/// retry may fix. `reason` gets OpenSSL's words, e.g. "certificate verify failed: self-signed
/// certificate". Also records the failure for `last_tls_failure()`.
Error classify_client_tls_failure(SSL* ssl, const Error& ec, const std::string& url, std::string& reason);

}  // namespace ws
}  // namespace actr
