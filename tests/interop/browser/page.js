// Browser side, part 3: one scenario, run by the test through page.evaluate(runScenario(cfg)).
// Registers with `actr signal`, negotiates the role with the node, sets up an RTCPeerConnection
// (answerer: the node offers and creates the four channels in-band; offerer: we do), then makes
// RPC calls on both RPC lanes, sends a >= 1 MiB request whose echo comes back fragmented, sends
// stream chunks on both stream lanes and reads the node's counters back. Returns plain data: the
// test (browser_peer.mjs) asserts on it. Nothing here throws past runScenario.
'use strict';

const CHANNEL_OPTIONS = {
  RPC_RELIABLE: { ordered: true },
  RPC_SIGNAL: { ordered: true },
  STREAM_RELIABLE: { ordered: true },
  STREAM_LATENCY_FIRST: { ordered: false, maxRetransmits: 3 },
};

const iceUfrag = (sdp) => (/^a=ice-ufrag:(\S+)/m.exec(sdp) || [])[1];
const equalBytes = (a, b) => a.length === b.length && a.every((x, i) => x === b[i]);

function pattern(n, seed) {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = (i * 131 + seed * 7 + (i >> 9)) & 0xff;
  return b;
}

// ICE for one peer connection: remote candidates wait for the remote description and are checked
// against its ufrag; local ones wait until our description has been sent.
class Ice {
  constructor(pc, sig, target, R) {
    Object.assign(this, { pc, sig, target, R });
    this.remoteUfrag = null;
    this.early = [];
    this.localReady = false;
    this.localQueue = [];
    R.ice = { remote: [], remoteStale: 0, remoteErrors: [], gathered: [], sent: [] };
    pc.onicecandidate = (ev) => {
      if (!ev.candidate || !ev.candidate.candidate) return;  // end of gathering is not signalled
      const c = ev.candidate;
      R.ice.gathered.push(`${c.protocol} ${c.address} ${c.type}`);
      const out = this.forLoopback(c);
      if (!out) return;
      if (this.localReady) this.sendLocal(out); else this.localQueue.push(out);
    };
  }

  // Only loopback is ever signalled (docs/webrtc-interop.md). Without media permission Chromium
  // binds its UDP sockets to the wildcard address and advertises the host's interface address;
  // the same port is reachable on 127.0.0.1, so a UDP IPv4 host candidate is advertised as
  // 127.0.0.1 with its port. Everything else (mDNS names, IPv6, TCP) stays private.
  forLoopback(c) {
    if (c.protocol !== 'udp' || c.type !== 'host' || !/^\d+\.\d+\.\d+\.\d+$/.test(c.address || '')) return null;
    const parts = c.candidate.split(' ');  // candidate:F C udp PRIO ADDR PORT typ host ...
    parts[4] = '127.0.0.1';
    return { candidate: parts.join(' '), sdpMid: c.sdpMid, sdpMLineIndex: c.sdpMLineIndex, usernameFragment: c.usernameFragment };
  }

  sendLocal(c) {
    this.R.ice.sent.push({ candidate: c.candidate, ufrag: c.usernameFragment });
    this.sig.relay(this.target, { iceCandidate: {
      candidate: c.candidate, sdpMid: c.sdpMid || undefined, sdpMlineIndex: c.sdpMLineIndex, usernameFragment: c.usernameFragment,
    } });
  }

  localDescriptionSent() {
    this.localReady = true;
    for (const c of this.localQueue.splice(0)) this.sendLocal(c);
  }

  async remoteDescriptionSet(sdp) {
    this.remoteUfrag = iceUfrag(sdp);
    for (const c of this.early.splice(0)) await this.addRemote(c);
  }

