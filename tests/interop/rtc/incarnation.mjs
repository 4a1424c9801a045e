// One process of a peer that is about to be SIGKILLed (scenario "restart" of rtc_peer.mjs):
//   node incarnation.mjs SIGNAL_URL ME_JSON NODE_JSON
// Registers, sets up WebRTC with the node, has one call answered, prints "ready <role>" and then
// only keeps its registration alive (heartbeats) until it is killed. Any failure: "failed: ..." and exit 1.
import { Caller, establish, join, loadSchemas, pattern } from './peer.mjs';

const [url, me, node] = [process.argv[2], JSON.parse(process.argv[3]), JSON.parse(process.argv[4])];
const D = 20000;
const log = (m) => console.error(`[first process] ${m}`);
try {
  const pb = await loadSchemas();
  const { sig, target } = await join(pb, url, me, node, D, log);
  const caller = new Caller(pb, log);
  const { conn, isOfferer } = await establish('first-process', { pb, sig, target, caller, log }, D);
  const r = await caller.call(conn, 'RPC_RELIABLE', pattern(100, 1), 5000);
  if (!r.ok) throw new Error(`call before the kill: ${r.error}`);
  console.log(`ready ${isOfferer ? 'offerer' : 'answerer'} ${r.ms}`);
} catch (e) {
  console.log(`failed: ${e.message}`);
  process.exit(1);
}
