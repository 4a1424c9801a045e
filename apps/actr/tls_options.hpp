#pragma once
// The CLI's TLS options: --tls-cert/--tls-key (a server serves wss://) and --ca (whom a client
// trusts). Files are read and checked at start-up, so a bad file is a clear error before any
// socket opens.

#include <actr/websocket.hpp>

#include <memory>
#include <string>

namespace actr::cli {

/// A TLS context built from files, or why not ("--tls-key /x/key.pem: cannot read: No such file
/// or directory"). `ctx` is null with an empty `error` when no file was given.
struct TlsFromFiles {
  std::shared_ptr<TlsContext> ctx;
  std::string error;
};

/// --tls-cert and --tls-key (PEM: the certificate chain, its private key). Both or neither.
TlsFromFiles server_tls_from_files(const std::string& cert_path, const std::string& key_path);
/// --ca (a PEM bundle of CA certificates to trust instead of the system store). Empty path: null
/// context (wss:// dials then verify against the system store).
TlsFromFiles client_tls_from_file(const std::string& ca_path);

}  // namespace actr::cli
