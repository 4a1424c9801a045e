// The `actr` command: run a node, make calls, the demo, benchmarks, and the signaling server.
// Thin: everything real is in the library.
#include "bench.hpp"
#include "commands.hpp"

#include <CLI/CLI.hpp>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <csignal>
#include <cstdlib>
#include <cstring>

#ifdef __GLIBC__
#include <malloc.h>
#endif

namespace {

// glibc returns free memory at the top of a heap to the kernel once it passes M_TRIM_THRESHOLD
// (128 KiB until its dynamic threshold moves). A node moving 64 KiB messages frees a few buffers
// of that size per message, so each message paid for fresh pages again: 16 page faults per
// 64 KiB buffer. That took the Node's 64 KiB round trip from about 125 to 190 µs and its
// 200 KiB one from about 210 to 700 µs (docs/benchmarks.md). Up to 4 MiB free per malloc arena is
// kept, and allocations under 1 MiB come from the heap; GLIBC_TUNABLES malloc settings win.
void tune_malloc() {
#ifdef __GLIBC__
  const char* tunables = std::getenv("GLIBC_TUNABLES");
  if (tunables != nullptr && std::strstr(tunables, "glibc.malloc.") != nullptr) return;
  mallopt(M_MMAP_THRESHOLD, 1 << 20);
  mallopt(M_TRIM_THRESHOLD, 4 << 20);
#endif
}

}  // namespace

