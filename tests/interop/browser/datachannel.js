// Browser side, part 2: actr's DataChannel framing, written from the header layout in
// include/actr/dc_fragment.hpp, not from our C++ code: every DataChannel message is
//   [u32 BE msg_id][u16 BE frag_index][u16 BE total_frags] + payload,
// at most 65,535 bytes, so an application message above 65,527 bytes travels as several
// fragments, every one but the last full-size. Message ids are per channel.
'use strict';

const DC_MAX_MESSAGE = 65535;
const DC_HEADER = 8;
const DC_MAX_PAYLOAD = DC_MAX_MESSAGE - DC_HEADER;
const LANES = ['RPC_RELIABLE', 'RPC_SIGNAL', 'STREAM_RELIABLE', 'STREAM_LATENCY_FIRST'];

function fragment(msgId, bytes) {
  const total = Math.max(1, Math.ceil(bytes.length / DC_MAX_PAYLOAD));
  if (total > 65535) throw new Error('message too large for 65,535 fragments');
  const out = [];
  for (let i = 0; i < total; i++) {
    const part = bytes.subarray(i * DC_MAX_PAYLOAD, Math.min(bytes.length, (i + 1) * DC_MAX_PAYLOAD));
    const m = new Uint8Array(DC_HEADER + part.length);
    const v = new DataView(m.buffer);
    v.setUint32(0, msgId >>> 0);
    v.setUint16(4, i);
    v.setUint16(6, total);
    m.set(part, DC_HEADER);
    out.push(m);
  }
  return out;
}

// Reassembly of one channel's messages, strict like the spec: a fragment that is too short or
// too long, has total 0, index >= total, a total that changed, a duplicate index, or a short
// non-final part is recorded as a violation (the test asserts there are none).
class Reassembler {
  constructor() { this.pending = new Map(); this.violations = []; }

  feed(buf) {
    const m = new Uint8Array(buf);
    if (m.length < DC_HEADER || m.length > DC_MAX_MESSAGE) return this.bad(`message of ${m.length} bytes`);
    const v = new DataView(m.buffer, m.byteOffset, m.byteLength);
    const id = v.getUint32(0);
    const index = v.getUint16(4);
    const total = v.getUint16(6);
    if (total === 0 || index >= total) return this.bad(`index ${index} of total ${total}`);
    const payload = m.subarray(DC_HEADER);
    if (index + 1 < total && payload.length !== DC_MAX_PAYLOAD) return this.bad(`short non-final fragment ${payload.length}`);
    if (total === 1) return { bytes: payload.slice(), fragments: 1, largest: m.length };
    let p = this.pending.get(id);
    if (!p) { p = { total, parts: new Array(total), got: 0, largest: 0 }; this.pending.set(id, p); }
    if (p.total !== total || p.parts[index]) return this.bad(`msg ${id}: total changed or index ${index} twice`);
    p.parts[index] = payload.slice();
    p.got++;
    p.largest = Math.max(p.largest, m.length);
    if (p.got < total) return null;
    this.pending.delete(id);
    const size = p.parts.reduce((n, x) => n + x.length, 0);
    const bytes = new Uint8Array(size);
    let at = 0;
    for (const x of p.parts) { bytes.set(x, at); at += x.length; }
    return { bytes, fragments: total, largest: p.largest };
  }

  bad(what) { this.violations.push(what); return null; }
}

// One labelled DataChannel with actr framing on both directions. Received messages queue up for
// `next()`; `send()` fragments and waits for the channel's buffer to drain above 4 MiB.
class Lane {
  constructor(channel) {
    this.ch = channel;
    this.ch.binaryType = 'arraybuffer';
    this.ch.bufferedAmountLowThreshold = 1 << 20;
    this.nextId = 1;
    this.rx = new Reassembler();
    this.queue = [];
    this.waiters = [];
    this.fragmentsIn = 0;
    this.textMessages = 0;
    this.opened = channel.readyState === 'open'
      ? Promise.resolve()
      : new Promise((resolve) => channel.addEventListener('open', () => resolve(), { once: true }));
    this.closedAt = null;
    channel.addEventListener('close', () => { this.closedAt = Date.now(); });
    channel.addEventListener('message', (ev) => {
      if (typeof ev.data === 'string') { this.textMessages++; return; }
      this.fragmentsIn++;
      const msg = this.rx.feed(ev.data);
      if (!msg) return;
      const w = this.waiters.shift();
      if (w) w(msg); else this.queue.push(msg);
    });
  }

  describe() {
    const c = this.ch;
    return { label: c.label, ordered: c.ordered, maxRetransmits: c.maxRetransmits,
             maxPacketLifeTime: c.maxPacketLifeTime, negotiated: c.negotiated, id: c.id, readyState: c.readyState };
  }

  async send(bytes, deadlineMs) {
    const frags = fragment(this.nextId++, bytes);
    for (const f of frags) {
      if (this.ch.bufferedAmount > (4 << 20)) {
        await withDeadline(new Promise((r) => this.ch.addEventListener('bufferedamountlow', r, { once: true })),
          deadlineMs, `${this.ch.label} send buffer drain`);
      }
      this.ch.send(f);
    }
    return frags.length;
  }

  next(deadlineMs, what) {
    if (this.queue.length) return Promise.resolve(this.queue.shift());
    let waiter;
    const p = new Promise((resolve) => { waiter = resolve; this.waiters.push(resolve); });
    return withDeadline(p, deadlineMs, `${this.ch.label}: ${what}`).finally(() => {
      const k = this.waiters.indexOf(waiter);
      if (k >= 0) this.waiters.splice(k, 1);
    });
  }
}
