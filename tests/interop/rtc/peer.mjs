// An actr peer built on libdatachannel (npm node-datachannel), written from the protocol docs
// (docs/signaling.md, docs/webrtc.md, proto/*.proto, reference §12), not from our C++ code:
//   * Signaling: a client of `actr signal` over npm `ws` (one binary frame = one SignalingEnvelope v2);
//   * Connection: one libdatachannel PeerConnection with the four labelled DataChannels and actr's
//     8-byte fragment framing ([u32 BE msg_id][u16 BE index][u16 BE total] + payload, <= 65,535 B);
//   * Caller: RPC calls matched by request_id (a UUID, as actr) across every connection of the peer,
//     so a response that arrives on another connection than its request is seen as such.
import crypto from 'node:crypto';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import ndc from 'node-datachannel';
import protobuf from 'protobufjs';
import WebSocket from 'ws';
import { Lane, deferred } from './framing.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));

export const LANES = ['RPC_RELIABLE', 'RPC_SIGNAL', 'STREAM_RELIABLE', 'STREAM_LATENCY_FIRST'];
const CHANNEL_OPTIONS = {  // docs/webrtc.md: latency-first is unordered with at most 3 retransmits
  RPC_RELIABLE: {}, RPC_SIGNAL: {}, STREAM_RELIABLE: {}, STREAM_LATENCY_FIRST: { unordered: true, maxRetransmits: 3 },
};

export function withDeadline(promise, ms, what) {
  let timer;
  const deadline = new Promise((_, reject) => { timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms); });
  return Promise.race([promise, deadline]).finally(() => clearTimeout(timer));
}

// Items that wait for a reader: waitFor(match) takes the first matching item, now or when it comes.
class Mailbox {
  constructor() { this.items = []; this.waiters = []; }
  put(item) {
    const i = this.waiters.findIndex((w) => w.match(item));
    if (i >= 0) this.waiters.splice(i, 1)[0].resolve(item);
    else this.items.push(item);
  }
  waitFor(match, ms, what) {
    const i = this.items.findIndex(match);
    if (i >= 0) return Promise.resolve(this.items.splice(i, 1)[0]);
    const w = { match, ...deferred() };
    this.waiters.push(w);
    return withDeadline(w.promise, ms, what).finally(() => {
      const k = this.waiters.indexOf(w);
      if (k >= 0) this.waiters.splice(k, 1);
    });
  }
}

export async function loadSchemas() {
  // protobufjs picks up long.js (its own dependency) under Node: uint64 (serial numbers,
  // sdp_exchange_id) round-trips exactly.
  if (!protobuf.util.Long) throw new Error('protobufjs without long.js: uint64 would lose bits');
  const root = await protobuf.load([path.join(here, '../../../proto/signaling.proto'), path.join(here, '../../../proto/package.proto')]);
  return {
    SignalingEnvelope: root.lookupType('actr.pb.SignalingEnvelope'),
    RpcEnvelope: root.lookupType('actr.pb.RpcEnvelope'),
    Direction: root.lookupEnum('actr.pb.Direction').values,
    SdpType: root.lookupEnum('actr.pb.SessionDescription.Type').values,
  };
}

const ufragOf = (sdp) => (/^a=ice-ufrag:(\S+)/m.exec(sdp) || [])[1] || null;
const midOf = (sdp) => (/^a=mid:(\S+)/m.exec(sdp) || [])[1] || '0';
const same = (a, b) => a != null && b != null && a.toString() === b.toString();

// ---- signaling -------------------------------------------------------------------------------------
// Replies are matched by reply_for. Relayed WebRTC signals are routed: an ANSWER to the connection
// whose offer has that sdp_exchange_id, a candidate to the connection whose remote description has
// its username_fragment (kept aside until one claims it), an OFFER to the `offers` mailbox. Anything
// else the node sends (ICE restart offers and requests, unroutable signals) is logged in `events`.
export class Signaling {
  constructor(pb, url, log = () => {}) {
    Object.assign(this, { pb, url, log });
    this.seq = 0;
    this.replies = new Mailbox();
    this.offers = new Mailbox();
    this.connections = new Set();
    this.unclaimed = [];
    this.errors = [];
    this.events = [];
    this.heartbeat = null;
  }

  async open(ms) {
    this.ws = new WebSocket(this.url);
    this.ws.on('message', (data, isBinary) => this.dispatch(data, isBinary));
    this.ws.on('error', (e) => this.log(`signaling socket error: ${e.message}`));
    await withDeadline(new Promise((resolve, reject) => { this.ws.once('open', resolve); this.ws.once('error', reject); }), ms, 'signaling open');
  }

