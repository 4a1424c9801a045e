// actr's DataChannel framing, from the header layout in docs (reference §7.1, docs/webrtc.md):
// every DataChannel message is [u32 BE msg_id][u16 BE frag_index][u16 BE total_frags] + payload,
// at most 65,535 bytes; message ids count per channel.

// A promise with its resolver outside.
export function deferred() {
  let resolve;
  const promise = new Promise((r) => { resolve = r; });
  return { promise, resolve };
}

const DC_MAX_MESSAGE = 65535;
const DC_HEADER = 8;
const DC_MAX_PAYLOAD = DC_MAX_MESSAGE - DC_HEADER;

export function fragment(msgId, bytes) {
  const total = Math.max(1, Math.ceil(bytes.length / DC_MAX_PAYLOAD));
  const out = [];
  for (let i = 0; i < total; i++) {
    const part = bytes.subarray(i * DC_MAX_PAYLOAD, (i + 1) * DC_MAX_PAYLOAD);
    const m = Buffer.alloc(DC_HEADER + part.length);
    m.writeUInt32BE(msgId >>> 0, 0);
    m.writeUInt16BE(i, 4);
    m.writeUInt16BE(total, 6);
    Buffer.from(part).copy(m, DC_HEADER);
    out.push(m);
  }
  return out;
}

// One labelled channel: reassembles inbound messages (a malformed fragment is a violation) and
// hands complete ones to `deliver(label, bytes)`.
export class Lane {
  constructor(dc, deliver) {
    Object.assign(this, { dc, deliver });
    this.label = dc.getLabel();
    this.nextId = 1;
    this.pending = new Map();
    this.violations = [];
    this.closed = deferred();
    this.isClosed = false;
    const open = deferred();
    this.opened = open.promise;
    dc.onOpen(() => open.resolve());
    if (dc.isOpen()) open.resolve();
    dc.onClosed(() => { this.isClosed = true; this.closedAt = Date.now(); this.closed.resolve(); });
    dc.onMessage((msg) => { try { this.feed(msg); } catch (e) { this.violations.push(e.message); } });
  }

  feed(msg) {
    if (typeof msg === 'string') { this.violations.push('text message'); return; }
    const m = Buffer.from(msg);
    if (m.length < DC_HEADER || m.length > DC_MAX_MESSAGE) { this.violations.push(`message of ${m.length} B`); return; }
    const [id, index, total] = [m.readUInt32BE(0), m.readUInt16BE(4), m.readUInt16BE(6)];
    if (total === 0 || index >= total) { this.violations.push(`index ${index} of ${total}`); return; }
    if (total === 1) { this.deliver(this.label, m.subarray(DC_HEADER)); return; }
    let p = this.pending.get(id);
    if (!p) { p = { parts: new Array(total), got: 0 }; this.pending.set(id, p); }
    if (p.parts.length !== total || p.parts[index]) { this.violations.push(`msg ${id}: total changed or index ${index} twice`); return; }
    p.parts[index] = m.subarray(DC_HEADER);
    if (++p.got < total) return;
    this.pending.delete(id);
    this.deliver(this.label, Buffer.concat(p.parts));
  }

  send(bytes) {
    for (const f of fragment(this.nextId++, bytes)) {
      if (!this.dc.sendMessageBinary(f)) throw new Error(`${this.label}: send refused`);
    }
  }
}

