// The status page of `actr node --metrics` in a real browser. Headless Chromium (Debian's
// /usr/bin/chromium, driven by playwright-core) opens http://HOST:PORT/ of a node and this script
// waits on what the page shows, each wait with a deadline:
//   1. a caller (`actr call --signal`: a node that dials over WebRTC and WebSocket) appears as a
//      destination with its WebRTC wire ready;
//   2. the caller is SIGKILLed: the page shows its wires failing (WebSocket at once; the dead
//      WebRTC session once the caller is back);
//   3. the caller is started again with the same id: a new WebRTC session, ready again;
//   4. the node restarts on the same port: the page reconnects by itself.
//   node web_view.mjs /path/to/actr [screenshot.png]
// The screenshot (taken at the end) is docs/img/web-view.png when refreshed by hand.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { chromium } from 'playwright-core';

const actr = process.argv[2];
const SHOT = process.argv[3];
const CHROMIUM = process.env.ACTR_CHROMIUM || '/usr/bin/chromium';
const STEP_MS = 45000;    // one wait: a process start, a WebRTC set-up (ASan, GStreamer, 2 shared cores)
const TOTAL_MS = 200000;  // the whole test; below ctest's TIMEOUT
const NODE_ID = '1@101/acme:echo:1.0.0';
const CALLER_ID = 'c@101/acme:cli:1.0.0';
const LOG_LEVEL = process.env.ACTR_LOG_LEVEL || 'warn';

// Checks print one line each; any failure makes the exit code 1. Children are SIGKILLed on any
// way out; the whole test has a deadline of its own.
let failures = 0;
const check = (ok, what) => (console.log(`${ok ? 'ok  ' : 'FAIL'} ${what}`), failures += ok ? 0 : 1, ok);
const timeout = (ms, what) => new Promise((_, rej) => setTimeout(() => rej(new Error(`timed out: ${what}`)), ms).unref());
const withDeadline = (p, ms, what) => Promise.race([p, timeout(ms, what)]);
const children = [];
const alive = (c) => c.exitCode === null && c.signalCode === null;
process.on('exit', () => children.filter(alive).forEach((c) => c.kill('SIGKILL')));
['SIGINT', 'SIGTERM', 'SIGHUP'].forEach((sig) => process.on(sig, () => process.exit(1)));
timeout(TOTAL_MS, 'the whole test').catch((e) => { check(false, e.message); process.exit(1); });

