// Shared helpers for the collaboration scenarios: a context with one deadline, clients made of
// the real `y-websocket` provider (with `ws` as the WebSocket and BroadcastChannel off), waiting
// with descriptive timeouts, JSON -> Y conversion and a key-order-independent deep equality.
import * as Y from 'yjs';
import { WebsocketProvider } from 'y-websocket';
import WebSocket from 'ws';

export { Y };

// ---------------------------------------------------------------------------------------------
// Small lib0-compatible codec (varUint, varByteArray, varString): enough to send a sync step 1
// and to look inside the frames the provider receives, without depending on lib0 directly.

function readVarUint(buf, pos) {
  let num = 0;
  let mult = 1;
  for (;;) {
    if (pos >= buf.length) throw new Error('truncated varUint');
    const b = buf[pos++];
    num += (b & 0x7f) * mult;
    if (b < 0x80) return [num, pos];
    mult *= 128;
  }
}

function writeVarUint(out, num) {
  while (num > 0x7f) {
    out.push(0x80 | (num & 0x7f));
    num = Math.floor(num / 128);
  }
  out.push(num);
}

/** Decodes the payload of an awareness message: [{clientID, clock, state}]. */
export function decodeAwarenessUpdate(bytes) {
  const dec = new TextDecoder();
  let [n, pos] = readVarUint(bytes, 0);
  const entries = [];
  for (let i = 0; i < n; i++) {
    let clientID, clock, len;
    [clientID, pos] = readVarUint(bytes, pos);
    [clock, pos] = readVarUint(bytes, pos);
    [len, pos] = readVarUint(bytes, pos);
    const state = JSON.parse(dec.decode(bytes.subarray(pos, pos + len)));
    pos += len;
    entries.push({ clientID, clock, state });
  }
  return entries;
}

/** A sync step 1 frame (`0, 0, varByteArray(stateVector)`) for `doc`. */
export function syncStep1Frame(doc) {
  const sv = Y.encodeStateVector(doc);
  const out = [0, 0];
  writeVarUint(out, sv.length);
  return Uint8Array.from([...out, ...sv]);
}

// ---------------------------------------------------------------------------------------------
// Values

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Deep equality of JSON-like values; object key order is irrelevant. */
export function deepEqual(a, b) {
  if (a === b) return true;
  if (typeof a !== typeof b || a === null || b === null || typeof a !== 'object') {
    return Number.isNaN(a) && Number.isNaN(b);
  }
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  if (Array.isArray(a)) {
    return a.length === b.length && a.every((v, i) => deepEqual(v, b[i]));
  }
  if (a instanceof Uint8Array || b instanceof Uint8Array) {
    return a instanceof Uint8Array && b instanceof Uint8Array &&
      a.length === b.length && a.every((v, i) => v === b[i]);
  }
  const ka = Object.keys(a).filter((k) => a[k] !== undefined);
  const kb = Object.keys(b).filter((k) => b[k] !== undefined);
  return ka.length === kb.length && ka.every((k) => Object.hasOwn(b, k) && deepEqual(a[k], b[k]));
}

/** JSON -> Y: objects become Y.Map, arrays Y.Array (recursively), primitives stay plain. */
export function toY(value) {
  if (Array.isArray(value)) {
    const arr = new Y.Array();
    arr.push(value.map(toY));
    return arr;
  }
  if (value !== null && typeof value === 'object') {
    const map = new Y.Map();
    for (const [k, v] of Object.entries(value)) if (v !== undefined) map.set(k, toY(v));
    return map;
  }
  return value;
}

/** The value at `path` (array of keys / indexes) inside `obj`, or undefined. */
export function getPath(obj, path) {
  let cur = obj;
  for (const key of path) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = cur[key];
  }
  return cur;
}

export const short = (v, max = 300) => {
  const s = JSON.stringify(v);
  return s === undefined ? String(v) : s.length > max ? `${s.slice(0, max)}…(${s.length} chars)` : s;
};

/** A random id for this run, so markers are unique even in a room that keeps its history. */
export const runId = () => Math.random().toString(36).slice(2, 8);

// ---------------------------------------------------------------------------------------------
// Context: config, deadline, clients, failure diagnostics

export class ScenarioError extends Error {}

