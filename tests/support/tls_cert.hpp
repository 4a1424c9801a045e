#pragma once
// A throwaway self-signed certificate for wss:// tests (OpenSSL 3, made in memory).

#include <string>

namespace actr::test {

struct SelfSigned {
  std::string certificate_pem;  // CN=localhost, SAN: DNS:localhost, IP:127.0.0.1, IP:::1
  std::string private_key_pem;
};

/// Throws std::runtime_error if OpenSSL fails.
SelfSigned make_self_signed();

}  // namespace actr::test