  dispatch(data, isBinary) {
    if (!isBinary) { this.errors.push({ code: -1, message: 'text frame' }); return; }
    const env = this.pb.SignalingEnvelope.decode(data);
    if (env.envelopeError) this.errors.push({ code: env.envelopeError.code, message: env.envelopeError.message, replyFor: env.replyFor });
    const r = env.actrRelay;
    if (r && !r.roleAssignment && !r.roleNegotiation) { this.route(r); return; }
    this.replies.put(env);
  }

  route(r) {
    const T = this.pb.SdpType;
    if (r.iceCandidate) {
      const c = r.iceCandidate;
      const conn = [...this.connections].find((k) => k.remoteUfrag && k.remoteUfrag === c.usernameFragment);
      if (conn) conn.addRemote(c);
      else if (this.unclaimed.length < 256) this.unclaimed.push(c);
    } else if (r.sessionDescription && r.sessionDescription.type === T.OFFER) {
      this.offers.put(r.sessionDescription);
    } else if (r.sessionDescription && r.sessionDescription.type === T.ANSWER) {
      const d = r.sessionDescription;
      const conn = [...this.connections].find((k) => k.answer && same(k.exchangeId, d.sdpExchangeId));
      if (conn) conn.answer.resolve(d);
      else this.events.push(`answer for no pending offer (exchange id ${d.sdpExchangeId})`);
    } else {
      const what = r.sessionDescription ? `session description of type ${r.sessionDescription.type}`
        : r.iceRestartRequest ? 'IceRestartRequest' : r.peerRestarted ? 'PeerRestarted' : 'relay without payload';
      this.events.push(what);
      this.log(`signaling: unexpected ${what}`);
    }
  }

  claim(conn) {
    const mine = this.unclaimed.filter((c) => c.usernameFragment === conn.remoteUfrag);
    this.unclaimed = this.unclaimed.filter((c) => c.usernameFragment !== conn.remoteUfrag);
    for (const c of mine) conn.addRemote(c);
  }

  send(flow) {
    const envelopeId = `ndc-${++this.seq}`;
    const msg = this.pb.SignalingEnvelope.fromObject({ envelopeVersion: 2, envelopeId, ...flow });
    this.ws.send(this.pb.SignalingEnvelope.encode(msg).finish());
    return envelopeId;
  }

  request(flow, ms, what) {
    const id = this.send(flow);
    return this.replies.waitFor((env) => env.replyFor === id, ms, what);
  }

  // Registers as a new process (no previous credential). ALREADY_REGISTERED means the server has
  // not yet seen our previous process's connection end: asked again until `ms` runs out.
  async register(actrId, ms) {
    const until = Date.now() + ms;
    for (let attempt = 1; ; attempt++) {
      const env = await this.request({ peerToServer: { registerRequest: { actrId } } }, Math.max(1, until - Date.now()), 'register response');
      const r = env.serverToActr && env.serverToActr.registerResponse;
      if (r && r.success) {
        this.id = actrId;
        this.credential = r.success.credential;
        const every = Math.max(200, Math.min(r.success.heartbeatIntervalMs, 2000));
        this.heartbeat = setInterval(() => {
          if (this.ws.readyState === WebSocket.OPEN) this.send({ actrToServer: { source: this.id, credential: this.credential, ping: { availability: 0, powerReserve: 1, mailboxBacklog: 0 } } });
        }, every);
        return { attempts: attempt };
      }
      const err = (r && r.error) || env.envelopeError;
      if (!err || err.code !== 8 || Date.now() > until) throw new Error(`registration refused: ${JSON.stringify(err)}`);
      await new Promise((res) => setTimeout(res, 50));  // retry pacing only, not a timing assumption
    }
  }

  async discoverUntilFound(target, ms) {
    const until = Date.now() + ms;
    for (;;) {
      const env = await this.request({ actrToServer: { source: this.id, credential: this.credential, locateRequest: { target } } },
        Math.max(1, until - Date.now()), 'discovery response');
      const d = env.serverToActr && env.serverToActr.locateResponse;
      if (d && d.success) return d.success.actrId;
      if (Date.now() > until) throw new Error('the node never appeared in discovery');
      await new Promise((res) => setTimeout(res, 100));  // polling pace
    }
  }

  relay(target, payload) {
    return this.send({ actrRelay: { source: this.id, credential: this.credential, target, ...payload } });
  }

  async negotiateRole(target, ms) {
    const env = await this.request({ actrRelay: { source: this.id, credential: this.credential, target,
      roleNegotiation: { from: this.id, to: target, realmId: this.id.realm.realmId } } }, ms, 'role assignment');
    if (env.envelopeError) throw new Error(`role negotiation refused: ${env.envelopeError.message}`);
    return env.actrRelay.roleAssignment.isOfferer;
  }

