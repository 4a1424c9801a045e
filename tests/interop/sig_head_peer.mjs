// Interop: a signaling client we did not write — node's `ws` and protobufjs with a schema written
// here from actr HEAD's field numbers (core/protocol/proto/signaling.proto, actr.proto and
// webrtc.proto at a83dd605), not generated from our .proto files — against a real `actr signal
// --require-identity`: identities from POST /ais/register, the signaling WebSocket opened with
// the identity in the URL as HEAD's client builds it (and refused with HTTP 401 without it, or
// with another actor's credential), Ping → Pong, GetSigningKey → the key RegisterOk named,
// discovery by type (RouteCandidates, with the ws address map) and a relay that arrives unchanged;
// then an `actr node --signal --require-identity` (identity from the same AIS) found by type and
// called over WebSocket (actr's data plane: the framing of ws_peer.mjs) with our credential in
// X-Actr-Credential, and refused (HTTP 401) with a forged one or none.
//   node sig_head_peer.mjs /path/to/actr
// Exit code 0 when every check passes; each failure is printed.
import { spawn } from 'node:child_process';
import http from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import protobuf from 'protobufjs';
import WebSocket from 'ws';
import { DEADLINE_MS, HEAD_IDENTITY_SCHEMA, harness, repr, startSignal } from './head.mjs';

const actr = process.argv[2];
const H = harness();
const { check, withDeadline } = H;

const schema = `
syntax = "proto2";
package head;
${HEAD_IDENTITY_SCHEMA}
enum ServiceAvailabilityState { FULL = 0; DEGRADED = 1; OVERLOADED = 2; UNAVAILABLE = 3; }
message Ping {
  required ServiceAvailabilityState availability = 1; required float power_reserve = 2;
  required float mailbox_backlog = 3; repeated string sticky_client_ids = 4;
}
message Pong { required uint64 seq = 1; optional uint32 suggest_interval_secs = 2; }
message UnregisterRequest { required ActrId actr_id = 1; optional string reason = 2; }
message RouteCandidatesRequest {
  message NodeSelectionCriteria { required uint32 candidate_count = 1; }
  required ActrType target_type = 1; optional NodeSelectionCriteria criteria = 2; required string client_fingerprint = 4;
}
message WsAddressEntry { required ActrId candidate_id = 1; optional string ws_address = 2; }
message RouteCandidatesResponse {
  message RouteCandidatesOk { repeated ActrId candidates = 1; repeated WsAddressEntry ws_address_map = 2; }
  oneof result { RouteCandidatesOk success = 1; ErrorResponse error = 2; }
}
message DiscoveryRequest { optional string manufacturer = 1; optional uint32 limit = 2; }
message DiscoveryResponse {
  message TypeEntry { required ActrType actr_type = 1; required string name = 2; required string service_fingerprint = 4; }
  message DiscoveryOk { repeated TypeEntry entries = 1; }
  oneof result { DiscoveryOk success = 1; ErrorResponse error = 2; }
}
message GetSigningKeyRequest { required uint32 key_id = 1; }
message GetSigningKeyResponse { required uint32 key_id = 1; required bytes pubkey = 2; }
message ActrToSignaling {
  required ActrId source = 1; required AIdCredential credential = 2;
  oneof payload {
    UnregisterRequest unregister_request = 3; Ping ping = 4; DiscoveryRequest discovery_request = 10;
    RouteCandidatesRequest route_candidates_request = 11; GetSigningKeyRequest get_signing_key_request = 13;
    ErrorResponse error = 30;
  }
}
message SignalingToActr {
  required ActrId target = 1;
  oneof payload {
    Pong pong = 4; DiscoveryResponse discovery_response = 10; RouteCandidatesResponse route_candidates_response = 11;
    GetSigningKeyResponse get_signing_key_response = 13; ErrorResponse error = 30;
  }
}
message IceCandidate { required string candidate = 1; optional string sdp_mid = 2; optional uint32 sdp_mline_index = 3; optional string username_fragment = 4; }
message SessionDescription { required int32 type = 1; required string sdp = 2; optional string sdp_exchange_id = 3; }
message ActrRelay {
  required ActrId source = 1; required AIdCredential credential = 2; required ActrId target = 3;
  oneof payload { IceCandidate ice_candidate = 10; SessionDescription session_description = 11; }
}
message SignalingEnvelope {
  required uint32 envelope_version = 1; required string envelope_id = 2; optional string reply_for = 3;
  optional string traceparent = 5; optional string tracestate = 6;
  oneof flow { ActrToSignaling actr_to_server = 11; SignalingToActr server_to_actr = 12; ActrRelay actr_relay = 13; ErrorResponse envelope_error = 14; }
}
`;
const root = protobuf.parse(schema, { keepCase: true }).root;
// The data plane (package.proto's RpcEnvelope), as ws_peer.mjs speaks it.
const data = await protobuf.load(path.join(path.dirname(fileURLToPath(import.meta.url)), '../../proto/package.proto'));
const RpcEnvelope = data.lookupType('actr.pb.RpcEnvelope');
const Direction = data.lookupEnum('actr.pb.Direction').values;
const T = (name) => root.lookupType(`head.${name}`);
const encode = (type, obj) => T(type).encode(T(type).fromObject(obj)).finish();
const decode = (type, bytes) => T(type).toObject(T(type).decode(bytes), { longs: String, bytes: Buffer, defaults: false });

