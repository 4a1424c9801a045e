// Interop: an independent WebRTC stack as a peer of `actr node`. libdatachannel (npm
// node-datachannel: its prebuilt binary comes from the npm package @node-datachannel/linux-x64-gnu,
// no download from elsewhere) plus our own signaling client and framing in rtc/peer.mjs, written
// from docs/signaling.md, docs/webrtc.md and proto/*.proto, not from the C++ code.
//   node rtc_peer.mjs /path/to/actr
// Starts `actr signal` and `actr node --echo --signal ... --wires webrtc,ws` (id 5@101/...) and runs,
// each scenario with its own ActrId (the server makes the greater id the offerer, actrix's rule):
//   1. calls, peer as answerer (serial 2) and as offerer (serial 9): 20 on RPC_RELIABLE, 5 on RPC_SIGNAL;
//   2. a second peer connection (a plain offer) from the same id while the first is open: its calls
//      are answered on it, and the node closes the old one;
//   3. restart: a first process (rtc/incarnation.mjs) is SIGKILLed, a new one registers the same id
//      and sets up WebRTC again: its first call is answered (as offerer and as answerer);
//   4. a well-framed message whose protobuf does not decode, then a call on the same connection.
// Every call is sent once (an actr caller does not re-send) and must be answered within 5 s.
// Prints one line per check, a verdict per scenario, then "N passed, M failed"; exit 1 if any failed.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Caller, Connection, establish, join, loadSchemas, pattern, shutdownStack, withDeadline } from './rtc/peer.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const actr = process.argv[2];
const STEP_MS = 20000;   // any single set-up wait (process start, one signaling step, channels open)
const CALL_MS = 5000;    // an answer to one call
const CLOSE_MS = 10000;  // the node closing a connection it replaced
const TOTAL_MS = 220000; // the whole test; below ctest's TIMEOUT
const LOG_LEVEL = process.env.ACTR_LOG_LEVEL || 'warn';
const NODE_ID = '5@101/acme:echo:1.0.0';
const NODE = { realm: { realmId: 101 }, serialNumber: 5, type: { manufacturer: 'acme', name: 'echo', version: '1.0.0' } };
const peerId = (serial) => ({ realm: { realmId: 101 }, serialNumber: serial, type: { manufacturer: 'libdatachannel', name: 'peer', version: '0.24' } });

// ---- checks, grouped by scenario ------------------------------------------------------------------
const results = [];  // [name, failures]
let current = null;
const check = (ok, what) => {
  console.log(`${ok ? 'ok  ' : 'FAIL'} ${what}`);
  if (!ok && current) current.failures++;
  return ok;
};
const note = (what) => console.log(`     ${what}`);
const log = (m) => console.log(`     [peer] ${m}`);

async function scenario(name, body) {
  current = { name, failures: 0 };
  console.log(`--- ${name}`);
  const cleanup = [];
  try {
    await body(cleanup);
  } catch (e) {
    check(false, `${name}: ${e.message}`);
  } finally {
    for (const f of cleanup.reverse()) { try { f(); } catch { /* best effort */ } }
  }
  console.log(`=== ${name}: ${current.failures === 0 ? 'PASS' : 'FAIL'}`);
  results.push(current);
  current = null;
}

