// Interop: an AIS client we did not write — node's http and protobufjs with a schema written here
// from actr HEAD's field numbers (core/protocol/proto/actr.proto, "Register" and "AId Credential"
// sections, at a83dd605), not generated from our .proto files — against a real `actr signal`:
// POST /ais/register with the realm secret, the credential checked with node's own Ed25519,
// POST /ais/renew, and the typed refusals (403 without the secret, 401 for a bad token).
//   node ais_peer.mjs /path/to/actr
// Exit code 0 when every check passes; each failure is printed.
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import protobuf from 'protobufjs';
import { HEAD_IDENTITY_SCHEMA, harness, repr, startSignal } from './head.mjs';

const actr = process.argv[2];

const schema = `
syntax = "proto2";
package head;
${HEAD_IDENTITY_SCHEMA}
message RenewCredentialRequest { required ActrId actr_id = 1; required bytes renewal_token = 2; }
message RenewCredentialResponse { oneof result { RegisterOk success = 1; ErrorResponse error = 2; } }
`;
const root = protobuf.parse(schema, { keepCase: true }).root;
const T = (name) => root.lookupType(`head.${name}`);

const H = harness();
const { check, withDeadline } = H;

// ---- start the server under test ---------------------------------------------------------------
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'actr-ais-'));
const secretFile = path.join(dir, 'secret');
fs.writeFileSync(secretFile, 'interop-secret\n');
const { server, port } = await startSignal(actr, ['--ais-realm-secret-file', secretFile], withDeadline);
process.on('exit', () => { server.kill('SIGKILL'); fs.rmSync(dir, { recursive: true, force: true }); });

function post(route, body, headers = {}) {
  return withDeadline(new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path: route, method: 'POST',
      headers: { 'content-type': 'application/x-protobuf', 'content-length': body.length, ...headers } }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, type: res.headers['content-type'], body: Buffer.concat(chunks) }));
    });
    req.on('error', reject);
    req.end(Buffer.from(body));
  }), `POST ${route}`);
}

const encode = (type, obj) => T(type).encode(T(type).fromObject(obj)).finish();
const decode = (type, bytes) => T(type).toObject(T(type).decode(bytes), { longs: String, bytes: Buffer, defaults: false });

function ed25519Verify(pubkey, message, signature) {
  const key = crypto.createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: pubkey.toString('base64url') }, format: 'jwk' });
  return crypto.verify(null, message, key, signature);
}

const secret = { 'x-actrix-realm-secret': 'interop-secret' };
const request = encode('RegisterRequest', {
  actr_type: { manufacturer: 'npm', name: 'protobufjs', version: '7' }, realm: { realm_id: 42 },
  ws_address: 'ws://127.0.0.1:9/', auth_mode: 2,
});

try {
  // Registration.
  const r = await post('/ais/register', request, secret);
  check(r.status === 200, `register: HTTP ${r.status}`);
  check(r.type === 'application/x-protobuf', `register: content-type ${r.type}`);
  const reply = decode('RegisterResponse', r.body);
  const ok = reply.success;
  check(!!ok, 'register: RegisterResponse.success');
  const id = ok.actr_id;
  check(id.realm.realm_id === 42 && id.type.name === 'protobufjs' && BigInt(id.serial_number) > 0n,
    `register: actr_id ${repr(id)} (server-chosen serial)`);
  check(ok.signing_pubkey.length === 32 && ok.credential.key_id === ok.signing_key_id,
    `register: signing key ${ok.signing_key_id}, 32-byte public key`);
  check(ed25519Verify(ok.signing_pubkey, ok.credential.claims, ok.credential.signature),
    'register: credential signature verifies with node:crypto Ed25519 and the returned key');
  const claims = decode('IdentityClaims', ok.credential.claims);
  check(claims.actor_id === repr(id) && claims.realm_id === 42, `register: claims.actor_id ${claims.actor_id}`);
  check(String(ok.credential_expires_at.seconds) === String(claims.expires_at) &&
    BigInt(claims.expires_at) > BigInt(Math.floor(Date.now() / 1000)), 'register: credential_expires_at = claims.expires_at, in the future');
  check(ok.renewal_token && ok.renewal_token.length > 0, 'register: renewal_token present');

  // A second registration gets another serial.
  const again = decode('RegisterResponse', (await post('/ais/register', request, secret)).body).success;
  check(again && again.actr_id.serial_number !== id.serial_number, 'register twice: distinct serials');

  // Renewal.
  const renew = await post('/ais/renew', encode('RenewCredentialRequest', { actr_id: id, renewal_token: ok.renewal_token }));
  check(renew.status === 200, `renew: HTTP ${renew.status}`);
  const renewed = decode('RenewCredentialResponse', renew.body).success;
  check(renewed && repr(renewed.actr_id) === repr(id), 'renew: same actr_id');
  check(renewed && ed25519Verify(renewed.signing_pubkey, renewed.credential.claims, renewed.credential.signature) &&
    decode('IdentityClaims', renewed.credential.claims).actor_id === repr(id), 'renew: fresh credential verifies for the same id');

  // Refusals, typed in HEAD's shape.
  const denied = await post('/ais/register', request);
  const deniedBody = decode('RegisterResponse', denied.body);
  check(denied.status === 403 && deniedBody.error && deniedBody.error.code === 403,
    `register without the secret: HTTP ${denied.status}, ErrorResponse.code ${deniedBody.error && deniedBody.error.code}`);
  const bad = await post('/ais/renew', encode('RenewCredentialRequest', { actr_id: id, renewal_token: Buffer.alloc(32) }));
  const badBody = decode('RenewCredentialResponse', bad.body);
  check(bad.status === 401 && badBody.error && badBody.error.code === 401,
    `renew with a made-up token: HTTP ${bad.status}, ErrorResponse.code ${badBody.error && badBody.error.code}`);

  // Clean exit on SIGTERM.
  const exited = new Promise((resolve) => server.on('exit', (code, signal) => resolve({ code, signal })));
  server.kill('SIGTERM');
  const end = await withDeadline(exited, 'actr signal exit');
  check(end.code === 0, `actr signal exits 0 on SIGTERM (code ${end.code}, signal ${end.signal})`);
} catch (e) {
  console.log(`FAIL ${e.stack || e}`);
  H.failures++;
}
console.log(H.failures ? `${H.failures} check(s) failed` : 'all passed');
process.exit(H.failures ? 1 : 0);