// ---- the server under test ----------------------------------------------------------------------
const { server, port } = await startSignal(actr, ['--ais-open', '--require-identity'], withDeadline);
process.on('exit', () => server.kill('SIGKILL'));

function register(type, wsAddress) {
  const body = encode('RegisterRequest', { actr_type: type, realm: { realm_id: 7 }, ws_address: wsAddress });
  return withDeadline(new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path: '/ais/register', method: 'POST',
      headers: { 'content-type': 'application/x-protobuf', 'content-length': body.length } }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve(decode('RegisterResponse', Buffer.concat(chunks)).success));
    });
    req.on('error', reject);
    req.end(Buffer.from(body));
  }), 'POST /ais/register');
}

// HEAD's URL (signaling.rs build_url_with_identity: url crate's query_pairs_mut, i.e. form-urlencoded).
function identityUrl(id, cred) {
  const q = new URLSearchParams();
  q.append('actor_id', repr(id));
  q.append('key_id', String(cred.key_id));
  q.append('claims', cred.claims.toString('base64'));
  q.append('signature', cred.signature.toString('base64'));
  return `ws://127.0.0.1:${port}/signaling?${q}`;
}

// Opens a socket; resolves with it, or with the HTTP status of a refused upgrade.
function open(url) {
  return withDeadline(new Promise((resolve) => {
    const ws = new WebSocket(url);
    ws.once('open', () => resolve({ ws }));
    ws.once('unexpected-response', (_req, res) => resolve({ status: res.statusCode }));
    ws.once('error', (e) => resolve({ error: e.message }));
  }), `open ${url}`);
}

class Client {
  constructor(ws, id, cred) {
    this.ws = ws; this.id = id; this.cred = cred; this.n = 0; this.waiting = new Map(); this.pushes = [];
    ws.on('message', (data) => {
      const env = decode('SignalingEnvelope', data);
      const w = env.reply_for && this.waiting.get(env.reply_for);
      if (w) { this.waiting.delete(env.reply_for); w(env); } else this.pushes.push(env);
    });
  }
  send(flow) {
    const envelope_id = `head-${++this.n}`;
    this.ws.send(encode('SignalingEnvelope', { envelope_version: 2, envelope_id, ...flow }));
    return envelope_id;
  }
  ask(payload) {
    return withDeadline(new Promise((resolve) => {
      const id = this.send({ actr_to_server: { source: this.id, credential: this.cred, ...payload } });
      this.waiting.set(id, resolve);
    }), `answer to ${Object.keys(payload)[0]}`);
  }
  async nextPush() {
    const until = Date.now() + DEADLINE_MS;
    while (!this.pushes.length) {
      if (Date.now() > until) throw new Error('timed out: no push');
      await new Promise((r) => setTimeout(r, 10));  // polling pace only
    }
    return this.pushes.shift();
  }
}