// ---- processes (every child is killed on any way out) ----------------------------------------------
const children = [];
process.on('exit', () => { for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL'); });
for (const s of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(s, () => { console.log(`interrupted (${s})`); process.exit(1); });
setTimeout(() => { console.log(`FAIL the whole test took over ${TOTAL_MS} ms`); process.exit(1); }, TOTAL_MS).unref();

// Starts `cmd args`; resolves with the process and the first stdout match of `ready`.
async function start(name, cmd, args, ready) {
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  child.stderrText = '';
  child.stderr.on('data', (d) => {
    child.stderrText += d;
    process.stderr.write(String(d).replace(/^(?=.)/gm, `[${name}] `));
  });
  const match = await withDeadline(new Promise((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (d) => {
      out += d;
      const hit = out.match(ready);
      if (hit) resolve(hit);
    });
    child.on('exit', (code, signal) => reject(new Error(`${name} exited early (${code ?? signal}); stdout: ${out.trim()}`)));
  }), STEP_MS, `${name} ready`);
  return { child, match };
}

async function stop(name, child) {
  if (!check(child.exitCode === null && child.signalCode === null, `${name} still running at the end`)) return;
  child.kill('SIGTERM');
  try {
    const [code, signal] = await withDeadline(once(child, 'exit'), STEP_MS, `${name} exit`);
    check(code === 0, `${name} exited cleanly on SIGTERM (${code ?? signal})`);
  } catch (e) {
    check(false, e.message);
    child.kill('SIGKILL');
  }
  check(!/ERROR: (Address|Leak)Sanitizer|runtime error:/.test(child.stderrText), `${name}: no sanitizer report`);
}

// ---- helpers for the scenarios -------------------------------------------------------------------------
// `count` calls on `lane` of `conn`, one after the other; a check per call unless `quiet`.
async function calls(caller, conn, lane, count, label, { sizes = [16, 300, 1000, 4000], quiet = false } = {}) {
  const tag = label ? `${label} ` : '';
  const out = [];
  for (let i = 0; i < count; i++) {
    const size = sizes[i % sizes.length];
    const r = await caller.call(conn, lane, pattern(size, i), CALL_MS);
    // actr answers on RPC_RELIABLE whatever the request's lane (reference §6, "responses out"), so
    // either lane is fine; the connection must be the request's.
    const good = r.ok && r.via === conn.name && (r.lane === lane || r.lane === 'RPC_RELIABLE');
    if (!quiet || !good) {
      check(good, `${tag}${lane} call ${i + 1}/${count} (${size} B): ${r.answered ? `answered on ${r.via}/${r.lane} in ${r.ms} ms` : 'no answer'}` +
        `${r.error ? ` — ${r.error}` : ''}`);
    }
    out.push(r);
  }
  if (quiet) note(`${tag}${out.filter((r) => r.ok).length}/${count} ${lane} calls answered on ${conn.name}`);
  return out;
}

function hygiene(sig, caller, conns) {
  for (const c of conns) {
    note(`${c.lifeline()}`);
    check(c.violations().length === 0, `${c.name}: every inbound fragment well-formed (${c.violations()})`);
    check(c.unknownChannels.length === 0, `${c.name}: no channel with an unknown label (${c.unknownChannels})`);
    check(c.remoteErrors.length === 0, `${c.name}: libdatachannel accepted the node's candidates (${c.remoteErrors})`);
    check(c.candidatesIn.length > 0 && c.candidatesIn.every((x) => x.includes(' 127.0.0.1 ')),
      `${c.name}: ${c.candidatesIn.length} node candidate(s), all 127.0.0.1`);
  }
  check(sig.errors.length === 0, `no signaling errors (${JSON.stringify(sig.errors)})`);
  if (sig.events.length) note(`other signals from the node: ${sig.events.join('; ')}`);
  if (sig.offers.items.length) note(`the node sent ${sig.offers.items.length} offer(s) that no connection took`);
  if (caller.strays.length) note(`messages that answered no pending call: ${caller.strays.join('; ')}`);
}

async function session(cleanup, serial, pb, url) {
  const s = await join(pb, url, peerId(serial), NODE, STEP_MS, log);
  cleanup.push(() => s.sig.close());
  return { pb, ...s, caller: new Caller(pb, log), log };
}

// ---- scenarios -----------------------------------------------------------------------------------------------
async function callsInRole(pb, url, role, serial) {
  await scenario(`1 calls, libdatachannel as ${role} (serial ${serial})`, async (cleanup) => {
    const ctx = await session(cleanup, serial, pb, url);
    const t0 = performance.now();
    const { conn, isOfferer } = await establish(`pc-${role}`, ctx, STEP_MS);
    cleanup.push(() => conn.close());
    check(isOfferer === (role === 'offerer'), `the server made us the ${role}`);
    note(`four channels open in ${Math.round(performance.now() - t0)} ms (incl. role negotiation)`);
    const rel = await calls(ctx.caller, conn, 'RPC_RELIABLE', 20, '', { sizes: [16, 64, 300, 1000, 4000, 100000] });
    const sigl = await calls(ctx.caller, conn, 'RPC_SIGNAL', 5, '');
    const ms = [...rel, ...sigl].filter((r) => r.ok).map((r) => r.ms).sort((a, b) => a - b);
    if (ms.length) note(`round trips: median ${ms[ms.length >> 1]} ms, max ${ms[ms.length - 1]} ms`);
    hygiene(ctx.sig, ctx.caller, [conn]);
  });
}

async function secondConnection(pb, url) {
  await scenario('2 a second peer connection (plain offer) from the same id', async (cleanup) => {
    const ctx = await session(cleanup, 7, pb, url);
    const { conn: first, isOfferer } = await establish('pc-first', ctx, STEP_MS);
    cleanup.push(() => first.close());
    check(isOfferer, 'the server made us the offerer');
    await calls(ctx.caller, first, 'RPC_RELIABLE', 3, '[first]', { quiet: true });
    const second = new Connection('pc-second', ctx);
    cleanup.push(() => second.close());
    await second.offer(STEP_MS);
    note('the second connection is open (all four channels)');
    const firstClosed = first.closedByPeer();
    const rs = await calls(ctx.caller, second, 'RPC_RELIABLE', 5, '[second]');
    await calls(ctx.caller, second, 'RPC_SIGNAL', 2, '[second]');
    note(`answers to calls on the second connection: ${rs.filter((r) => r.via === 'pc-second').length} on it, ` +
         `${rs.filter((r) => r.via === 'pc-first').length} on the first, ${rs.filter((r) => !r.answered).length} none`);
    let closed = !first.isOpen();
    if (!closed) closed = await withDeadline(firstClosed, CLOSE_MS, 'first closed').then(() => true, () => false);
    check(closed, `the node closed the first connection once the second was up (within ${CLOSE_MS} ms; ` +
                  `first connection states: ${first.states.join(' → ')})`);
    check(second.isOpen(), 'the second connection is still open');
    hygiene(ctx.sig, ctx.caller, [first, second]);
  });
}

async function restart(pb, url, role, serial) {
  await scenario(`3 restart: a new process under the same id, libdatachannel as ${role} (serial ${serial})`, async (cleanup) => {
    const first = await start('first process', process.execPath,
      [path.join(here, 'rtc/incarnation.mjs'), url, JSON.stringify(peerId(serial)), JSON.stringify(NODE)], /ready (\w+) (\d+)|failed: .*/);
    cleanup.push(() => first.child.kill('SIGKILL'));
    if (!check(first.match[1] === role, `first process: WebRTC up as ${role}, one call answered (${first.match[0]})`)) return;
    first.child.kill('SIGKILL');  // no goodbye: its signaling socket and peer connection just vanish
    await withDeadline(once(first.child, 'exit'), STEP_MS, 'first process killed');
    note('first process SIGKILLed');

    const ctx = await session(cleanup, serial, pb, url);
    note(`registered again as a new process (${ctx.registerAttempts} attempt(s))`);
    const { conn } = await establish('pc-restarted', ctx, STEP_MS);
    cleanup.push(() => conn.close());
    note('WebRTC up again');
    const [r] = await calls(ctx.caller, conn, 'RPC_RELIABLE', 1, '[first call after the restart]');
    if (!r.ok) note('(not re-sent: an actr caller does not re-send)');
    await calls(ctx.caller, conn, 'RPC_RELIABLE', 4, '[later calls]');
    hygiene(ctx.sig, ctx.caller, [conn]);
  });
}

// The last scenario leaves its connection open: the node is stopped with a live peer connection
// (its SIGTERM path closes it), not while it is still tearing down one we just closed.
const afterStop = [];

async function undecodable(pb, url) {
  await scenario('4 a well-framed message that does not decode, then a call on the same connection', async (cleanup) => {
    const ctx = await session(afterStop, 7, pb, url);
    const { conn } = await establish('pc-garbage', ctx, STEP_MS);
    afterStop.push(() => conn.close());
    await calls(ctx.caller, conn, 'RPC_RELIABLE', 2, '[before]', { quiet: true });
    // Field 1 with wire type 7 (no such type), then noise: no protobuf parser accepts it.
    const garbage = Buffer.concat([Buffer.from([0x0f, 0xff, 0xff, 0xff]), pattern(60, 3)]);
    let decodes = true;
    try { pb.RpcEnvelope.decode(garbage); } catch { decodes = false; }
    check(!decodes, 'the garbage does not decode as an RpcEnvelope (protobufjs)');
    conn.lanes.RPC_RELIABLE.send(garbage);
    note(`sent ${garbage.length} B of garbage as one well-formed fragment on RPC_RELIABLE`);
    await calls(ctx.caller, conn, 'RPC_RELIABLE', 3, '[after]');
    check(conn.isOpen(), `the connection is still open (states: ${conn.states.join(' → ')})`);
    hygiene(ctx.sig, ctx.caller, [conn]);
  });
}

// ---- the run -------------------------------------------------------------------------------------------------
const procs = [];
try {
  const pb = await loadSchemas();
  const sig = await start('signal', actr, ['--log-level', LOG_LEVEL, 'signal', '--listen', '127.0.0.1:0'], /listening 127\.0\.0\.1:(\d+)/);
  procs.push(['actr signal', sig.child]);
  const url = `ws://127.0.0.1:${sig.match[1]}/`;
  const node = await start('node', actr, ['--log-level', LOG_LEVEL, 'node', '--id', NODE_ID, '--listen', '127.0.0.1:0', '--echo',
                                          '--signal', url, '--wires', 'webrtc,ws'], /listening on ws:\/\/127\.0\.0\.1:(\d+)/);
  procs.push(['actr node', node.child]);
  console.log(`signaling ${url}; node ${NODE_ID}`);

  await callsInRole(pb, url, 'answerer', 2);
  await callsInRole(pb, url, 'offerer', 9);
  await secondConnection(pb, url);
  await restart(pb, url, 'offerer', 8);
  await restart(pb, url, 'answerer', 4);
  await undecodable(pb, url);
} catch (e) {
  results.push({ name: `set-up: ${e.message}`, failures: 1 });
  console.log(`FAIL set-up: ${e.stack || e.message}`);
} finally {
  current = { name: 'processes exit cleanly', failures: 0 };
  for (const [name, child] of procs.reverse()) await stop(name, child);
  results.push(current);
  for (const f of afterStop.reverse()) { try { f(); } catch { /* best effort */ } }
  shutdownStack();
}
const failed = results.filter((r) => r.failures > 0);
console.log('--- summary');
for (const r of results) console.log(`${r.failures === 0 ? 'PASS' : 'FAIL'} ${r.name}`);
console.log(`${results.length - failed.length} passed, ${failed.length} failed`);
process.exit(failed.length === 0 ? 0 : 1);
