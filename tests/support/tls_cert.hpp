#pragma once
// A throwaway self-signed certificate for wss:// tests (OpenSSL 3, made in memory).

#include <string>

namespace actr::test {

struct SelfSigned {
  std::string certificate_pem;  // CN=localhost, SAN: DNS:localhost, IP:127.0.0.1, IP:::1
  std::string private_key_pem;
};

/// Throws std::runtime_error if OpenSSL fails. `subject_alt_names` in OpenSSL's config syntax: the
/// names the certificate is valid for (another value makes a host name mismatch on 127.0.0.1).
SelfSigned make_self_signed(const std::string& subject_alt_names = "DNS:localhost,IP:127.0.0.1,IP:::1");
/// One `make_self_signed()` certificate for the whole test binary, made on first use.
const SelfSigned& localhost_certificate();

}  // namespace actr::test
