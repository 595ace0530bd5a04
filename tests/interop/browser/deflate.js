// Runs in Chromium: permessage-deflate round trips against the server named by the
// page's `ws` query parameter. `runInterop()` resolves with a report; the Node driver
// asserts on it. Browsers cannot send fragments, so every message goes whole.
'use strict';

const STEP_MS = 20000;
const SIZES = [0, 1, 2, 125, 126, 127, 1023, 1024, 1025, 4096, 65535, 65536, 65537, 300000, 1 << 20];
const UNIT = 'The quick brown fox jumps over the lazy dog. 0123456789\n';
const ALPHABET = [...'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 éüßλжあ😀'];

function log(line) {
  document.getElementById('log').textContent += line + '\n';
  console.log(line);
}

function compressibleText(size) {
  return UNIT.repeat(Math.ceil(size / UNIT.length) + 1).slice(0, size);
}

function randomBytes(size) {
  const out = new Uint8Array(size);
  for (let i = 0; i < size; i += 65536) crypto.getRandomValues(out.subarray(i, Math.min(size, i + 65536)));
  return out;
}

const LENGTHS = ALPHABET.map((c) => new TextEncoder().encode(c).length);

function randomText(size) {
  const bytes = randomBytes(size);
  const parts = [];
  let n = 0;
  let i = 0;
  while (n < size - 4) {
    const k = bytes[i++ % bytes.length] % ALPHABET.length;
    parts.push(ALPHABET[k]);
    n += LENGTHS[k];
  }
  return parts.join('') + 'z'.repeat(Math.max(0, size - n));
}

function allKinds(sizes) {
  const out = [];
  for (const size of sizes) {
    out.push([`text/compressible/${size}B`, compressibleText(size)]);
    out.push([`text/random/${size}B`, randomText(size)]);
    out.push([`binary/compressible/${size}B`, new TextEncoder().encode(compressibleText(size))]);
    out.push([`binary/random/${size}B`, randomBytes(size)]);
  }
  return out;
}

function equal(got, sent) {
  if (typeof sent === 'string') return typeof got === 'string' && got === sent;
  if (!(got instanceof ArrayBuffer)) return false;
  const g = new Uint8Array(got);
  if (g.length !== sent.length) return false;
  for (let i = 0; i < g.length; i++) if (g[i] !== sent[i]) return false;
  return true;
}

function describe(m) {
  if (typeof m === 'string') return `text of ${new TextEncoder().encode(m).length} bytes`;
  if (m instanceof ArrayBuffer) return `binary of ${m.byteLength} bytes`;
  return `binary of ${m.length} bytes`;
}

/** A socket whose messages queue up, so they can be awaited in order. */
function openSocket(url) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url);
    ws.binaryType = 'arraybuffer';
    const queue = [];
    let waiter = null;
    let closed = null;
    let onClosed;
    const closedPromise = new Promise((r) => (onClosed = r));
    ws.onmessage = (e) => {
      queue.push(e.data);
      if (waiter) waiter();
    };
    ws.onclose = (e) => {
      closed = { code: e.code, reason: e.reason, wasClean: e.wasClean };
      onClosed(closed);
      if (waiter) waiter();
    };
    const timer = setTimeout(() => reject(new Error(`no open within ${STEP_MS} ms`)), STEP_MS);
    ws.onerror = () => {
      clearTimeout(timer);
      reject(new Error(`WebSocket error connecting to ${url}`));
    };
    ws.onopen = () => {
      clearTimeout(timer);
      resolve({
        ws,
        async next() {
          const deadline = Date.now() + STEP_MS;
          while (queue.length === 0) {
            if (closed) throw new Error(`closed (${closed.code} ${closed.reason}) while waiting for a message`);
            const left = deadline - Date.now();
            if (left <= 0) throw new Error(`no message within ${STEP_MS} ms`);
            await new Promise((r) => {
              const t = setTimeout(r, left);
              waiter = () => {
                clearTimeout(t);
                waiter = null;
                r();
              };
            });
          }
          return queue.shift();
        },
        /** Resolves with the close event's code and reason, or null after STEP_MS. */
        whenClosed() {
          return Promise.race([closedPromise, new Promise((r) => setTimeout(() => r(null), STEP_MS))]);
        },
      });
    };
  });
}

async function runInterop() {
  const url = new URLSearchParams(location.search).get('ws');
  const report = { url, extensions: null, checked: 0, failures: [] };
  const sock = await openSocket(url);
  report.extensions = sock.ws.extensions;
  log(`connected to ${url}, extensions: ${sock.ws.extensions}`);

  // One at a time, every kind and size.
  const t0 = performance.now();
  for (const [label, m] of allKinds(SIZES)) {
    sock.ws.send(m);
    const got = await sock.next();
    report.checked++;
    if (!equal(got, m)) report.failures.push(`${label}: sent ${describe(m)}, got ${describe(got)}`);
  }
  log(`whole messages: ${report.checked} checked in ${Math.round(performance.now() - t0)} ms`);
  const t1 = performance.now();

  // Many in a row, pipelined: both sides' compression contexts carry over.
  const pool = allKinds([0, 7, 200, 1500, 20000, 100000]);
  const batch = [];
  for (let i = 0; i < 300; i++) batch.push(pool[(i * 7919) % pool.length]);
  for (const [, m] of batch) sock.ws.send(m);
  for (const [label, m] of batch) {
    const got = await sock.next();
    report.checked++;
    if (!equal(got, m)) report.failures.push(`in a row, ${label}: sent ${describe(m)}, got ${describe(got)}`);
  }
  log(`in a row: ${batch.length} checked in ${Math.round(performance.now() - t1)} ms`);

  // A clean close with a reason, echoed by the server.
  sock.ws.close(4000, 'done');
  report.close = await sock.whenClosed();
  log(`closed: ${JSON.stringify(report.close)}`);
  return report;
}