  close() { clearInterval(this.heartbeat); if (this.ws.readyState === WebSocket.OPEN) this.ws.close(1000); }
  // As if the process died: no unregister, no WebSocket close frame, just the TCP connection gone.
  drop() { clearInterval(this.heartbeat); this.ws.terminate(); }
}

// ---- one peer connection -------------------------------------------------------------------------
export class Connection {
  constructor(name, { pb, sig, target, caller, log }) {
    Object.assign(this, { name, pb, sig, target, caller, log });
    this.lanes = {};
    this.remoteUfrag = null;
    this.exchangeId = null;
    this.answer = null;
    this.localSent = false;
    this.localQueue = [];
    this.states = [];
    this.candidatesIn = [];
    this.remoteErrors = [];
    this.unknownChannels = [];
    this.localDescription = deferred();
    this.pc = new ndc.PeerConnection(name, { iceServers: [], bindAddress: '127.0.0.1', enableIceTcp: false, disableAutoNegotiation: true });
    this.pc.onLocalDescription((sdp, type) => this.localDescription.resolve({ sdp, type }));
    this.pc.onLocalCandidate((candidate, mid) => {
      const c = { candidate: candidate.replace(/^a=/, ''), mid };
      if (this.localSent) this.sendLocal(c); else this.localQueue.push(c);
    });
    this.dead = deferred();  // the peer connection closed, failed or lost its peer
    this.isDead = false;
    this.born = Date.now();
    this.pc.onStateChange((s) => {
      this.states.push(`${s}@${Date.now() - this.born}ms`);
      if (['closed', 'failed', 'disconnected'].includes(s)) { this.isDead = true; this.dead.resolve(); }
    });
    sig.connections.add(this);
  }

  sendLocal(c) {
    const ufrag = ufragOf(this.pc.localDescription().sdp);
    this.sig.relay(this.target, { iceCandidate: { candidate: c.candidate, sdpMid: c.mid, sdpMlineIndex: 0, usernameFragment: ufrag } });
  }

  localDescriptionSent() {
    this.localSent = true;
    for (const c of this.localQueue.splice(0)) this.sendLocal(c);
  }

  // A candidate of the node; the signaling routes only those whose ufrag matches our remote description.
  addRemote(c) {
    this.candidatesIn.push(c.candidate);
    try { this.pc.addRemoteCandidate(c.candidate, c.sdpMid || this.remoteMid); } catch (e) { this.remoteErrors.push(e.message); }
  }

  setRemote(sdp, type) {
    this.pc.setRemoteDescription(sdp, type);
    this.remoteUfrag = ufragOf(sdp);
    this.remoteMid = midOf(sdp);
    this.sig.claim(this);
  }

  adopt(dc) {
    if (!CHANNEL_OPTIONS[dc.getLabel()]) { this.unknownChannels.push(dc.getLabel()); return; }
    this.lanes[dc.getLabel()] = new Lane(dc, (label, bytes) => this.caller.deliver(this, label, bytes));
  }

  async allOpen(ms) {
    await withDeadline((async () => {
      while (Object.keys(this.lanes).length < 4) await this.laneAdded.promise.then(() => { this.laneAdded = deferred(); });
      await Promise.all(Object.values(this.lanes).map((l) => l.opened));
    })(), ms, `${this.name}: all four DataChannels open`);
    this.openAt = Date.now() - this.born;
  }

  // We offer: the four channels first, then a plain OFFER with a fresh exchange id (a UUID v4, as actr's).
  async offer(ms) {
    for (const label of LANES) this.adopt(this.pc.createDataChannel(label, CHANNEL_OPTIONS[label]));
    this.pc.setLocalDescription('offer');
    const { sdp } = await withDeadline(this.localDescription.promise, ms, `${this.name}: local offer`);
    this.exchangeId = crypto.randomUUID();
    this.answer = deferred();
    this.sig.relay(this.target, { sessionDescription: { type: this.pb.SdpType.OFFER, sdp, sdpExchangeId: this.exchangeId } });
    this.localDescriptionSent();
    const answer = await withDeadline(this.answer.promise, ms, `${this.name}: the node's answer`);
    this.setRemote(answer.sdp, 'answer');
    this.laneAdded = deferred();
    await this.allOpen(ms);
  }

