// Shared by the interop scripts that speak actr HEAD's control plane from its own field numbers
// (core/protocol/proto/actr.proto at a83dd605, written here, not generated from our .proto files):
// the identity and registration messages, a check/deadline harness, and `actr signal` started on
// a free port.
import { spawn } from 'node:child_process';

export const DEADLINE_MS = 10000;

export const HEAD_IDENTITY_SCHEMA = `
message Timestamp { optional int64 seconds = 1; optional int32 nanos = 2; }
message Realm { required uint32 realm_id = 1; }
message ActrType { required string manufacturer = 1; required string name = 2; required string version = 3; }
message ActrId { required Realm realm = 1; required uint64 serial_number = 2; required ActrType type = 3; }
message IdentityClaims { required uint32 realm_id = 1; required string actor_id = 2; required uint64 expires_at = 3; }
message AIdCredential { required uint32 key_id = 1; required bytes claims = 2; required bytes signature = 3; }
message TurnCredential { required string username = 1; required string password = 2; required uint64 expires_at = 3; }
message ErrorResponse { required uint32 code = 1; required string message = 2; }
message RegisterRequest {
  required ActrType actr_type = 1; required Realm realm = 2; optional string service = 5;
  optional string ws_address = 6; optional string target = 13; optional int32 auth_mode = 14;
}
message RegisterOk {
  required ActrId actr_id = 1; required AIdCredential credential = 2; required TurnCredential turn_credential = 3;
  optional Timestamp credential_expires_at = 4; required uint32 signaling_heartbeat_interval_secs = 5;
  required bytes signing_pubkey = 6; required uint32 signing_key_id = 7;
  optional bytes renewal_token = 12; optional Timestamp renewal_token_expires_at = 13;
}
message RegisterResponse { oneof result { RegisterOk success = 1; ErrorResponse error = 2; } }
`;

// actr's ActrId string form: <serial hex>@<realm>/<manufacturer>:<name>:<version>
export const repr = (id) =>
  `${BigInt(id.serial_number).toString(16)}@${id.realm.realm_id}/${id.type.manufacturer}:${id.type.name}:${id.type.version}`;

export function harness() {
  const h = { failures: 0 };
  h.check = (ok, what) => {
    console.log(`${ok ? 'ok  ' : 'FAIL'} ${what}`);
    if (!ok) h.failures++;
  };
  h.withDeadline = (p, what) =>
    Promise.race([p, new Promise((_, rej) => setTimeout(() => rej(new Error(`timed out: ${what}`)), DEADLINE_MS))]);
  return h;
}

// Starts `actr signal --listen 127.0.0.1:0 ARGS...`; resolves with { server, port } once it listens.
export async function startSignal(actr, args, withDeadline) {
  const server = spawn(actr, ['--log-level', 'error', 'signal', '--listen', '127.0.0.1:0', ...args],
    { stdio: ['ignore', 'pipe', 'inherit'] });
  const port = await withDeadline(new Promise((resolve, reject) => {
    let out = '';
    server.stdout.on('data', (d) => {
      out += d;
      const m = out.match(/listening 127\.0\.0\.1:(\d+)/);
      if (m) resolve(Number(m[1]));
    });
    server.on('exit', (code) => reject(new Error(`actr signal exited (${code})`)));
  }), 'actr signal listening');
  return { server, port };
}
