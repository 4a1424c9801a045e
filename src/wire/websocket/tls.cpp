// OpenSSL contexts for wss://, the client-side host name check, and the typing of failed client
// handshakes. No Beast here: only Asio's SSL context and OpenSSL.
#include "tls_context.hpp"

#include <actr/error.hpp>
#include <actr/websocket.hpp>

#include <boost/asio/ip/address.hpp>
#include <boost/asio/ssl/error.hpp>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <spdlog/spdlog.h>

#include <mutex>

namespace actr {

namespace ssl = boost::asio::ssl;

namespace {

constexpr auto kProtocolFloor = ssl::context::default_workarounds | ssl::context::no_sslv2 |
                                ssl::context::no_sslv3 | ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1;

std::mutex g_failure_mu;
std::optional<TlsFailure> g_last_failure;  // guarded by g_failure_mu

}  // namespace

Result<std::shared_ptr<TlsContext>> make_tls_client_context(const TlsClientOptions& options, std::string& why) {
  auto t = std::make_shared<TlsContext>(ssl::context::tls_client);
  boost::system::error_code ec;
  t->ctx.set_options(kProtocolFloor, ec);
  if (ec) {
    why = "TLS options: " + ec.message();
  } else if (options.ca_pem.empty()) {
    t->ctx.set_default_verify_paths(ec);
    if (ec) why = "system trust store: " + ec.message();
  } else {
    t->ctx.add_certificate_authority(boost::asio::buffer(options.ca_pem), ec);
    if (ec) why = "CA certificates: " + ec.message();
  }
  if (ec) return make_error_code(NetworkError::ConfigurationError);
  t->verify_peer = options.verify_peer;
  t->ctx.set_verify_mode(options.verify_peer ? ssl::verify_peer : ssl::verify_none);
  return t;
}

Result<std::shared_ptr<TlsContext>> make_tls_server_context(const TlsServerOptions& options, std::string& why) {
  auto t = std::make_shared<TlsContext>(ssl::context::tls_server);
  boost::system::error_code ec;
  t->ctx.set_options(kProtocolFloor | ssl::context::single_dh_use, ec);
  if (ec) why = "TLS options: " + ec.message();
  if (!ec) {
    t->ctx.use_certificate_chain(boost::asio::buffer(options.certificate_chain_pem), ec);
    if (ec) why = "certificate: " + ec.message();
  }
  if (!ec) {
    t->ctx.use_private_key(boost::asio::buffer(options.private_key_pem), ssl::context::pem, ec);
    // OpenSSL 3 compares the key with the certificate here already; say so in plain words.
    const bool mismatch = ec && ec.category() == boost::asio::error::get_ssl_category() &&
                          ERR_GET_LIB(static_cast<unsigned long>(ec.value())) == ERR_LIB_X509 &&
                          ERR_GET_REASON(static_cast<unsigned long>(ec.value())) == X509_R_KEY_VALUES_MISMATCH;
    if (mismatch)
      why = "the private key does not match the certificate";
    else if (ec)
      why = "private key: " + ec.message();
  }
  if (!ec && SSL_CTX_check_private_key(t->ctx.native_handle()) != 1) {
    ec = make_error_code(NetworkError::ConfigurationError);
    why = "the private key does not match the certificate";
  }
  if (ec) return make_error_code(NetworkError::ConfigurationError);
  t->verify_peer = false;  // clients are identified by X-Actr-Source-ID, not by certificates
  return t;
}

// Without `why` the reason goes to the log (with it, the caller reports it).
Result<std::shared_ptr<TlsContext>> make_tls_client_context(const TlsClientOptions& options) {
  std::string why;
  auto r = make_tls_client_context(options, why);
  if (!r) spdlog::warn("actr: TLS client context: {}", why);
  return r;
}

Result<std::shared_ptr<TlsContext>> make_tls_server_context(const TlsServerOptions& options) {
  std::string why;
  auto r = make_tls_server_context(options, why);
  if (!r) spdlog::warn("actr: TLS server context: {}", why);
  return r;
}

std::optional<TlsFailure> last_tls_failure() {
  std::lock_guard lk(g_failure_mu);
  return g_last_failure;
}

namespace ws {

Result<void> prepare_client_tls(SSL* ssl, const std::string& host, bool verify) {
  boost::system::error_code not_ip;
  (void)boost::asio::ip::make_address(host, not_ip);
  const bool is_ip = !not_ip;
  // SNI carries host names only (RFC 6066 §3). SSL_set_tlsext_host_name is a macro with a C cast.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wold-style-cast"
  if (!is_ip && SSL_set_tlsext_host_name(ssl, host.c_str()) != 1)
    return make_error_code(NetworkError::ConfigurationError);
#pragma GCC diagnostic pop
  if (!verify) return ok();
  // OpenSSL's own check (not a verify callback): a mismatch then shows in the verify result as
  // X509_V_ERR_HOSTNAME_MISMATCH / X509_V_ERR_IP_ADDRESS_MISMATCH, which we can type.
  X509_VERIFY_PARAM* param = SSL_get0_param(ssl);
  const int set = is_ip ? X509_VERIFY_PARAM_set1_ip_asc(param, host.c_str()) : SSL_set1_host(ssl, host.c_str());
  if (set != 1) return make_error_code(NetworkError::ConfigurationError);
  return ok();
}

Error classify_client_tls_failure(SSL* ssl, const Error& ec, const std::string& url, std::string& reason) {
  const long verify = SSL_get_verify_result(ssl);
  Error typed;
  if (verify != X509_V_OK) {
    reason = std::string("certificate verify failed: ") + X509_verify_cert_error_string(verify);
    const bool name = verify == X509_V_ERR_HOSTNAME_MISMATCH || verify == X509_V_ERR_IP_ADDRESS_MISMATCH;
    typed = make_error_code(name ? NetworkError::TlsHostnameMismatch : NetworkError::TlsCertificateUntrusted);
  } else if (ec.category() == boost::asio::error::get_ssl_category()) {
    // OpenSSL refused the exchange itself: no TLS on the other side ("wrong version number"), no
    // common protocol, or an alert from the server. Not something a retry changes.
    reason = ec.message();
    typed = make_error_code(NetworkError::TlsHandshakeFailed);
  } else {
    // Reset or EOF mid-handshake (boost::asio::ssl::error::stream_truncated among them): the
    // transport failed, not TLS; a later attempt may well succeed.
    reason = ec.message();
    return make_error_code(NetworkError::ConnectionError);
  }
  spdlog::warn("actr: TLS handshake with {} failed: {}", url, reason);
  std::lock_guard lk(g_failure_mu);
  g_last_failure = TlsFailure{url, typed, reason};
  return typed;
}

}  // namespace ws
}  // namespace actr