try {
  const echoType = { manufacturer: 'acme', name: 'echo', version: '1.0.0' };
  const a = await register({ manufacturer: 'npm', name: 'head-client', version: '1' });
  const b = await register(echoType, 'ws://127.0.0.1:9/');
  const c = await register(echoType);
  check(a && b && c, 'three identities from POST /ais/register');

  // Refused before the upgrade: no identity, another actor's credential, a damaged signature.
  check((await open(`ws://127.0.0.1:${port}/signaling`)).status === 401, 'no identity in the URL: HTTP 401');
  check((await open(identityUrl(a.actr_id, b.credential))).status === 401, "another actor's credential: HTTP 401");
  const bad = { ...a.credential, signature: Buffer.from(a.credential.signature) };
  bad.signature[0] ^= 1;
  check((await open(identityUrl(a.actr_id, bad))).status === 401, 'a damaged signature: HTTP 401');

  const oa = await open(identityUrl(a.actr_id, a.credential));
  const ob = await open(identityUrl(b.actr_id, b.credential));
  const oc = await open(identityUrl(c.actr_id, c.credential));
  check(oa.ws && ob.ws && oc.ws, 'valid identities: upgraded');
  const A = new Client(oa.ws, a.actr_id, a.credential);
  const B = new Client(ob.ws, b.actr_id, b.credential);

  const p1 = await A.ask({ ping: { availability: 'FULL', power_reserve: 1, mailbox_backlog: 0 } });
  const p2 = await A.ask({ ping: { availability: 'FULL', power_reserve: 1, mailbox_backlog: 0 } });
  check(p1.server_to_actr && p1.server_to_actr.pong && p1.server_to_actr.pong.seq === '1' && p2.server_to_actr.pong.seq === '2',
    `Ping → Pong, seq 1 then 2 (got ${JSON.stringify(p1.server_to_actr)})`);
  check(repr(p1.server_to_actr.target) === repr(a.actr_id), 'SignalingToActr.target names us');

  const k = await A.ask({ get_signing_key_request: { key_id: a.signing_key_id } });
  const key = k.server_to_actr && k.server_to_actr.get_signing_key_response;
  check(key && key.key_id === a.signing_key_id && Buffer.compare(key.pubkey, a.signing_pubkey) === 0,
    'GetSigningKey: the key RegisterOk named');
  const none = await A.ask({ get_signing_key_request: { key_id: 999 } });
  check(none.server_to_actr && none.server_to_actr.error, 'GetSigningKey of an unknown id: SignalingToActr.error');

  const rc = await A.ask({ route_candidates_request: { target_type: echoType, criteria: { candidate_count: 8 }, client_fingerprint: '' } });
  const ok = rc.server_to_actr && rc.server_to_actr.route_candidates_response && rc.server_to_actr.route_candidates_response.success;
  const ids = ok ? (ok.candidates || []).map(repr).sort() : [];
  check(JSON.stringify(ids) === JSON.stringify([repr(b.actr_id), repr(c.actr_id)].sort()), `RouteCandidates by type: both echo actors (${ids})`);
  const map = ok ? (ok.ws_address_map || []) : [];
  check(map.length === 1 && repr(map[0].candidate_id) === repr(b.actr_id) && map[0].ws_address === 'ws://127.0.0.1:9/',
    'ws_address_map: the address given at /ais/register, for the actor that gave one');

  const d = await A.ask({ discovery_request: { manufacturer: 'acme' } });
  const types = d.server_to_actr && d.server_to_actr.discovery_response && d.server_to_actr.discovery_response.success;
  check(types && types.entries.length === 1 && types.entries[0].actr_type.name === 'echo', 'DiscoveryRequest: the registered types');

  // A relay with our credential arrives unchanged; one claiming b's source is refused.
  const relay = { source: a.actr_id, credential: a.credential, target: b.actr_id,
                  session_description: { type: 0, sdp: 'v=0\r\n', sdp_exchange_id: '3b241101-e2bb-4255-8caf-4136c566a962' } };
  A.send({ actr_relay: relay, traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01' });
  const got = await B.nextPush();
  check(got.actr_relay && got.actr_relay.session_description.sdp_exchange_id === relay.session_description.sdp_exchange_id &&
        Buffer.compare(got.actr_relay.credential.signature, a.credential.signature) === 0,
    'the relay arrives unchanged (UUID exchange id, our credential)');
  check(got.traceparent === '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01', 'traceparent (tag 5) passed through');
  const forged = A.send({ actr_relay: { ...relay, source: b.actr_id } });
  const refusal = await A.nextPush();
  check(refusal.reply_for === forged && refusal.envelope_error && refusal.envelope_error.code > 0, 'a relay from a forged source is refused, typed');

  // An actr node that requires identity: its identity from the same AIS, registered with URL
  // identity, found by type, called over WebSocket with our credential.
  const nodeProc = spawn(actr, ['--log-level', 'error', 'node', '--id', '1@7/acme:echo:1.0.0', '--listen', '127.0.0.1:0',
    '--echo', '--wires', 'ws', '--signal', `ws://127.0.0.1:${port}/`, '--require-identity'], { stdio: ['ignore', 'pipe', 'inherit'] });
  process.on('exit', () => nodeProc.kill('SIGKILL'));
  const nodeId = await withDeadline(new Promise((resolve, reject) => {
    let out = '';
    nodeProc.stdout.on('data', (d) => {
      out += d;
      const m = out.match(/listening on ws:\/\/[0-9.:]+\/ as (\S+)\n[\s\S]*registered with/);
      if (m) resolve(m[1]);
    });
    nodeProc.on('exit', (code) => reject(new Error(`actr node exited (${code})`)));
  }), 'actr node registered');
  const found = await A.ask({ route_candidates_request: { target_type: echoType, criteria: { candidate_count: 8 }, client_fingerprint: '' } });
  const fok = found.server_to_actr && found.server_to_actr.route_candidates_response &&
    found.server_to_actr.route_candidates_response.success;
  const entry = fok && (fok.ws_address_map || []).find((e) => repr(e.candidate_id) === nodeId);
  check(entry && /^ws:\/\/127\.0\.0\.1:\d+\/$/.test(entry.ws_address),
    `RouteCandidates finds the actr node ${nodeId} (an AIS identity) with its ws address`);
  const nodeUrl = entry ? entry.ws_address : 'ws://127.0.0.1:9/';
  const sourceHex = Buffer.from(encode('ActrId', a.actr_id)).toString('hex');
  const credB64 = (cred) => Buffer.from(encode('AIdCredential', cred)).toString('base64');
  const call = (headers) => withDeadline(new Promise((resolve) => {
    const ws = new WebSocket(nodeUrl, { headers });
    ws.once('unexpected-response', (_req, res) => resolve({ status: res.statusCode }));
    ws.once('error', (e) => resolve({ error: e.message }));
    ws.once('open', () => {
      const env = RpcEnvelope.encode(RpcEnvelope.create({ routeKey: 'interop.Echo', payload: Buffer.from('head hello'),
        requestId: 'head-call-1', timeoutMs: 5000, direction: Direction.DIRECTION_REQUEST })).finish();
      const f = Buffer.alloc(5 + env.length);
      f.writeUInt8(0, 0);  // RPC_RELIABLE
      f.writeUInt32BE(env.length, 1);
      Buffer.from(env).copy(f, 5);
      ws.send(f);
      ws.once('message', (d) => {
        const answer = RpcEnvelope.decode(Buffer.from(d).subarray(5));
        ws.close();
        resolve({ answer });
      });
    });
  }), `call ${nodeUrl}`);
  const answered = await call({ 'X-Actr-Source-ID': sourceHex, 'X-Actr-Credential': credB64(a.credential) });
  check(answered.answer && answered.answer.direction === Direction.DIRECTION_RESPONSE &&
        answered.answer.requestId === 'head-call-1' && Buffer.from(answered.answer.payload).toString() === 'head hello',
    `the node answers a call with our AIS credential (${JSON.stringify(answered.status || answered.error || 'answered')})`);
  const forgedCred = { ...a.credential, signature: Buffer.from(a.credential.signature) };
  forgedCred.signature[5] ^= 0x40;
  check((await call({ 'X-Actr-Source-ID': sourceHex, 'X-Actr-Credential': credB64(forgedCred) })).status === 401,
    'a forged credential: HTTP 401 at the gate');
  check((await call({ 'X-Actr-Source-ID': sourceHex, 'X-Actr-Credential': credB64(b.credential) })).status === 401,
    "another actor's credential: HTTP 401 at the gate");
  check((await call({ 'X-Actr-Source-ID': sourceHex })).status === 401, 'no credential: HTTP 401 at the gate');
  nodeProc.kill('SIGTERM');

  for (const o of [oa, ob, oc]) o.ws.close();
} catch (e) {
  H.failures++;
  console.log(`FAIL ${e.stack || e.message}`);
}
const failures = H.failures;
console.log(failures ? `${failures} failure(s)` : 'all checks passed');
process.exit(failures ? 1 : 0);