  async addRemote(c) {
    if (this.remoteUfrag === null) { this.early.push(c); return; }
    this.R.ice.remote.push({ candidate: c.candidate, ufrag: c.usernameFragment, mline: c.sdpMlineIndex,
                             matchesDescription: c.usernameFragment === this.remoteUfrag });
    if (c.usernameFragment !== this.remoteUfrag) { this.R.ice.remoteStale++; return; }
    try {
      await this.pc.addIceCandidate({ candidate: c.candidate, sdpMLineIndex: c.sdpMlineIndex ?? 0,
                                      usernameFragment: c.usernameFragment });
    } catch (e) {
      this.R.ice.remoteErrors.push(`${c.candidate}: ${e.message}`);
    }
  }
}

// RPC and streams over the four lanes (envelopes are bare protobuf; the lane is the class).
class Peer {
  constructor(pb, lanes, D) { Object.assign(this, { pb, lanes, D }); this.seq = 0; }

  async call(lane, routeKey, payload, timeoutMs = 10000) {
    const { RpcEnvelope, Direction } = this.pb;
    const requestId = `browser-${lane}-${++this.seq}`;
    const env = RpcEnvelope.fromObject({ routeKey, payload, requestId, timeoutMs, direction: Direction.DIRECTION_REQUEST });
    const t0 = performance.now();
    const request = RpcEnvelope.encode(env).finish();
    const sentFragments = await this.lanes[lane].send(request, this.D);
    // actr answers every request on RPC_RELIABLE, whichever RPC lane carried it (as actr HEAD).
    const msg = await this.lanes.RPC_RELIABLE.next(Math.max(this.D, timeoutMs), `response to ${requestId}`);
    const resp = RpcEnvelope.decode(msg.bytes);
    return {
      lane, requestId, size: payload.length, requestBytes: request.length, sentFragments, ms: Math.round(performance.now() - t0),
      responseFragments: msg.fragments, responseBytes: msg.bytes.length, largestMessage: msg.largest,
      isResponse: resp.direction === Direction.DIRECTION_RESPONSE, sameRequestId: resp.requestId === requestId,
      samePayload: equalBytes(resp.payload, payload), error: resp.error ? resp.error.message : null, payload: resp.payload,
    };
  }

  tell(routeKey, payload) {
    const { RpcEnvelope, Direction } = this.pb;
    const env = RpcEnvelope.fromObject({ routeKey, payload, requestId: `browser-tell-${++this.seq}`, timeoutMs: 0,
                                         direction: Direction.DIRECTION_TELL });
    return this.lanes.RPC_RELIABLE.send(RpcEnvelope.encode(env).finish(), this.D);
  }

  chunk(lane, streamId, sequence, payload) {
    const { DataStream } = this.pb;
    return this.lanes[lane].send(DataStream.encode(DataStream.fromObject({ streamId, sequence, payload })).finish(), this.D);
  }

  async stats() {
    const r = await this.call('RPC_RELIABLE', 'actr.stats', new Uint8Array(0));
    return JSON.parse(new TextDecoder().decode(r.payload));
  }
}

async function selectedPair(pc) {
  const stats = await pc.getStats();
  let pair = null;
  stats.forEach((s) => { if (s.type === 'transport' && s.selectedCandidatePairId) pair = stats.get(s.selectedCandidatePairId); });
  if (!pair) return null;
  const side = (id) => { const c = stats.get(id); return c && `${c.candidateType} ${c.address || '?'}:${c.port}`; };
  return { local: side(pair.localCandidateId), remote: side(pair.remoteCandidateId) };
}

async function negotiateAsAnswerer(pc, sig, ice, pb, R, D, descriptions) {
  const lanes = {};
  R.unknownChannels = [];
  pc.ondatachannel = (ev) => {
    if (CHANNEL_OPTIONS[ev.channel.label]) lanes[ev.channel.label] = new Lane(ev.channel);
    else R.unknownChannels.push(ev.channel.label);
  };
  const offer = await descriptions.next(D, 'the node\'s offer');
  R.offer = { type: offer.type, exchangeId: offer.sdpExchangeId.toString(),
              dataChannelMLine: /^m=application \d+ UDP\/DTLS\/SCTP webrtc-datachannel/m.test(offer.sdp) };
  if (offer.type !== pb.SdpType.OFFER) throw new Error(`expected an OFFER, got type ${offer.type}`);
  await pc.setRemoteDescription({ type: 'offer', sdp: offer.sdp });
  await ice.remoteDescriptionSet(offer.sdp);
  await pc.setLocalDescription(await pc.createAnswer());
  sig.relay(R.nodeTarget, { sessionDescription: { type: pb.SdpType.ANSWER, sdp: pc.localDescription.sdp,
                                                   sdpExchangeId: offer.sdpExchangeId } });
  R.answer = { exchangeId: offer.sdpExchangeId.toString() };
  ice.localDescriptionSent();
  await withDeadline((async () => {
    while (Object.keys(lanes).length < 4) await sleep(10);
    await Promise.all(Object.values(lanes).map((l) => l.opened));
  })(), D, 'all four DataChannels from the node open');
  return lanes;
}

