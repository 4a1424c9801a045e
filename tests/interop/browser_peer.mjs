// Interop: a real browser as a WebRTC peer. Headless Chromium (Debian's /usr/bin/chromium, driven
// by playwright-core) loads a page served from 127.0.0.1 by this script. The page uses only the
// browser's own WebSocket and RTCPeerConnection (plus protobufjs) to register with `actr signal`,
// negotiate its role with an `actr node --echo`, open the four DataChannels, call and stream on
// them with actr's 8-byte fragment framing, and report back; this script asserts on the report.
//   node browser_peer.mjs /path/to/actr
// Scenarios: the browser as answerer (the node offers and creates the channels in-band), then a
// fresh page as offerer (the browser creates them). Exit code 0 only when every check passes.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const here = path.dirname(fileURLToPath(import.meta.url));
const actr = process.argv[2];
const CHROMIUM = process.env.ACTR_CHROMIUM || '/usr/bin/chromium';
const STEP_MS = 20000;       // any single wait (process start, page load, one signaling step, channels open)
const SCENARIO_MS = 120000;  // one whole scenario in the page (ASan build, 2 shared cores)
const TOTAL_MS = 200000;     // the whole test; below ctest's TIMEOUT
const NODE_ID = '5@101/acme:echo:1.0.0';  // serial 5: offers to serial 2, answers serial 9
const BIG = (3 << 19) + 3;   // 1.5 MiB + 3 bytes: 25 fragments each way
const LOG_LEVEL = process.env.ACTR_LOG_LEVEL || 'warn';  // of the actr processes

let failures = 0;
const check = (ok, what) => {
  console.log(`${ok ? 'ok  ' : 'FAIL'} ${what}`);
  if (!ok) failures++;
  return ok;
};
const withDeadline = (p, ms, what) => {
  let t;
  return Promise.race([p, new Promise((_, rej) => { t = setTimeout(() => rej(new Error(`timed out: ${what}`)), ms); })])
    .finally(() => clearTimeout(t));
};