int main(int argc, char** argv) {
  tune_malloc();
  // A network daemon must survive a peer (or a reader of its output) going away.
  std::signal(SIGPIPE, SIG_IGN);
  // Logs go to stderr: stdout carries the command's data (and `actr node`'s "listening" line).
  spdlog::set_default_logger(spdlog::stderr_color_mt("actr"));
  CLI::App app{"actr: actor transport over WebSocket (actr-transport)"};
  app.require_subcommand(1);
  app.fallthrough();  // global options (--log-level) may also follow the subcommand
  std::string log_level = "warn";
  app.add_option("--log-level", log_level, "trace, debug, info, warn, error, off")->capture_default_str();
  app.parse_complete_callback([&] { spdlog::set_level(spdlog::level::from_str(log_level)); });

  actr::cli::NodeArgs node;
  auto* n = app.add_subcommand("node", "Run a node until SIGINT/SIGTERM");
  n->add_option("--id", node.id,
                "this node's ActrId, e.g. 1@101/acme:echo:1.0.0 (with an AIS identity: its realm and type; the "
                "server picks the serial)");
  n->add_option("--listen", node.listen, "HOST:PORT to accept peers on")->required();
  n->add_option("--peer", node.peers, "ID=URL of a peer (repeatable)");
  n->add_flag("--echo", node.echo, "answer every request with its own payload; count stream chunks");
  n->add_option("--keepalive-ms", node.keepalive_ms, "WebSocket keepalive interval")->capture_default_str();
  n->add_option("--signal", node.signal,
                "ws://HOST:PORT or wss://… of an `actr signal` server, or several separated by commas (the first "
                "that answers; when it goes away the node moves to the next, keeping its WebRTC connections): "
                "identity from its AIS (POST /ais/register; if it registers nobody, --id over the socket), discovery, "
                "WebRTC set-up");
  n->add_option("--credential", node.credential,
                "credential file (JSON, from `actr credential issue` or a first --signal registration, which writes "
                "it): this node's id and proof");
  n->add_option("--realm-secret-file", node.realm_secret_file, "file with the realm secret the AIS of --signal asks");
  n->add_option("--tls-cert", node.tls_cert, "PEM certificate (chain) file: accept peers over wss:// (with --tls-key)");
  n->add_option("--tls-key", node.tls_key, "PEM private key file of --tls-cert");
  n->add_option("--ca", node.ca, "PEM CA bundle to trust for wss:// peers and --signal (default: the system store)");
  n->add_flag("--require-identity", node.require_identity,
              "serve only peers with a valid credential for the id they claim (HTTP 401 otherwise); trusts the key "
              "of the --signal server");
  n->add_option("--max-webrtc-setups", node.max_webrtc_setups,
                "WebRTC peer connections set up at once; offers past it are refused (typed, at once)")
      ->check(CLI::Range(1, 100000))
      ->capture_default_str();
  n->add_option("--metrics", node.metrics,
                "HOST:PORT to serve Prometheus metrics on at /metrics and the status page at / (port 0 picks one; "
                "stdout gets 'metrics on URL')");
  n->add_flag("--json", node.json, "print stdout lines (listening, metrics, registered) as JSON objects with an \"event\"");
  n->add_option("--wires", node.wires, "wire kinds to dial: webrtc, ws (WebRTC needs --signal)")
      ->delimiter(',')
      ->capture_default_str();
  n->add_option("--max-message-bytes", node.max_message_bytes, "largest message sent or accepted, every wire")
      ->capture_default_str();
  n->add_option("--reassembly-bytes", node.reassembly_bytes,
                "inbound message bytes held while read or reassembled, all connections together (past it: close 1013)")
      ->capture_default_str();
  n->add_option("--queue-bytes", node.queue_bytes,
                "outbound bytes queued per connection before it is not read")->capture_default_str();
  n->add_option("--inflight-bytes", node.inflight_bytes,
                "request bytes accepted and not yet answered, per connection, before it is not read")
      ->capture_default_str();
  n->add_option("--inflight-total-bytes", node.inflight_total_bytes,
                "the same across connections (past it: requests answered resource_exhausted)")->capture_default_str();

  actr::cli::CallArgs call;
  auto* c = app.add_subcommand("call", "Send requests to a node and report latency");
  c->add_option("--id", call.id, "the caller's ActrId")->capture_default_str();
  c->add_option("--to", call.to, "ActrId of the node to call")->required();
  c->add_option("--url", call.url, "ws://HOST:PORT/ or wss://HOST:PORT/ of that node")->required();
  c->add_option("--count", call.count, "number of calls")->capture_default_str();
  c->add_option("--size", call.size, "payload bytes")->capture_default_str();
  c->add_option("--timeout-ms", call.timeout_ms, "per call")->capture_default_str();
  c->add_option("--class", call.klass, "rpc, signal, stream, latency, tell")->capture_default_str();
  c->add_option("--resend-ms", call.resend_ms, "send an unanswered request again after this long (0: never, as an actr caller)")
      ->capture_default_str();
  c->add_flag("--json", call.json, "print the summary as JSON");
  c->add_option("--interval-ms", call.interval_ms, "pause between calls")->check(CLI::Range(0, 3600000))->capture_default_str();
  c->add_option("--ca", call.ca, "PEM CA bundle to trust for a wss:// --url (default: the system store)");
  c->add_option("--signal", call.signal,
                "ws://… or wss://… of an `actr signal` server, or several separated by commas (the first that answers, "
                "then the next if it goes away): identity from its AIS (POST /ais/register; else --id), and WebRTC "
                "to --to set up through it (calls move to it once up)");
  c->add_option("--credential", call.credential,
                 "credential file (JSON, from `actr credential issue`, or written by a first --signal registration)");
  c->add_option("--realm-secret-file", call.realm_secret_file, "file with the realm secret the AIS of --signal asks");

  actr::cli::CallArgs send;
  send.klass = "tell";
  auto* s = app.add_subcommand("send", "Send one-way messages (tells or stream chunks) to a node");
  s->add_option("--id", send.id, "the sender's ActrId")->capture_default_str();
  s->add_option("--to", send.to, "ActrId of the node")->required();
  s->add_option("--url", send.url, "ws://HOST:PORT/ or wss://HOST:PORT/ of that node")->required();
  s->add_option("--count", send.count, "number of messages")->capture_default_str();
  s->add_option("--size", send.size, "payload bytes")->capture_default_str();
  s->add_option("--class", send.klass, "tell, stream, latency")->capture_default_str();
  s->add_flag("--json", send.json, "print the summary as JSON");
  s->add_option("--ca", send.ca, "PEM CA bundle to trust for a wss:// --url (default: the system store)");
  s->add_option("--signal", send.signal,
                "ws://… or wss://… of an `actr signal` server, or several separated by commas (the first that answers, "
                "then the next if it goes away): identity from its AIS (POST /ais/register; else --id), and WebRTC "
                "to --to set up through it");
  s->add_option("--credential", send.credential,
                 "credential file (JSON, from `actr credential issue`, or written by a first --signal registration)");
  s->add_option("--realm-secret-file", send.realm_secret_file, "file with the realm secret the AIS of --signal asks");

  actr::cli::SignalArgs sig;
  auto* g = app.add_subcommand("signal", "Run the signaling and discovery server until SIGINT/SIGTERM");
  g->add_option("--listen", sig.listen, "HOST:PORT to accept clients on (port 0 picks one; stdout gets 'listening HOST:PORT')")
      ->required();
  g->add_option("--ttl-ms", sig.ttl_ms, "a registration expires after this much silence")->capture_default_str();
  g->add_option("--heartbeat-ms", sig.heartbeat_ms, "heartbeat cadence suggested to clients")->capture_default_str();
  g->add_option("--keepalive-ms", sig.keepalive_ms, "WebSocket keepalive interval")->capture_default_str();
  g->add_option("--queue-limit", sig.queue_limit, "outbound envelopes per client before it is dropped")
      ->capture_default_str();
  g->add_option("--contact-ttl-ms", sig.contact_ttl_ms,
                "how long an id's WebRTC negotiation partners are remembered after it left (to tell them of its restart)")
      ->capture_default_str();
  g->add_option("--cluster", sig.cluster,
                "redis://HOST[:PORT] or unix:///PATH of a Redis server shared with other `actr signal` servers: "
                "registrations, discovery and relays span them all (give them one --key-dir); docs/scale.md");
  g->add_option("--cluster-ttl-ms", sig.cluster_ttl_ms,
                "with --cluster: a registration its server stopped refreshing (the server died) is free after this")
      ->capture_default_str();
  g->add_option("--metrics", sig.metrics,
                "HOST:PORT to serve Prometheus metrics on at /metrics and the status page at / (port 0 picks one; "
                "stdout gets 'metrics on URL')");
  g->add_flag("--json", sig.json, "print stdout lines (listening, metrics) as JSON objects with an \"event\"");
  g->add_option("--tls-cert", sig.tls_cert, "PEM certificate (chain) file: serve wss:// only (with --tls-key)");
  g->add_option("--tls-key", sig.tls_key, "PEM private key file of --tls-cert");
  g->add_option("--key-dir", sig.key_dir,
                "directory of the Ed25519 signing keys for the credentials it issues (created 0700 with a first key; "
                "default: a key for this process only)");
  g->add_option("--credential-ttl-s", sig.credential_ttl_s, "lifetime of the credentials it issues")
      ->capture_default_str();
  g->add_flag("--require-identity", sig.require_identity,
              "refuse (HTTP 401, before the upgrade) clients without a valid credential in the URL, as actrix does; "
              "get one at POST /ais/register");
  g->add_flag("--ais-open", sig.ais_open,
              "let anyone register any actor type at POST /ais/register (demos only; logged as a warning). "
              "Without --ais-* options nobody may register there");
  g->add_option("--ais-realm-secret-file", sig.ais_realm_secret_file,
                "file holding the secret a registration must carry in the x-actrix-realm-secret header");
  g->add_option("--ais-allow-type", sig.ais_allow_types,
                "MFR:NAME or MFR:NAME:VERSION allowed to register (repeatable; with a secret, both must pass)");

  actr::cli::CredentialArgs cred;
  auto* cr = app.add_subcommand("credential", "Issue and inspect credentials offline (the keys of `actr signal --key-dir`)");
  cr->require_subcommand(1);
  auto* ci = cr->add_subcommand("issue", "Sign a credential for an ActrId with the current key of --key-dir");
  ci->add_option("--key-dir", cred.key_dir, "signing keys, as `actr signal --key-dir` keeps them (created if missing)")
      ->required();
  ci->add_option("--id", cred.id, "the holder's ActrId")->required();
  ci->add_option("--ttl-s", cred.ttl_s, "lifetime in seconds")->capture_default_str();
  ci->add_option("--out", cred.out, "credential file to write (0600; default: stdout)");
  auto* cx = cr->add_subcommand("inspect", "Show a credential file's claims, key and expiry, and whether it verifies "
                                           "(exit 0 only if valid)");
  cx->add_option("file", cred.file, "credential file, or - for stdin")->required();
  cx->add_option("--key-dir", cred.key_dir, "verify with these signing keys");
  cx->add_option("--public-key", cred.public_key, "verify with this key (base64 of 32 bytes; default: the file's own)");
  cx->add_flag("--json", cred.json, "print one JSON object");

  actr::cli::DemoArgs demo;
  auto* d = app.add_subcommand("demo", "Start a signaling server and nodes as processes; every payload class over WebRTC and WebSocket; lose WebRTC and get it back; kill and restart a node");
  d->add_option("--calls", demo.calls, "calls per phase")->capture_default_str();
  d->add_flag("--json", demo.json, "print the results as JSON");
  d->add_option("--child-log-level", demo.child_log_level, "log level of the node and signaling processes")
      ->capture_default_str();

  auto* b = app.add_subcommand("bench", "Benchmarks against raw baselines");
  b->require_subcommand(1);
  actr::cli::BenchArgs bench;
  auto* bw = b->add_subcommand("ws", "WebSocket: one-way, echo (window) and round trip for each size, side by side "
                                     "with a raw Beast and a raw TCP peer, in pinned processes on loopback");
  bw->add_option("--seconds", bench.seconds, "per cell")->capture_default_str();
  bw->add_option("--sizes", bench.sizes, "message sizes (64, 1k, 64k ...)")->delimiter(',')->capture_default_str();
  bw->add_option("--modes", bench.modes, "oneway, echo, rtt")->delimiter(',')->capture_default_str();
  bw->add_option("--impls", bench.impls, "actr (Node: full stack), wire (WebSocket wire alone), beast, tcp, zmq (libzmq DEALER/ROUTER)")->delimiter(',')->capture_default_str();
  bw->add_option("--placement", bench.placement, "same (both on CPU0), split (server CPU1, client CPU0), free")
      ->capture_default_str();
  bw->add_option("--window", bench.window, "echo: messages in flight")->capture_default_str();
  bw->add_flag("--json", bench.json, "print the results as JSON");
  bw->add_option("--peers", bench.peers,
                 "many-peers cell: N WebSocket peers streaming 64 B tells at one actr Node, vs 1 peer (0: skip)")
      ->capture_default_str();
  actr::cli::BenchRtcArgs rtc;
  auto* br = b->add_subcommand("webrtc", "WebRTC DataChannels: one-way, echo (window) and round trip on the reliable "
                                         "and the latency-first lane for each size, side by side with raw webrtcbin, "
                                         "in pinned processes on loopback; then the cold-start time");
  br->add_option("--seconds", rtc.seconds, "per cell")->capture_default_str();
  br->add_option("--sizes", rtc.sizes, "message sizes (64, 1k, 64k ...)")->delimiter(',')->capture_default_str();
  br->add_option("--modes", rtc.modes, "oneway, echo, rtt (echo: reliable lane only)")->delimiter(',')->capture_default_str();
  br->add_option("--lanes", rtc.lanes, "reliable, latency")->delimiter(',')->capture_default_str();
  br->add_option("--impls", rtc.impls, "actr (Node through `actr signal`), wire (make_webrtc_wire), raw (webrtcbin)")
      ->delimiter(',')
      ->capture_default_str();
  br->add_option("--placement", rtc.placement, "same (both on CPU0), split (server CPU1, client CPU0), free")
      ->capture_default_str();
  br->add_option("--window", rtc.window, "echo: messages in flight")->capture_default_str();
  br->add_option("--cold", rtc.cold, "cold-start peers per wire set (0: skip the cold start)")->capture_default_str();
  br->add_option("--rate", rtc.rate,
                 "one-way cells: messages offered per second, paced per millisecond (0: as fast as the sender can). "
                 "A latency-first lane drops what its receiver cannot take; a paced run measures delivery while the "
                 "receiver keeps up")
      ->capture_default_str();
  br->add_flag("--json", rtc.json, "print the results as JSON");
  actr::cli::BenchSignalArgs sigb;
  auto* bs = b->add_subcommand("signal", "One signaling server: registrations, heartbeats, relays and WebRTC set-ups' "
                                         "signaling per second (server in-process on its own pinned thread), and its "
                                         "memory per registered peer (a child `actr signal`)");
  bs->add_option("--seconds", sigb.seconds, "per throughput phase")->capture_default_str();
  bs->add_option("--peers", sigb.peers, "registered clients (at least 2)")->capture_default_str();
  bs->add_option("--placement", sigb.placement, "same (both on CPU0), split (server CPU1, clients CPU0), free")
      ->capture_default_str();
  bs->add_option("--cluster", sigb.cluster,
                 "redis://HOST:PORT: two servers (both on the server CPU) sharing that engine; clients alternate "
                 "between them, so every relay and set-up crosses servers (the memory phase is skipped)");
  bs->add_flag("--json", sigb.json, "print the results as JSON");
  actr::cli::bench::PeerArgs peer;
  auto* bp = b->add_subcommand("peer", "One side of one benchmark cell (used by `bench ws` and `bench webrtc`)");
  bp->group("");  // internal
  bp->add_option("--impl", peer.impl);
  bp->add_option("--role", peer.role);
  bp->add_option("--mode", peer.mode);
  bp->add_option("--port", peer.port);
  bp->add_option("--size", peer.size);
  bp->add_option("--window", peer.window);
  bp->add_option("--seconds", peer.seconds);
  bp->add_option("--cpu", peer.cpu);
  bp->add_option("--lane", peer.lane);
  bp->add_option("--signal", peer.signal);
  bp->add_option("--wires", peer.wires);
  bp->add_option("--peers", peer.peers);
  bp->add_option("--index", peer.index);
  bp->add_option("--client", peer.client);
  bp->add_option("--server-pid", peer.server_pid);
  bp->add_option("--rate", peer.rate);

  CLI11_PARSE(app, argc, argv);
  if (bw->parsed()) return actr::cli::run_bench_ws(bench);
  if (br->parsed()) return actr::cli::run_bench_webrtc(rtc);
  if (bs->parsed()) return actr::cli::run_bench_signal(sigb);
  if (bp->parsed()) {
    if (peer.impl == "rtc-raw") return actr::cli::bench::run_rtc_raw_peer(peer);
    if (peer.impl == "rtc-actr" || peer.impl == "rtc-wire") return actr::cli::bench::run_rtc_peer(peer);
    if (peer.impl == "actr" || peer.impl == "wire" || peer.impl == "many") return actr::cli::bench::run_actr_peer(peer);
    if (peer.impl == "beast") return actr::cli::bench::run_beast_peer(peer);
    if (peer.impl == "tcp") return actr::cli::bench::run_tcp_peer(peer);
    if (peer.impl == "zmq" && actr::cli::bench::kHaveZmq) return actr::cli::bench::run_zmq_peer(peer);
    return 2;
  }
  if (n->parsed()) return actr::cli::run_node(node);
  if (c->parsed()) return actr::cli::run_call(call);
  if (s->parsed()) return actr::cli::run_call(send);
  if (d->parsed()) return actr::cli::run_demo(demo);
  if (ci->parsed()) return actr::cli::run_credential(cred);
  if (cx->parsed()) {
    cred.inspect = true;
    return actr::cli::run_credential(cred);
  }
  if (g->parsed()) return actr::cli::run_signal(sig);
  return 2;
}
