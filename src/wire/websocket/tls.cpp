// OpenSSL contexts for wss://. No Beast here: only Asio's SSL context.
#include "tls_context.hpp"

#include <actr/error.hpp>
#include <actr/websocket.hpp>

#include <spdlog/spdlog.h>

namespace actr {

namespace ssl = boost::asio::ssl;

Result<std::shared_ptr<TlsContext>> make_tls_client_context(const TlsClientOptions& options) {
  auto t = std::make_shared<TlsContext>(ssl::context::tls_client);
  boost::system::error_code ec;
  t->ctx.set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 | ssl::context::no_sslv3 |
                         ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1,
                     ec);
  if (!ec) {
    if (options.ca_pem.empty())
      t->ctx.set_default_verify_paths(ec);
    else
      t->ctx.add_certificate_authority(boost::asio::buffer(options.ca_pem), ec);
  }
  if (ec) {
    spdlog::warn("actr: TLS client context: {}", ec.message());
    return make_error_code(NetworkError::ConfigurationError);
  }
  t->verify_peer = options.verify_peer;
  t->ctx.set_verify_mode(options.verify_peer ? ssl::verify_peer : ssl::verify_none);
  return t;
}

Result<std::shared_ptr<TlsContext>> make_tls_server_context(const TlsServerOptions& options) {
  auto t = std::make_shared<TlsContext>(ssl::context::tls_server);
  boost::system::error_code ec;
  t->ctx.set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 | ssl::context::no_sslv3 |
                         ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1 | ssl::context::single_dh_use,
                     ec);
  if (!ec) t->ctx.use_certificate_chain(boost::asio::buffer(options.certificate_chain_pem), ec);
  if (!ec) t->ctx.use_private_key(boost::asio::buffer(options.private_key_pem), ssl::context::pem, ec);
  if (!ec && SSL_CTX_check_private_key(t->ctx.native_handle()) != 1)
    ec = make_error_code(NetworkError::ConfigurationError);
  if (ec) {
    spdlog::warn("actr: TLS server context: {}", ec.message());
    return make_error_code(NetworkError::ConfigurationError);
  }
  t->verify_peer = false;  // clients are identified by X-Actr-Source-ID, not by certificates
  return t;
}

}  // namespace actr
