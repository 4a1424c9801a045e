// Interop: a peer we did not write — the `ws` package from npm, with protobufjs for the envelopes —
// speaks actr's WebSocket framing to a real `actr node --echo` process on 127.0.0.1.
//   node ws_peer.mjs /path/to/actr
// Exit code 0 when every check passes; each failure is printed.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import protobuf from 'protobufjs';
import WebSocket from 'ws';

const here = path.dirname(fileURLToPath(import.meta.url));
const actr = process.argv[2];
const DEADLINE_MS = 10000;

const root = await protobuf.load(path.join(here, '../../proto/package.proto'));
const ActrId = root.lookupType('actr.pb.ActrId');
const RpcEnvelope = root.lookupType('actr.pb.RpcEnvelope');
const DataStream = root.lookupType('actr.pb.DataStream');
const Direction = root.lookupEnum('actr.pb.Direction').values;
const PT = { RPC_RELIABLE: 0, RPC_SIGNAL: 1, STREAM_RELIABLE: 2, STREAM_LATENCY_FIRST: 3 };

let failures = 0;
const check = (ok, what) => {
  console.log(`${ok ? 'ok  ' : 'FAIL'} ${what}`);
  if (!ok) failures++;
};
const withDeadline = (p, what) =>
  Promise.race([p, new Promise((_, rej) => setTimeout(() => rej(new Error(`timed out: ${what}`)), DEADLINE_MS))]);

// [u8 payload_type][u32 big-endian length][payload]
const frame = (type, payload) => {
  const b = Buffer.alloc(5 + payload.length);
  b.writeUInt8(type, 0);
  b.writeUInt32BE(payload.length, 1);
  Buffer.from(payload).copy(b, 5);
  return b;
};
const unframe = (buf) => ({ type: buf.readUInt8(0), len: buf.readUInt32BE(1), body: buf.subarray(5) });

const myId = { realm: { realmId: 101 }, serialNumber: 0x5e, type: { manufacturer: 'npm', name: 'ws', version: '8' } };
const sourceHex = Buffer.from(ActrId.encode(ActrId.create(myId)).finish()).toString('hex');

// ---- start the node under test -----------------------------------------------------------------
const node = spawn(actr, ['--log-level', 'error', 'node', '--id', '1@101/acme:echo:1.0.0', '--listen', '127.0.0.1:0', '--echo'],
  { stdio: ['ignore', 'pipe', 'inherit'] });
const port = await withDeadline(new Promise((resolve, reject) => {
  let out = '';
  node.stdout.on('data', (d) => {
    out += d;
    const m = out.match(/127\.0\.0\.1:(\d+)/);
    if (m) resolve(Number(m[1]));
  });
  node.on('exit', (code) => reject(new Error(`actr node exited (${code})`)));
}), 'actr node listening');
process.on('exit', () => node.kill('SIGKILL'));  // never leave the node behind, whatever happens
const url = `ws://127.0.0.1:${port}/any/path`;

// A connection with a queue of inbound frames.
async function connect(headers = { 'X-Actr-Source-ID': sourceHex }) {
  const ws = new WebSocket(url, { headers });
  const inbox = [];
  const waiters = [];
  ws.on('message', (data, isBinary) => {
    const f = { ...unframe(Buffer.from(data)), isBinary };
    const w = waiters.shift();
    if (w) w(f); else inbox.push(f);
  });
  await withDeadline(once(ws, 'open'), 'open');
  ws.next = () => withDeadline(new Promise((r) => { const f = inbox.shift(); if (f) r(f); else waiters.push(r); }), 'frame');
  return ws;
}

let seq = 0;
const request = (routeKey, payload) => RpcEnvelope.encode(RpcEnvelope.create({
  routeKey, payload, requestId: `npm-${++seq}`, timeoutMs: 5000, direction: Direction.DIRECTION_REQUEST,
})).finish();