// Starts `actr ARGS`; resolves with the process once every pattern of `ready` matched its stdout
// (the matches in order). Its stderr is passed through and kept.
async function start(name, args, ready = []) {
  const child = spawn(actr, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  child.stderrText = '';
  child.stderr.on('data', (d) => { child.stderrText += d; process.stderr.write(`[${name}] ${d}`); });
  const matches = await withDeadline(new Promise((resolve, reject) => {
    let out = '';
    const check_ = () => {
      const m = ready.map((re) => out.match(re));
      if (m.every(Boolean)) resolve(m);
    };
    child.stdout.on('data', (d) => { out += d; check_(); });
    child.on('exit', (code, signal) => reject(new Error(`${name} exited early (${code ?? signal})`)));
    check_();
  }), STEP_MS, `${name} ready`);
  return { child, matches };
}

// SIGTERM: the process must exit 0 within STEP_MS, without a sanitizer report.
async function stop(name, child) {
  if (!alive(child)) return;
  child.kill('SIGTERM');
  const how = await withDeadline(once(child, 'exit'), STEP_MS, `${name} exit`).catch((e) => [e.message]);
  if (alive(child)) child.kill('SIGKILL');
  check(how[0] === 0, `${name} exited cleanly on SIGTERM (${how.filter((x) => x !== null).join(' ')})`);
  check(!/ERROR: (Address|Leak)Sanitizer|runtime error:/.test(child.stderrText), `${name}: no sanitizer report`);
}

// What the page shows: the caller's row and its wire events (read from the DOM).
const row = (kind) => `tr[data-dest="${CALLER_ID}"] td[data-kind="${kind}"]`;
// Waits until `pred(events, x)` holds for the caller's events on the page (re-checked on every
// animation frame of the page); returns those events.
async function waitEvents(page, pred, x, what) {
  const handle = await withDeadline(page.waitForFunction(({ id, src, arg }) => {
    const ev = [...document.querySelectorAll('#events li')].filter((li) => li.dataset.peer === id)
      .map((li) => ({ kind: li.dataset.kind, state: li.dataset.state, session: Number(li.dataset.session) }));
    return (0, eval)(`(${src})`)(ev, arg) ? ev : null;
  }, { id: CALLER_ID, src: pred.toString(), arg: x }, { timeout: STEP_MS, polling: 'raf' }), STEP_MS + 1000, what);
  return handle.jsonValue();
}
const failed = (s) => ['closed', 'failed', 'disconnected'].includes(s);

let browser = null;
const procs = [];
try {
  const sig = await start('signal', ['--log-level', LOG_LEVEL, 'signal', '--listen', '127.0.0.1:0'], [/listening 127\.0\.0\.1:(\d+)/]);
  procs.push(['actr signal', sig.child]);
  const signalUrl = `ws://127.0.0.1:${sig.matches[0][1]}/`;
  const startNode = (metricsPort) => start('node', ['--log-level', LOG_LEVEL, 'node', '--id', NODE_ID, '--listen', '127.0.0.1:0',
                                                   '--echo', '--signal', signalUrl, '--wires', 'webrtc,ws', '--metrics', `127.0.0.1:${metricsPort}`],
    [/listening on (ws:\/\/127\.0\.0\.1:\d+\/)/, /metrics on http:\/\/127\.0\.0\.1:(\d+)\/metrics/, /registered with/]);
  let node = await startNode(0);
  procs.push(['actr node', node.child]);
  const nodeUrl = node.matches[0][1];
  const pageUrl = `http://127.0.0.1:${node.matches[1][1]}/`;
  const caller = () => start('caller', ['--log-level', LOG_LEVEL, 'call', '--id', CALLER_ID, '--to', NODE_ID, '--url', nodeUrl,
                                        '--signal', signalUrl, '--count', '1000000', '--interval-ms', '100', '--json']);

  browser = await withDeadline(chromium.launch({
    executablePath: CHROMIUM, headless: true, timeout: STEP_MS,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking',
           '--disable-component-update', '--disable-sync'],
  }), STEP_MS + 1000, 'chromium launch');
  const page = await browser.newPage({ viewport: { width: 1100, height: 720 } });
  page.on('pageerror', (e) => check(false, `page error: ${e.message}`));
  await page.goto(pageUrl, { timeout: STEP_MS });
  await page.waitForSelector('#conn.live', { timeout: STEP_MS });
  check(await page.textContent('#who') === `node ${NODE_ID}`, `the page names the node (${pageUrl})`);

  // 1. The caller appears, its WebRTC wire ready.
  let c = await caller();
  await page.waitForSelector(`${row('webrtc')}[data-state="ready"]`, { timeout: STEP_MS });
  check(true, 'the caller appears with its WebRTC wire ready');
  check(/RPC_RELIABLE/.test(await page.textContent(row('webrtc'))), 'RPC_RELIABLE routes on the WebRTC wire');
  const up = await waitEvents(page, (ev) => ev.some((e) => e.kind === 'webrtc' && e.state === 'connected'), null,
                              'WebRTC connected event');
  const first = up.find((e) => e.kind === 'webrtc' && e.state === 'connected').session;
  check(first > 0, `a "connected" WebRTC event, session ${first}`);

  // 2. The caller dies: its WebSocket wire fails at once.
  c.child.kill('SIGKILL');
  await once(c.child, 'exit');
  await waitEvents(page, (ev) => ev.some((e) => e.kind === 'websocket' && ['closed', 'failed', 'disconnected'].includes(e.state)),
                   null, 'WebSocket failure event');
  check(true, 'the page shows the WebSocket wire of the killed caller failing');

  // 3. Back with the same id: the dead WebRTC session is closed and a new one is ready.
  c = await caller();
  const back = await waitEvents(page, (ev, s1) => ev.some((e) => e.kind === 'webrtc' && e.state === 'connected' && e.session !== s1) &&
                                       ev.some((e) => e.kind === 'webrtc' && e.session === s1 && ['closed', 'failed', 'disconnected'].includes(e.state)),
                                first, 'WebRTC failure and recovery events');
  const lost = back.find((e) => e.kind === 'webrtc' && e.session === first && failed(e.state));
  const again = back.find((e) => e.kind === 'webrtc' && e.state === 'connected' && e.session !== first);
  check(true, `the page shows WebRTC session ${first} ${lost.state} and session ${again.session} connected`);
  await page.waitForSelector(`${row('webrtc')}[data-state="ready"]`, { timeout: STEP_MS });
  check(true, 'the caller\'s WebRTC wire is ready again');
  if (SHOT) {  // the page after a failure and a recovery: both wires ready, the events that led there
    await page.screenshot({ path: SHOT, fullPage: true });
    console.log(`screenshot: ${SHOT}`);
  }
  c.child.kill('SIGKILL');

  // 4. The node restarts on the same port: the page says it lost it, reconnects by itself and
  //    shows the new process (no destinations yet).
  await stop('actr node', node.child);
  await page.waitForSelector('#conn.down', { timeout: STEP_MS });
  check(true, 'the page shows the node gone');
  node = await startNode(node.matches[1][1]);
  procs[procs.length - 1] = ['actr node (restarted)', node.child];
  await page.waitForSelector('#conn.live', { timeout: STEP_MS });
  await page.waitForFunction(() => document.querySelectorAll('tr[data-dest]').length === 0, null, { timeout: STEP_MS });
  check(true, 'the page reconnected to the restarted node by itself and shows its (empty) state');
} catch (e) {
  check(false, e.stack || e.message);
} finally {
  if (browser) await withDeadline(browser.close(), STEP_MS, 'chromium close').catch((e) => check(false, e.message));
  for (const [name, child] of procs.reverse()) await stop(name, child);
}
console.log(failures === 0 ? 'web view: all checks passed' : `web view: ${failures} check(s) failed`);
process.exit(failures === 0 ? 0 : 1);