// ---- child processes: every one is killed on any way out -------------------------------------
const children = [];
process.on('exit', () => { for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL'); });
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(sig, () => { console.log(`interrupted (${sig})`); process.exit(1); });
const watchdog = setTimeout(() => { console.log(`FAIL the whole test took over ${TOTAL_MS} ms`); process.exit(1); }, TOTAL_MS);
watchdog.unref();

// Starts `actr ARGS`; resolves with the process and the first stdout match of `ready`. Its stderr
// is passed through and kept, to look for sanitizer reports.
async function start(name, args, ready) {
  const child = spawn(actr, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  child.stderrText = '';
  child.stderr.on('data', (d) => { child.stderrText += d; process.stderr.write(`[${name}] ${d}`); });
  const m = await withDeadline(new Promise((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (d) => {
      out += d;
      const hit = out.match(ready);
      if (hit) resolve(hit);
    });
    child.on('exit', (code, signal) => reject(new Error(`${name} exited early (${code ?? signal})`)));
  }), STEP_MS, `${name} ready`);
  return { child, match: m };
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

// ---- the page's static files, from loopback -----------------------------------------------------
const files = {
  '/': 'browser/page.html',
  '/signaling.js': 'browser/signaling.js',
  '/datachannel.js': 'browser/datachannel.js',
  '/page.js': 'browser/page.js',
  '/lib/protobuf.min.js': 'node_modules/protobufjs/dist/protobuf.min.js',
  '/lib/long.js': 'node_modules/long/umd/index.js',
};
for (const p of ['actr', 'package', 'signaling', 'webrtc']) files[`/proto/${p}.proto`] = `../../proto/${p}.proto`;
const types = { '.html': 'text/html', '.js': 'text/javascript', '.proto': 'text/plain' };

async function serve() {
  const server = http.createServer((req, res) => {
    const rel = files[new URL(req.url, 'http://x').pathname];
    if (!rel) { res.writeHead(404).end(); return; }
    res.writeHead(200, { 'content-type': types[path.extname(rel)] || 'text/html', 'cache-control': 'no-store' });
    res.end(fs.readFileSync(path.join(here, rel)));
  });
  server.listen(0, '127.0.0.1');
  await withDeadline(once(server, 'listening'), STEP_MS, 'http server');
  return server;
}

// ---- assertions on one scenario's report ----------------------------------------------------------
function judge(R, role, chunks) {
  const tag = `[browser ${role}]`;
  console.log(`${tag} steps: ${R.steps.join(' | ')}`);
  if (!check(!R.error, `${tag} scenario ran to the end${R.error ? `: ${R.error}` : ''}`)) {
    console.log(`${tag} report: ${JSON.stringify(R)}`);
    return;
  }
  check(R.assignedOfferer === (role === 'offerer'), `${tag} the server assigned the browser the ${role} role`);
  check(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/.test(R.offer.exchangeId), `${tag} offer carries sdp_exchange_id ${R.offer.exchangeId}`);
  check(R.answer.exchangeId === R.offer.exchangeId, `${tag} the answer echoes sdp_exchange_id`);
  if (role === 'answerer') {
    check(R.offer.dataChannelMLine, `${tag} the node's offer has the webrtc-datachannel m-line`);
    check(R.unknownChannels.length === 0, `${tag} no channel with an unknown label (${R.unknownChannels})`);
  }
  const remote = R.ice.remote;
  check(remote.length >= 1 && remote.every((c) => c.ufrag && c.matchesDescription && c.mline === 0),
    `${tag} ${remote.length} node candidate(s), each with the username_fragment of its description and mline 0`);
  check(remote.every((c) => c.candidate.includes(' 127.0.0.1 ')), `${tag} node candidates are 127.0.0.1 only`);
  check(R.ice.remoteErrors.length === 0, `${tag} addIceCandidate accepted them (${R.ice.remoteErrors})`);
  check(R.ice.sent.length >= 1 && R.ice.sent.every((c) => c.ufrag && c.candidate.includes(' 127.0.0.1 ')),
    `${tag} browser trickled ${R.ice.sent.length} loopback candidate(s) with username_fragment (gathered: ${R.ice.gathered.join(', ')})`);
  console.log(`${tag} channels open in ${R.openMs} ms; selected pair ${JSON.stringify(R.selectedPair)}; ` +
              `sctp max-message-size ${R.sctpMaxMessageSize}`);

  const want = {
    RPC_RELIABLE: [true, null], RPC_SIGNAL: [true, null], STREAM_RELIABLE: [true, null], STREAM_LATENCY_FIRST: [false, 3],
  };
  for (const [label, [ordered, maxRetransmits]] of Object.entries(want)) {
    const c = R.channels[label];
    check(c && c.readyState === 'open' && c.ordered === ordered && c.maxRetransmits === maxRetransmits && !c.negotiated,
      `${tag} ${label}: open, in-band, ordered=${ordered}, maxRetransmits=${maxRetransmits} (${JSON.stringify(c)})`);
  }
  for (const r of R.rpc) {
    check(r.isResponse && r.sameRequestId && r.samePayload && !r.error,
      `${tag} ${r.lane} call of ${r.size} B: RESPONSE, same request_id and payload (${r.ms} ms)`);
    if (r.size > 65527) check(r.sentFragments === 2 && r.responseFragments === 2, `${tag} ${r.lane} ${r.size} B went as 2 fragments each way`);
  }
  check(R.rpc.filter((r) => r.lane === 'RPC_SIGNAL').length === 3, `${tag} three calls on RPC_SIGNAL`);
  const b = R.big;
  check(b.isResponse && b.sameRequestId && b.samePayload && !b.error && b.size >= 1 << 20,
    `${tag} ${b.size} B request echoed intact on RPC_RELIABLE (${b.ms} ms)`);
  check(b.sentFragments === Math.ceil(b.requestBytes / 65527), `${tag} the browser sent its ${b.requestBytes} B as ${b.sentFragments} fragments`);
  check(b.responseBytes > 1 << 20 && b.responseFragments === Math.ceil(b.responseBytes / 65527) && b.largestMessage === 65535,
    `${tag} the ${b.responseBytes} B response arrived as ${b.responseFragments} fragments of at most 65,535 B`);
  const n = R.nodeCounts;
  check(n.tell === 1, `${tag} the node counted the tell (${n.tell})`);
  check(n.STREAM_RELIABLE === chunks, `${tag} the node counted ${n.STREAM_RELIABLE}/${chunks} STREAM_RELIABLE chunks`);
  check(n.STREAM_LATENCY_FIRST >= 1 && n.STREAM_LATENCY_FIRST <= chunks,
    `${tag} the node counted ${n.STREAM_LATENCY_FIRST}/${chunks} STREAM_LATENCY_FIRST chunks (lossy lane: at least 1)`);
  check(Object.values(R.violations).every((v) => v.length === 0), `${tag} every inbound fragment well-formed (${JSON.stringify(R.violations)})`);
  check(R.textMessages === 0, `${tag} no text DataChannel messages`);
  check(R.closedEarly.length === 0, `${tag} no channel closed before the page closed it (${R.closedEarly})`);
  check(R.signalingErrors.length === 0, `${tag} no signaling error envelopes (${JSON.stringify(R.signalingErrors)})`);
}

// ---- the run ---------------------------------------------------------------------------------------
let browser = null;
let server = null;
const procs = [];
try {
  const sig = await start('signal', ['--log-level', LOG_LEVEL, 'signal', '--listen', '127.0.0.1:0'], /listening 127\.0\.0\.1:(\d+)/);
  procs.push(['actr signal', sig.child]);
  const signalUrl = `ws://127.0.0.1:${sig.match[1]}/`;
  const node = await start('node', ['--log-level', LOG_LEVEL, 'node', '--id', NODE_ID, '--listen', '127.0.0.1:0', '--echo',
                                    '--signal', signalUrl, '--wires', 'webrtc,ws'], /listening on ws:\/\/127\.0\.0\.1:(\d+)/);
  procs.push(['actr node', node.child]);
  server = await serve();
  const pageUrl = `http://127.0.0.1:${server.address().port}/`;

  browser = await withDeadline(chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    timeout: STEP_MS,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking',
           '--disable-component-update', '--disable-sync', '--disable-features=WebRtcHideLocalIpsWithMdns'],
  }), STEP_MS + 1000, 'chromium launch');
  console.log(`chromium ${browser.version()}; signaling ${signalUrl}; page ${pageUrl}`);

  const node_ = { realm: { realmId: 101 }, serialNumber: 5, type: { manufacturer: 'acme', name: 'echo', version: '1.0.0' } };
  const scenarios = [['answerer', 2], ['offerer', 9]];  // actrix's rule: the greater id offers
  for (const [role, serial] of scenarios) {
    const context = await browser.newContext();  // no permissions granted (docs/webrtc-interop.md §2)
    try {
      const page = await context.newPage();
      page.on('console', (m) => console.log(`[page ${role}] ${m.type()}: ${m.text()}`));
      page.on('pageerror', (e) => console.log(`[page ${role}] error: ${e.message}`));
      await page.goto(pageUrl, { timeout: STEP_MS });
      const cfg = {
        role, signalUrl, node: node_, stepDeadlineMs: STEP_MS, bigSize: BIG, chunks: 20,
        me: { realm: { realmId: 101 }, serialNumber: serial, type: { manufacturer: 'chromium', name: 'page', version: '1.0.0' } },
      };
      const R = await withDeadline(page.evaluate((c) => window.runScenario(c), cfg), SCENARIO_MS, `${role} scenario`);
      judge(R, role, cfg.chunks);
    } catch (e) {
      check(false, `[browser ${role}] ${e.message}`);
    } finally {
      await withDeadline(context.close(), STEP_MS, 'close page').catch((e) => check(false, e.message));
    }
  }
} catch (e) {
  check(false, e.stack || e.message);
} finally {
  if (browser) await withDeadline(browser.close(), STEP_MS, 'chromium close').catch((e) => check(false, e.message));
  if (server) server.close();
  // The node tears down the peer connection the page just closed gracefully (up to ~1.2 s), and
  // GStreamer's SCTP stack frees its socket a moment after that, on its own thread. A node
  // stopped in the middle of that (SIGTERM ~100 ms after the page closed) has been seen to exit
  // with an LSan report from libgstsctp (1 run in 12); let the teardown finish first.
  await new Promise((r) => setTimeout(r, 1500));
  for (const [name, child] of procs.reverse()) await stop(name, child);
}
console.log(failures === 0 ? 'browser interop: all checks passed' : `browser interop: ${failures} check(s) failed`);
process.exit(failures === 0 ? 0 : 1);