async function negotiateAsOfferer(pc, sig, ice, pb, R, D, descriptions) {
  const lanes = {};
  for (const [label, opts] of Object.entries(CHANNEL_OPTIONS)) lanes[label] = new Lane(pc.createDataChannel(label, opts));
  await pc.setLocalDescription(await pc.createOffer());
  const exchangeId = crypto.randomUUID();  // a UUID v4, as actr's
  sig.relay(R.nodeTarget, { sessionDescription: { type: pb.SdpType.OFFER, sdp: pc.localDescription.sdp, sdpExchangeId: exchangeId } });
  R.offer = { exchangeId: exchangeId.toString() };
  ice.localDescriptionSent();
  const answer = await descriptions.next(D, 'the node\'s answer');
  R.answer = { type: answer.type, exchangeId: answer.sdpExchangeId.toString() };
  if (answer.type !== pb.SdpType.ANSWER) throw new Error(`expected an ANSWER, got type ${answer.type}`);
  await pc.setRemoteDescription({ type: 'answer', sdp: answer.sdp });
  await ice.remoteDescriptionSet(answer.sdp);
  await withDeadline(Promise.all(Object.values(lanes).map((l) => l.opened)), D, 'all four DataChannels open');
  return lanes;
}

async function exercise(peer, lanes, R, cfg) {
  R.channels = Object.fromEntries(Object.entries(lanes).map(([k, l]) => [k, l.describe()]));
  const before = await peer.stats();
  R.rpc = [];
  for (const lane of ['RPC_RELIABLE', 'RPC_SIGNAL']) {
    for (const size of [16, 1000, 100000]) {
      const r = await peer.call(lane, 'browser.Echo', pattern(size, R.rpc.length));
      delete r.payload;
      R.rpc.push(r);
    }
  }
  // The large one: fragmented by us on the way in, by the node on the way back.
  const big = await peer.call('RPC_RELIABLE', 'browser.Echo', pattern(cfg.bigSize, 99), 60000);
  delete big.payload;
  R.big = big;

  await peer.tell('browser.Log', new TextEncoder().encode('tell from the browser'));
  R.sentChunks = { STREAM_RELIABLE: 0, STREAM_LATENCY_FIRST: 0 };
  for (let i = 0; i < cfg.chunks; i++) {
    const size = i === 3 ? 150000 : 64 + i;  // one chunk needs three fragments
    await peer.chunk('STREAM_RELIABLE', 'browser-reliable', i, pattern(size, i));
    R.sentChunks.STREAM_RELIABLE++;
    await peer.chunk('STREAM_LATENCY_FIRST', 'browser-latency', i, pattern(32, i));
    R.sentChunks.STREAM_LATENCY_FIRST++;
  }
  // The counters live behind other queues than the RPC lane: poll until they settle or time out.
  const delta = (s, k) => (s[k] || 0) - (before[k] || 0);
  const until = Date.now() + 10000;
  let after = before;
  for (;;) {
    after = await peer.stats();
    const done = delta(after, 'tell') >= 1 && delta(after, 'STREAM_RELIABLE') >= cfg.chunks &&
                 delta(after, 'STREAM_LATENCY_FIRST') >= cfg.chunks;
    if (done || Date.now() > until) break;
    await sleep(50);
  }
  R.nodeCounts = { tell: delta(after, 'tell'), STREAM_RELIABLE: delta(after, 'STREAM_RELIABLE'),
                   STREAM_LATENCY_FIRST: delta(after, 'STREAM_LATENCY_FIRST') };
}