  // The node offers (in-band channels): answer with its exchange id, map its channels by label.
  async acceptOffer(offer, ms) {
    this.laneAdded = deferred();
    this.pc.onDataChannel((dc) => { this.adopt(dc); this.laneAdded.resolve(); });
    this.exchangeId = offer.sdpExchangeId;
    this.setRemote(offer.sdp, 'offer');
    this.pc.setLocalDescription('answer');
    const { sdp } = await withDeadline(this.localDescription.promise, ms, `${this.name}: local answer`);
    this.sig.relay(this.target, { sessionDescription: { type: this.pb.SdpType.ANSWER, sdp, sdpExchangeId: offer.sdpExchangeId } });
    this.localDescriptionSent();
    await this.allOpen(ms);
  }

  // Resolves when the node has closed every channel of this connection, or the connection died.
  closedByPeer() {
    return Promise.race([Promise.all(Object.values(this.lanes).map((l) => l.closed.promise)), this.dead.promise]);
  }

  isOpen() { return !this.isDead && Object.values(this.lanes).every((l) => !l.isClosed); }
  // "pc-x: open@52ms; connecting@3ms → connected@40ms; channels closed: RPC_RELIABLE@5120ms ..." (from its creation)
  lifeline() {
    const closed = Object.values(this.lanes).filter((l) => l.isClosed).map((l) => `${l.label}@${l.closedAt - this.born}ms`);
    return `${this.name}: open@${this.openAt ?? '-'}ms; ${this.states.join(' → ')}; channels closed: ${closed.join(' ') || 'none'}`;
  }
  violations() { return Object.values(this.lanes).flatMap((l) => l.violations.map((v) => `${l.label}: ${v}`)); }
  close() { this.sig.connections.delete(this); try { this.pc.close(); } catch { /* already closed */ } }
}

// ---- RPC -----------------------------------------------------------------------------------------------
// One pending map for the peer (as actr's: a response completes its request whatever it came on).
export class Caller {
  constructor(pb, log = () => {}) {
    Object.assign(this, { pb, log });
    this.pending = new Map();
    this.strays = [];  // inbound messages that are no response to a pending call
  }

  deliver(conn, label, bytes) {
    let env;
    try { env = this.pb.RpcEnvelope.decode(bytes); } catch (e) { this.strays.push(`${conn.name}/${label}: undecodable ${bytes.length} B`); return; }
    const p = this.pending.get(env.requestId);
    if (!p || env.direction !== this.pb.Direction.DIRECTION_RESPONSE) {
      this.strays.push(`${conn.name}/${label}: ${env.direction} ${env.routeKey} ${env.requestId}`);
      return;
    }
    this.pending.delete(env.requestId);
    p.resolve({ env, via: conn.name, lane: label });
  }

  // One request, sent once (an actr caller does not re-send): answered within `ms` or not at all.
  async call(conn, lane, payload, ms) {
    const requestId = crypto.randomUUID();
    const env = this.pb.RpcEnvelope.fromObject({ routeKey: 'ndc.Echo', payload, requestId, timeoutMs: ms,
                                                 direction: this.pb.Direction.DIRECTION_REQUEST });
    const d = deferred();
    this.pending.set(requestId, d);
    const t0 = performance.now();
    try {
      conn.lanes[lane].send(Buffer.from(this.pb.RpcEnvelope.encode(env).finish()));
      const r = await withDeadline(d.promise, ms, `answer to ${lane} ${requestId}`);
      const ok = !r.env.error && Buffer.from(r.env.payload || []).equals(Buffer.from(payload));
      return { ok, answered: true, via: r.via, lane: r.lane, ms: Math.round(performance.now() - t0),
               error: r.env.error ? r.env.error.message : ok ? null : 'payload differs' };
    } catch (e) {
      return { ok: false, answered: false, ms: Math.round(performance.now() - t0), error: e.message };
    } finally {
      this.pending.delete(requestId);
    }
  }
}

export function pattern(n, seed) {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = (i * 131 + seed * 7 + (i >> 9)) & 0xff;
  return b;
}

export const shutdownStack = () => ndc.cleanup();

// Signaling up, registered as `me`, the node found in discovery: what every scenario starts with.
export async function join(pb, url, me, node, ms, log) {
  const sig = new Signaling(pb, url, log);
  await sig.open(ms);
  const reg = await sig.register(me, ms);
  const target = await sig.discoverUntilFound(node, ms);
  return { sig, target, registerAttempts: reg.attempts };
}

// Role from the server, then a connection in that role: our offer, or the node's offer answered.
export async function establish(name, { pb, sig, target, caller, log }, ms) {
  const isOfferer = await sig.negotiateRole(target, ms);
  const conn = new Connection(name, { pb, sig, target, caller, log });
  if (isOfferer) await conn.offer(ms);
  else await conn.acceptOffer(await sig.offers.waitFor(() => true, ms, `${name}: the node's offer`), ms);
  return { conn, isOfferer };
}