export class Context {
  constructor(name, config) {
    this.name = name;
    this.config = config;
    this.start = Date.now();
    this.timeoutMs = Number(config.timeoutMs ?? 20000);
    this.deadline = this.start + this.timeoutMs;
    this.clients = [];
    this.fatal = null;
    this.run = runId();
    if (!Array.isArray(config.urls) || config.urls.length === 0) {
      throw new ScenarioError('config.urls must be a non-empty array of ws:// base URLs');
    }
    if (typeof config.room !== 'string' || config.room === '') {
      throw new ScenarioError('config.room (the project id) is required');
    }
    this.tokens = config.tokens ?? {};
  }

  /** Milliseconds since the scenario started. */
  t() {
    return Date.now() - this.start;
  }

  urlFor(index) {
    return this.config.urls[index % this.config.urls.length];
  }

  /** The token for a role; `editor2` falls back to `editor`. Undefined when no tokens are given. */
  token(role) {
    if (this.tokens[role] !== undefined) return this.tokens[role];
    if (role === 'editor2') return this.tokens.editor;
    if (Object.keys(this.tokens).length > 0) {
      throw new ScenarioError(`config.tokens has no "${role}" token (has: ${Object.keys(this.tokens).join(', ')})`);
    }
    return undefined;
  }

  /**
   * Connects a client made of a fresh Y.Doc and the real WebsocketProvider.
   * opts: label, index (which url, round-robin), role (token name), awareness (initial local
   * state), allowClose (a 4400-4499 close is not a failure).
   */
  connect({ label, index = 0, role = 'editor', awareness = undefined, allowClose = false } = {}) {
    const url = this.urlFor(index);
    const token = this.token(role);
    const params = { ...(this.config.params ?? {}) };
    if (token !== undefined) params.token = token;
    const doc = new Y.Doc();
    const client = new Client({ ctx: this, label: label ?? `client${this.clients.length}`, url, role, doc });
    if (awareness !== undefined) client.awarenessPreset = awareness;
    client.allowClose = allowClose;
    client.open(params, awareness);
    this.clients.push(client);
    return client;
  }

  remaining() {
    return this.deadline - Date.now();
  }

  diagnostics() {
    return this.clients.map((c) => `  ${c.describe()}`).join('\n');
  }

  /**
   * Polls `pred` until it returns a truthy value (which is returned). Throws a ScenarioError
   * that says what it was waiting for on the scenario's deadline, or at `timeoutMs` if given.
   * `detail` (optional function) adds the current observations to the message.
   */
  async waitFor(what, pred, { timeoutMs, detail, interval = 10 } = {}) {
    const limit = timeoutMs === undefined ? this.deadline : Math.min(this.deadline, Date.now() + timeoutMs);
    for (;;) {
      if (this.fatal) throw this.fatal;
      const v = pred();
      if (v) return v;
      if (Date.now() >= limit) {
        const own = limit === this.deadline ? `scenario timeout (${this.timeoutMs} ms)` : `${timeoutMs} ms`;
        let msg = `timed out after ${own} waiting for ${what}`;
        if (detail) msg += `\n  observed: ${detail()}`;
        msg += `\n  clients:\n${this.diagnostics()}`;
        throw new ScenarioError(msg);
      }
      await sleep(interval);
    }
  }

  /** Waits `ms` while checking `pred` is never true; returns the ms at which it became true, or null. */
  async staysFalse(ms, pred) {
    const end = Date.now() + ms;
    while (Date.now() < end) {
      if (this.fatal) throw this.fatal;
      if (pred()) return ms - (end - Date.now());
      await sleep(10);
    }
    return null;
  }

  /** Destroys every client and waits (bounded) for their sockets to close. */
  async cleanup() {
    await Promise.all(this.clients.map((c) => c.destroy()));
  }
}

export class Client {
  constructor({ ctx, label, url, role, doc }) {
    this.ctx = ctx;
    this.label = label;
    this.url = url;
    this.role = role;
    this.doc = doc;
    this.statuses = [];
    this.closes = [];
    this.errors = 0;
    this.step2 = 0;
    this.syncedAt = null;
    this.ownAwarenessEchoes = 0;
    this.awarenessFrames = 0;
    this.terminal = null;
    this.destroyed = false;
  }

