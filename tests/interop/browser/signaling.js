// Browser side, part 1: the protobuf schemas and a client of `actr signal` (docs/signaling.md)
// written against the browser's own WebSocket. One binary frame = one SignalingEnvelope, version 2.
'use strict';

// Every wait in the page has a deadline: a promise that is not settled in time rejects with `what`.
function withDeadline(promise, ms, what) {
  let timer;
  const deadline = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
  });
  return Promise.race([promise, deadline]).finally(() => clearTimeout(timer));
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Loads the repository's .proto files (served from /proto/) with protobufjs' own parser.
async function loadSchemas() {
  protobuf.util.Long = Long;  // long.js: uint64 (serial numbers) round-trips exactly
  protobuf.configure();
  const root = await protobuf.load(['/proto/signaling.proto', '/proto/package.proto']);
  const t = (name) => root.lookupType(`actr.pb.${name}`);
  return {
    SignalingEnvelope: t('SignalingEnvelope'),
    RpcEnvelope: t('RpcEnvelope'),
    DataStream: t('DataStream'),
    Direction: root.lookupEnum('actr.pb.Direction').values,
    SdpType: root.lookupEnum('actr.pb.SessionDescription.Type').values,
  };
}

// A connection to the signaling server. Replies are matched by `reply_for`; relays of WebRTC
// signals (candidates, descriptions, restart requests) go to `onRelay`; every other inbound
// envelope waits in an inbox for `waitFor(predicate)`. Unsolicited errors are recorded.
class SignalingPeer {
  constructor(pb, url) {
    this.pb = pb;
    this.url = url;
    this.seq = 0;
    this.inbox = [];
    this.waiters = [];
    this.errors = [];  // envelope errors (code, message, reply_for) the server sent us
    this.onRelay = null;
    this.heartbeat = null;
  }

  async open(deadlineMs) {
    this.ws = new WebSocket(this.url);
    this.ws.binaryType = 'arraybuffer';
    this.ws.onmessage = (ev) => this.dispatch(ev.data);
    this.closed = new Promise((resolve) => { this.ws.onclose = (ev) => resolve(ev.code); });
    await withDeadline(new Promise((resolve, reject) => {
      this.ws.onopen = resolve;
      this.ws.onerror = () => reject(new Error(`WebSocket to ${this.url} failed`));
    }), deadlineMs, 'signaling WebSocket open');
  }

  dispatch(data) {
    if (!(data instanceof ArrayBuffer)) {
      this.errors.push({ code: -1, message: 'text frame from the server' });
      return;
    }
    const env = this.pb.SignalingEnvelope.decode(new Uint8Array(data));
    if (env.envelopeError) {
      this.errors.push({ code: env.envelopeError.code, message: env.envelopeError.message, replyFor: env.replyFor });
    }
    const relay = env.actrRelay;
    if (relay && (relay.iceCandidate || relay.sessionDescription || relay.iceRestartRequest) && this.onRelay) {
      this.onRelay(relay);
      return;
    }
    const i = this.waiters.findIndex((w) => w.match(env));
    if (i >= 0) this.waiters.splice(i, 1)[0].resolve(env);
    else this.inbox.push(env);
  }

  waitFor(match, deadlineMs, what) {
    const i = this.inbox.findIndex(match);
    if (i >= 0) return Promise.resolve(this.inbox.splice(i, 1)[0]);
    let waiter;
    const p = new Promise((resolve) => { waiter = { match, resolve }; this.waiters.push(waiter); });
    return withDeadline(p, deadlineMs, what).finally(() => {
      const k = this.waiters.indexOf(waiter);
      if (k >= 0) this.waiters.splice(k, 1);
    });
  }

  // Sends one envelope (`flow` is the oneof member, e.g. {actrRelay: {...}}); returns its id.
  send(flow) {
    const envelopeId = `browser-${++this.seq}`;
    const msg = this.pb.SignalingEnvelope.fromObject({ envelopeVersion: 2, envelopeId, ...flow });
    this.ws.send(this.pb.SignalingEnvelope.encode(msg).finish());
    return envelopeId;
  }

  request(flow, deadlineMs, what) {
    const id = this.send(flow);
    return this.waitFor((env) => env.replyFor === id, deadlineMs, what);
  }

  // Registers `actrId` and keeps the registration alive with Pings at the server's cadence.
  async register(actrId, deadlineMs) {
    const env = await this.request({ peerToServer: { registerRequest: { actrId } } }, deadlineMs, 'register response');
    const r = env.serverToActr && env.serverToActr.registerResponse;
    if (!r || !r.success) throw new Error(`registration refused: ${JSON.stringify(r && r.error)}`);
    this.id = actrId;
    this.credential = r.success.credential;
    const every = Math.max(200, Math.min(r.success.heartbeatIntervalMs, 2000));
    this.heartbeat = setInterval(() => {
      if (this.ws.readyState === WebSocket.OPEN) {
        this.send({ actrToServer: { source: this.id, credential: this.credential, ping: { availability: 0, powerReserve: 1, mailboxBacklog: 0 } } });
      }
    }, every);
    return r.success;
  }

  // Asks "where is `target`" until it is registered (the node registers asynchronously).
  async discoverUntilFound(target, deadlineMs) {
    const until = Date.now() + deadlineMs;
    for (;;) {
      const left = until - Date.now();
      if (left <= 0) throw new Error('timed out: the node never appeared in discovery');
      const env = await this.request(
        { actrToServer: { source: this.id, credential: this.credential, locateRequest: { target } } },
        left, 'discovery response');
      const d = env.serverToActr && env.serverToActr.locateResponse;
      if (d && d.success) return d.success;
      await sleep(100);
    }
  }

  relay(target, payload) {
    return this.send({ actrRelay: { source: this.id, credential: this.credential, target, ...payload } });
  }

  // RoleNegotiation through the server; resolves with the server's RoleAssignment for us.
  async negotiateRole(target, deadlineMs) {
    const env = await this.request(
      { actrRelay: { source: this.id, credential: this.credential, target,
                     roleNegotiation: { from: this.id, to: target, realmId: this.id.realm.realmId } } },
      deadlineMs, 'role assignment');
    if (env.envelopeError) throw new Error(`role negotiation refused: ${env.envelopeError.message}`);
    return env.actrRelay.roleAssignment;
  }

  close() {
    clearInterval(this.heartbeat);
    if (this.ws && this.ws.readyState === WebSocket.OPEN) this.ws.close(1000);
  }
}
