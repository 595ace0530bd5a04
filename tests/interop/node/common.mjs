// Helpers shared by the Node interop suites (node:test + node:assert, Node `ws` 8).
// Server addresses come from the environment, set by scripts/test-interop.sh.

import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import WebSocket from 'ws';

export { WebSocket };

/** Every network wait is bounded by this unless a test says otherwise. */
export const STEP_MS = 20_000;

export function addr(name) {
  const value = process.env[name];
  assert.ok(value, `${name} is not set: run the suites through scripts/test-interop.sh`);
  return value;
}

export function url(name, path) {
  return `ws://${addr(name)}${path}`;
}

/** Rejects after `ms` with `what` in the message, unless `promise` settles first. */
export function within(promise, ms, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/**
 * A connected client whose messages and close are queued as they arrive, so a test
 * can await them in order: `await c.next()`, `await c.closed()`.
 */
export class Client {
  /** Every client opened, so that `Client.terminateAll()` can end them after a suite. */
  static all = new Set();

  static terminateAll() {
    for (const c of Client.all) c.terminate();
    Client.all.clear();
  }

  static async open(target, options = {}) {
    const ws = new WebSocket(target, { handshakeTimeout: 10_000, ...options });
    const client = new Client(ws);
    Client.all.add(client);
    await within(
      new Promise((resolve, reject) => {
        ws.once('open', resolve);
        ws.once('error', reject);
        ws.once('unexpected-response', (_req, res) =>
          reject(new Error(`unexpected HTTP ${res.statusCode} from ${target}`)),
        );
      }),
      STEP_MS,
      `connect to ${target}`,
    );
    return client;
  }

  constructor(ws) {
    this.ws = ws;
    this.queue = [];
    this.waiters = [];
    this.pings = [];
    this.pongs = [];
    this.errors = [];
    this.close = null;
    this.closedAt = null;
    this.closePromise = new Promise((resolve) => {
      ws.on('close', (code, reason) => {
        this.closedAt = Date.now();
        this.close = { code, reason: reason.toString() };
        resolve(this.close);
        this._wake();
      });
    });
    ws.on('message', (data, isBinary) => {
      this.queue.push(isBinary ? { binary: Buffer.from(data) } : { text: data.toString() });
      this._wake();
    });
    ws.on('ping', (data) => this.pings.push({ at: Date.now(), data: Buffer.from(data) }));
    ws.on('pong', (data) => this.pongs.push({ at: Date.now(), data: Buffer.from(data) }));
    ws.on('error', (err) => this.errors.push(err));
  }

  _wake() {
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
  }

  /** The next message: `{text}` or `{binary}`. Fails if the connection closes first. */
  async next(ms = STEP_MS) {
    const deadline = Date.now() + ms;
    while (this.queue.length === 0) {
      if (this.close) {
        throw new Error(`connection closed (${this.close.code} ${this.close.reason}) while waiting for a message`);
      }
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no message within ${ms} ms`);
      await within(new Promise((r) => this.waiters.push(r)), left, 'next message').catch((e) => {
        if (this.queue.length === 0 && !this.close) throw e;
      });
    }
    return this.queue.shift();
  }

  async nextText(ms) {
    const m = await this.next(ms);
    assert.ok('text' in m, `expected a text message, got binary of ${m.binary?.length} bytes`);
    return m.text;
  }

  /** Resolves with `{code, reason}` once the connection is closed. */
  closed(ms = STEP_MS) {
    return within(this.closePromise, ms, 'close');
  }

  send(data, options = {}) {
    return new Promise((resolve, reject) => this.ws.send(data, options, (err) => (err ? reject(err) : resolve())));
  }

  /** Raw byte counters of the TCP socket (what went over the wire, frames included). */
  wire() {
    const s = this.ws._socket;
    return { read: s.bytesRead, written: s.bytesWritten };
  }

  terminate() {
    this.ws.terminate();
  }
}

// ----- payloads -----

export const SIZES = [0, 1, 2, 125, 126, 127, 1023, 1024, 1025, 4096, 65535, 65536, 65537, 300_000, 1 << 20];

const UNIT = Buffer.from('The quick brown fox jumps over the lazy dog. 0123456789\n');
const ALPHABET = [...'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 éüßλжあ😀'];

export function compressibleBytes(size) {
  const out = Buffer.alloc(size);
  for (let i = 0; i < size; i += UNIT.length) UNIT.copy(out, i, 0, Math.min(UNIT.length, size - i));
  return out;
}

/** Deterministic pseudo-random bytes (xorshift), so failures reproduce. */
export function randomBytes(size, seed = 1) {
  let x = seed >>> 0 || 1;
  const out = Buffer.alloc(size);
  for (let i = 0; i < size; i++) {
    x ^= x << 13; x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5; x >>>= 0;
    out[i] = x & 0xff;
  }
  return out;
}

/** Random text with multi-byte characters, about `size` UTF-8 bytes. */
export function randomText(size, seed = 1) {
  const bytes = randomBytes(size, seed);
  let s = '';
  let n = 0;
  let i = 0;
  while (n < size - 4) {
    const c = ALPHABET[bytes[i++ % bytes.length] % ALPHABET.length];
    s += c;
    n += Buffer.byteLength(c);
  }
  return s + 'z'.repeat(Math.max(0, size - n));
}

/** [label, {text}|{binary}] for every size x text/binary x compressible/random. */
export function allKinds(sizes = SIZES) {
  const out = [];
  let seed = 7;
  for (const size of sizes) {
    out.push([`text/compressible/${size}B`, { text: compressibleBytes(size).toString() }]);
    out.push([`text/random/${size}B`, { text: randomText(size, seed++) }]);
    out.push([`binary/compressible/${size}B`, { binary: compressibleBytes(size) }]);
    out.push([`binary/random/${size}B`, { binary: randomBytes(size, seed++) }]);
  }
  return out;
}

export function describe(m) {
  return 'text' in m ? `text of ${Buffer.byteLength(m.text)} bytes` : `binary of ${m.binary.length} bytes`;
}

/** Asserts that a received message equals the one sent, without dumping megabytes. */
export function same(got, sent, label) {
  if ('text' in sent) {
    assert.ok('text' in got, `${label}: sent ${describe(sent)}, got ${describe(got)}`);
    if (got.text !== sent.text) assert.fail(`${label}: sent ${describe(sent)}, got ${describe(got)} with different content`);
  } else {
    assert.ok('binary' in got, `${label}: sent ${describe(sent)}, got ${describe(got)}`);
    if (!got.binary.equals(sent.binary)) assert.fail(`${label}: sent ${describe(sent)}, got ${describe(got)} with different content`);
  }
}

/** Sends one message whole. */
export function sendMessage(client, m, options = {}) {
  return 'text' in m ? client.send(m.text, options) : client.send(m.binary, { binary: true, ...options });
}

export { crypto };