try {
  const ws = await connect();

  // Requests on both RPC classes come back as RESPONSEs with the same request id and payload.
  for (const [name, type] of [['RPC_RELIABLE', PT.RPC_RELIABLE], ['RPC_SIGNAL', PT.RPC_SIGNAL]]) {
    const payload = Buffer.from(`hello over ${name}`);
    ws.send(frame(type, request('interop.Echo', payload)));
    const f = await ws.next();
    const env = RpcEnvelope.decode(f.body);
    check(f.isBinary && f.type === type && f.len === f.body.length, `${name}: binary frame, same class, exact length`);
    check(env.direction === Direction.DIRECTION_RESPONSE && env.requestId === `npm-${seq}`, `${name}: RESPONSE to npm-${seq}`);
    check(Buffer.from(env.payload).equals(payload), `${name}: payload echoed`);
  }

  // A tell and stream chunks on both stream classes are counted by the node (read back via actr.stats).
  ws.send(frame(PT.RPC_RELIABLE, RpcEnvelope.encode(RpcEnvelope.create({
    routeKey: 'interop.Log', payload: Buffer.from('tell'), requestId: 'npm-tell', timeoutMs: 0, direction: Direction.DIRECTION_TELL,
  })).finish()));
  for (const type of [PT.STREAM_RELIABLE, PT.STREAM_LATENCY_FIRST]) {
    ws.send(frame(type, DataStream.encode(DataStream.create({ streamId: 'npm', sequence: 1, payload: Buffer.from('chunk') })).finish()));
  }
  // Each class has its own queue and worker, and nothing orders one class after another: the
  // chunks may be counted after a later stats request is answered. So ask until all three are
  // counted, each ask a round trip, for at most 5 s.
  const delivered = (s) => s.tell === 1 && s.STREAM_RELIABLE === 1 && s.STREAM_LATENCY_FIRST === 1;
  let stats = {};
  for (const until = Date.now() + 5000; !delivered(stats) && Date.now() < until;) {
    ws.send(frame(PT.RPC_RELIABLE, request('actr.stats', Buffer.alloc(0))));
    stats = JSON.parse(Buffer.from(RpcEnvelope.decode((await ws.next()).body).payload).toString());
  }
  check(delivered(stats), `tell and both stream classes delivered (${JSON.stringify(stats)})`);

  // Bad input closes only that connection, with a policy-violation close code.
  const bad = [
    ['unknown frame type', frame(9, Buffer.from('x'))],
    ['length mismatch', (() => { const b = frame(PT.RPC_RELIABLE, Buffer.from('abc')); b.writeUInt32BE(7, 1); return b; })()],
    ['short header', Buffer.from([0, 0, 0])],
    ['text frame', 'not binary'],
  ];
  for (const [what, bytes] of bad) {
    const victim = await connect();
    victim.send(bytes);
    const [code] = await withDeadline(once(victim, 'close'), `close after ${what}`);
    check(code === 1008, `${what}: that connection closed with 1008 (got ${code})`);
  }

  // A well-framed message whose protobuf does not decode costs only itself: the connection that
  // carried it keeps serving (reference §6.5).
  {
    const c = await connect();
    c.send(frame(PT.RPC_RELIABLE, Buffer.from([0xff, 0xff, 0xff, 0xff])));
    c.send(frame(PT.RPC_RELIABLE, request('interop.Echo', Buffer.from('after garbage'))));
    const answer = await withDeadline(c.next(), 'answer after bad protobuf');
    check(Buffer.from(RpcEnvelope.decode(answer.body).payload).toString() === 'after garbage',
          'bad protobuf: dropped, and the same connection answers the next request');
    c.close();
  }

  // One id on several connections (issue 9): every answer goes back on the connection that asked.
  const idHex = (serial) => Buffer.from(ActrId.encode(ActrId.create({ ...myId, serialNumber: serial })).finish()).toString('hex');
  const echoOn = async (c, text) => {
    c.send(frame(PT.RPC_RELIABLE, request('interop.Echo', Buffer.from(text))));
    try {
      return Buffer.from(RpcEnvelope.decode((await c.next()).body).payload).toString();
    } catch (e) {
      return e.message;
    }
  };
  // Closes and reopens with the same id; the first call on the new connection is answered on it.
  for (const [i, gap] of [[0, 0], [1, 10], [2, 500]]) {
    const headers = { 'X-Actr-Source-ID': idHex(0x100 + i) };
    const before = await connect(headers);
    check(await echoOn(before, 'before') === 'before', `reconnect after ${gap} ms: first connection answered`);
    before.close();
    if (gap > 0) {
      await withDeadline(once(before, 'close'), 'close');
      await new Promise((r) => setTimeout(r, gap));  // the scenario's gap, not a wait for an event
    }
    const after = await connect(headers);
    const got = await echoOn(after, 'after');
    check(got === 'after', `reconnect after ${gap} ms: first call on the new connection answered on it (${got})`);
    after.close();
  }
  // Two live connections of one id: each gets its own answers; the second is still served once
  // the first has closed.
  {
    const headers = { 'X-Actr-Source-ID': idHex(0x200) };
    const x = await connect(headers);
    const y = await connect(headers);
    const gy = await echoOn(y, 'to y');
    check(gy === 'to y', `two connections: the newer one's answer on it (${gy})`);
    const gx = await echoOn(x, 'to x');
    check(gx === 'to x', `two connections: the older one's answer on it (${gx})`);
    x.close();
    await withDeadline(once(x, 'close'), 'close');
    const gy2 = await echoOn(y, 'to y again');
    check(gy2 === 'to y again', `two connections: the newer one still answered after the older closed (${gy2})`);
    y.close();
  }

  // A missing or malformed source id is refused at the upgrade (HTTP 400).
  for (const [what, headers] of [['missing X-Actr-Source-ID', {}], ['malformed X-Actr-Source-ID', { 'X-Actr-Source-ID': 'zz' }]]) {
    const ws2 = new WebSocket(url, { headers });
    ws2.on('error', () => {});  // the refused upgrade also surfaces as an error; expected here
    const [, res] = await withDeadline(once(ws2, 'unexpected-response'), what);
    check(res.statusCode === 400, `${what}: HTTP ${res.statusCode}`);
    ws2.terminate();
  }

  // The first connection was never disturbed.
  ws.send(frame(PT.RPC_RELIABLE, request('interop.Echo', Buffer.from('still here'))));
  check(Buffer.from(RpcEnvelope.decode((await ws.next()).body).payload).toString() === 'still here', 'first connection still served');
  ws.close();
} catch (e) {
  check(false, e.message);
} finally {
  node.kill('SIGTERM');
  await withDeadline(once(node, 'exit'), 'actr node exit').catch(() => node.kill('SIGKILL'));
}
console.log(failures === 0 ? 'interop: all checks passed' : `interop: ${failures} check(s) failed`);
process.exit(failures === 0 ? 0 : 1);