  open(params, awareness) {
    const provider = new WebsocketProvider(this.url, this.ctx.config.room, this.doc, {
      connect: false,
      params,
      WebSocketPolyfill: WebSocket,
      disableBc: true,
    });
    this.provider = provider;
    this.awareness = provider.awareness;
    if (awareness !== undefined) this.awareness.setLocalState(awareness);

    // Observe received frames: count sync step 2 (for flush()) and own-awareness echoes.
    const handlers = provider.messageHandlers;
    const origSync = handlers[0];
    handlers[0] = (encoder, decoder, prov, emitSynced, type) => {
      if (decoder.arr[decoder.pos] === 1) this.step2++;
      return origSync(encoder, decoder, prov, emitSynced, type);
    };
    const origAwareness = handlers[1];
    handlers[1] = (encoder, decoder, prov, emitSynced, type) => {
      this.awarenessFrames++;
      try {
        const [len, pos] = readVarUint(decoder.arr, decoder.pos);
        const entries = decodeAwarenessUpdate(decoder.arr.subarray(pos, pos + len));
        if (entries.some((e) => e.clientID === this.doc.clientID)) this.ownAwarenessEchoes++;
      } catch {
        // the provider's own decoder reports malformed frames
      }
      return origAwareness(encoder, decoder, prov, emitSynced, type);
    };

    provider.on('status', ({ status }) => this.statuses.push({ status, t: this.ctx.t() }));
    provider.on('sync', (synced) => {
      if (synced && this.syncedAt === null) this.syncedAt = this.ctx.t();
    });
    provider.on('connection-error', () => this.errors++);
    provider.on('connection-close', (event) => {
      this.closes.push(event ? { code: event.code, reason: event.reason, t: this.ctx.t() } : { local: true, t: this.ctx.t() });
    });
    provider.on('closed', ({ code, reason }) => {
      this.terminal = { code, reason };
      if (!this.allowClose && !this.destroyed && !this.ctx.fatal) {
        this.ctx.fatal = new ScenarioError(
          `the server closed ${this.label}'s connection for good with code ${code} ${JSON.stringify(reason)}` +
          ` (role ${this.role}, ${this.url}/${this.ctx.config.room})\n  clients:\n${this.ctx.diagnostics()}`,
        );
      }
    });
    provider.connect();
  }

  get synced() {
    return this.provider.synced;
  }

  describe() {
    const last = this.statuses.at(-1)?.status ?? 'none';
    const closes = this.closes.length
      ? ` closes=${this.closes.length} last=${short(this.closes.at(-1))}`
      : '';
    return `${this.label} (${this.role}) ${this.url}/${this.ctx.config.room}: status=${last} synced=${this.synced}` +
      `${this.syncedAt !== null ? ` (first at ${this.syncedAt} ms)` : ''} errors=${this.errors}${closes}`;
  }

  /** Waits for the first sync (the server's step 2). */
  async whenSynced() {
    await this.ctx.waitFor(`${this.label} to connect and sync (${this.url}/${this.ctx.config.room})`, () => this.synced);
    return this.syncedAt;
  }

  /**
   * Round trip: sends a sync step 1 and waits for the server's step 2 answer. A server handles
   * one connection's frames in order, so every update sent before has then been received.
   */
  async flush() {
    const ws = this.provider.ws;
    if (!ws || !this.provider.wsconnected) throw new ScenarioError(`${this.label} is not connected, cannot flush`);
    const before = this.step2;
    ws.send(syncStep1Frame(this.doc));
    await this.ctx.waitFor(`${this.label}: the server's sync step 2 answer to a step 1 (round trip after writing)`,
      () => this.step2 > before);
  }

  /** Graceful close (provider.destroy, which also sends a null awareness state); resolves when the socket closed or after 1 s. */
  async destroy() {
    if (this.destroyed) return;
    this.destroyed = true;
    const ws = this.provider.ws;
    const closed = ws && ws.readyState !== WebSocket.CLOSED
      ? new Promise((r) => { ws.once('close', r); setTimeout(r, 1000); })
      : Promise.resolve();
    this.provider.destroy();
    this.doc.destroy();
    await closed;
  }

  /** Abrupt close: the TCP connection is dropped without a close frame or a last awareness update. */
  async kill() {
    this.provider.shouldConnect = false;
    const ws = this.provider.ws;
    if (ws) {
      const closed = new Promise((r) => { ws.once('close', r); setTimeout(r, 1000); });
      ws.terminate();
      await closed;
    }
    await this.destroy();
  }

  /** Awareness states (other than this client's own) that have a `user` field. */
  peers() {
    const out = [];
    for (const [id, state] of this.awareness.getStates()) {
      if (id !== this.doc.clientID && state && state.user !== undefined) out.push({ clientID: id, state });
    }
    return out;
  }

  /** Awareness states without a `user` field (e.g. the server's own `studio` state). */
  otherStates() {
    const out = [];
    for (const [id, state] of this.awareness.getStates()) {
      if (id !== this.doc.clientID && state && state.user === undefined) out.push({ clientID: id, state });
    }
    return out;
  }
}