window.runScenario = async (cfg) => {
  const D = cfg.stepDeadlineMs;
  const R = { role: cfg.role, steps: [] };
  const t0 = performance.now();
  const step = (name) => R.steps.push(`${Math.round(performance.now() - t0)} ms ${name}`);
  let sig = null;
  let pc = null;
  let lanes = {};
  try {
    const pb = await loadSchemas();
    sig = new SignalingPeer(pb, cfg.signalUrl);
    await sig.open(D);
    const ok = await sig.register(cfg.me, D);
    R.registered = { serial: ok.actrId.serialNumber.toString(), heartbeatMs: ok.heartbeatIntervalMs, ttlMs: ok.registrationTtlMs };
    step('registered');
    const where = await sig.discoverUntilFound(cfg.node, D);
    R.nodeTarget = where.actrId;  // exactly as the node registered itself
    R.discovered = { id: where.actrId.toJSON(), wsAddress: where.wsAddress };
    step('node discovered');

    // Signals from the node: descriptions wait for their reader, candidates go to ICE.
    const descQueue = { items: [], waiter: null,
      next(ms, what) {
        if (this.items.length) return Promise.resolve(this.items.shift());
        return withDeadline(new Promise((r) => { this.waiter = r; }), ms, what);
      } };
    let ice = null;
    const earlyCandidates = [];
    R.restartRequests = 0;
    sig.onRelay = (relay) => {
      if (relay.sessionDescription) {
        if (descQueue.waiter) { const w = descQueue.waiter; descQueue.waiter = null; w(relay.sessionDescription); }
        else descQueue.items.push(relay.sessionDescription);
      } else if (relay.iceCandidate) {
        if (ice) ice.addRemote(relay.iceCandidate); else earlyCandidates.push(relay.iceCandidate);
      } else if (relay.iceRestartRequest) {
        R.restartRequests++;
      }
    };

    const role = await sig.negotiateRole(R.nodeTarget, D);
    R.assignedOfferer = role.isOfferer;
    step(`role assigned: ${role.isOfferer ? 'offerer' : 'answerer'}`);
    if (role.isOfferer !== (cfg.role === 'offerer')) throw new Error(`the server made us ${role.isOfferer ? 'offerer' : 'answerer'}`);

    pc = new RTCPeerConnection({ iceServers: [], bundlePolicy: 'max-bundle' });
    ice = new Ice(pc, sig, R.nodeTarget, R);
    for (const c of earlyCandidates.splice(0)) ice.addRemote(c);
    const negotiate = cfg.role === 'offerer' ? negotiateAsOfferer : negotiateAsAnswerer;
    const tOpen = performance.now();
    lanes = await negotiate(pc, sig, ice, pb, R, D, descQueue);
    R.openMs = Math.round(performance.now() - tOpen);
    step('four DataChannels open');
    R.selectedPair = await selectedPair(pc);
    R.sctpMaxMessageSize = pc.sctp ? pc.sctp.maxMessageSize : null;

    await exercise(new Peer(pb, lanes, D), lanes, R, cfg);
    step('exercised');
  } catch (e) {
    R.error = `${e.message}\n${e.stack || ''}`;
  } finally {
    R.violations = Object.fromEntries(Object.entries(lanes).map(([k, l]) => [k, l.rx.violations]));
    R.textMessages = Object.values(lanes).reduce((n, l) => n + l.textMessages, 0);
    R.closedEarly = Object.values(lanes).filter((l) => l.closedAt !== null).map((l) => l.ch.label);
    R.signalingErrors = sig ? sig.errors : [];
    R.connectionState = pc ? pc.connectionState : null;
    delete R.nodeTarget;  // a protobuf message: not for the report
    if (pc) pc.close();
    if (sig) sig.close();
    step('closed');
  }
  return R;
};
