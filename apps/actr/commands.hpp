#pragma once
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace actr::cli {

struct NodeArgs {
  std::string id, listen;
  std::vector<std::string> peers;
  bool echo = false;
  int keepalive_ms = 1000;
  std::string signal;                       ///< ws://HOST:PORT of `actr signal` (optional)
  std::vector<std::string> wires{"webrtc", "ws"};
  std::string tls_cert, tls_key;  ///< PEM files: the gate serves wss:// (both or neither)
  std::string ca;                 ///< PEM CA bundle trusted by wss:// dials (empty: system store)
  bool require_identity = false;  ///< the gate serves only peers with a valid credential (HTTP 401)
  std::string credential;         ///< credential file (read; written after a first AIS registration)
  std::string realm_secret_file;  ///< sent to the AIS of --signal
  int max_webrtc_setups = 16;     ///< WebRTC peer connections set up at once; more offers are refused
  std::string metrics;            ///< HOST:PORT to serve Prometheus metrics and the status page on (empty: none)
  bool json = false;              ///< stdout lines as JSON objects with an "event" field
  // NodeLimits (docs/limits.md); defaults are the library's.
  std::size_t max_message_bytes = 16u << 20;
  std::size_t reassembly_bytes = 256u << 20;
  std::size_t queue_bytes = 8u << 20;
  std::size_t inflight_bytes = 8u << 20;
  std::size_t inflight_total_bytes = 256u << 20;
};
struct CallArgs {
  std::string id = "ca11e2@101/actr:cli:1.0.0";
  std::string to, url, klass = "rpc";
  int count = 1, size = 64, timeout_ms = 2000;
  int resend_ms = 1000;  // an unanswered call sends its request again after this long; 0: never
  bool json = false;
  std::string ca;  // PEM CA bundle trusted for a wss:// --url (empty: system store)
  // ws://HOST:PORT/ of `actr signal`: identity from its AIS (falling back to --id when it does not
  // register us), and WebRTC to --to set up through it (empty: WebSocket only, --id)
  std::string signal;
  std::string credential;         // credential file (read; written after a first AIS registration)
  std::string realm_secret_file;  // sent to the AIS of --signal
  int interval_ms = 0;            // pause between calls
};
struct SignalArgs {
  std::string listen;
  int ttl_ms = 15000;        // registration expires after this much silence
  int heartbeat_ms = 5000;   // Ping cadence suggested to clients
  int keepalive_ms = 5000;   // WebSocket keepalive
  int queue_limit = 256;     // outbound envelopes per client before it is dropped
  int contact_ttl_ms = 120000;  // an id's negotiation partners are forgotten this long after it left
  std::string tls_cert, tls_key;  // PEM files: serve wss:// (both or neither)
  std::string key_dir;            // signing keys kept here (created 0700); empty: one key per process
  std::string metrics;            // HOST:PORT to serve Prometheus metrics and the status page on (empty: none)
  bool json = false;              // stdout lines as JSON objects with an "event" field
  int credential_ttl_s = 3600;    // lifetime of the credentials it issues
  bool require_identity = false;  // refuse (HTTP 401) clients without a credential in the URL
  // Who may register with the AIS (POST /ais/register); none of them: nobody.
  bool ais_open = false;                    // anyone (warned loudly; demos)
  std::string ais_realm_secret_file;        // the secret registrations must carry
  std::vector<std::string> ais_allow_types; // MFR:NAME or MFR:NAME:VERSION
  std::string cluster;                      // redis://HOST[:PORT] or unix:///PATH shared with other servers
  int cluster_ttl_ms = 15000;               // a registration its server stopped refreshing is nobody's after this
};
struct DemoArgs {
  int calls = 200;
  bool json = false;
  std::string child_log_level = "error";  ///< --log-level of the node and signaling processes
};

struct CredentialArgs {
  bool inspect = false;   // `inspect` (else `issue`)
  std::string key_dir;    // issue: signs with its current key; inspect: verifies with its keys
  std::string id;         // issue: the holder
  int ttl_s = 3600;       // issue: lifetime
  std::string out;        // issue: file (0600; empty: stdout)
  std::string file;       // inspect: the file, or "-" for stdin
  std::string public_key; // inspect: base64 of the 32-byte Ed25519 key to verify with
  bool json = false;      // inspect: one JSON line
};

int run_node(const NodeArgs& a);
int run_credential(const CredentialArgs& a);
int run_call(const CallArgs& a);
int run_demo(const DemoArgs& a);
int run_signal(const SignalArgs& a);

/// "HOST:PORT" split at the last colon; nullopt if there is no colon or the port is out of range.
std::optional<std::pair<std::string, std::uint16_t>> split_host_port(const std::string& s);

}  // namespace actr::cli

namespace actr::cli {
struct BenchArgs {
  double seconds = 2;
  std::vector<std::string> sizes{"64", "1k", "64k"};
  std::vector<std::string> modes{"oneway", "echo", "rtt"};
  std::vector<std::string> impls{"actr", "wire", "beast", "tcp", "zmq"};
  std::string placement = "same";  ///< same | split | free
  std::size_t window = 64;
  bool json = false;
  int peers = 0;  ///< many-peers cell: this many live peers (0: skip)
};
int run_bench_ws(const BenchArgs& a);

struct BenchRtcArgs {
  double seconds = 2;
  std::vector<std::string> sizes{"64", "1k", "64k"};
  std::vector<std::string> modes{"oneway", "echo", "rtt"};
  std::vector<std::string> lanes{"reliable", "latency"};
  std::vector<std::string> impls{"actr", "wire", "raw"};
  std::string placement = "split";  ///< same | split | free
  std::size_t window = 64;
  int cold = 3;  ///< cold-start peers per wire set (0: skip)
  double rate = 0;  ///< one-way: messages offered per second (0: as fast as the sender can)
  bool json = false;
};
int run_bench_webrtc(const BenchRtcArgs& a);

struct BenchSignalArgs {
  double seconds = 2;               ///< per throughput phase
  int peers = 1000;                 ///< registered clients (registration, heartbeat, memory phases)
  std::string placement = "split";  ///< same | split | free
  bool json = false;
  /// Two servers sharing this engine (redis://…); clients alternate between them, so every
  /// relay and set-up crosses servers. Empty: one server.
  std::string cluster;
};
/// `actr bench signal` (bench_signal.cpp): what one signaling server holds on this machine.
int run_bench_signal(const BenchSignalArgs& a);
}  // namespace actr::cli
