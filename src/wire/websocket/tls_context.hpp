#pragma once
// Private: what `actr::TlsContext` is (an OpenSSL context plus how it verifies peers).

#include <boost/asio/ssl/context.hpp>

namespace actr {

class TlsContext {
 public:
  explicit TlsContext(boost::asio::ssl::context::method m) : ctx(m) {}
  boost::asio::ssl::context ctx;
  bool verify_peer = true;
};

}  // namespace actr
