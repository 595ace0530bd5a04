// The tls example (the chat over https/wss with permessage-deflate) driven by Node `ws`
// over TLS, trusting only the CA the example made at start (`tls --test-ca DIR`):
// - two clients chat over wss://localhost:PORT/chat, with the certificate from
//   DIR/cert.pem and permessage-deflate negotiated (`ws.extensions`);
// - a client that does not trust the CA is refused by its own TLS stack, and the
//   server keeps serving.
//
// WS_TLS_ADDR (127.0.0.1:PORT) and WS_TLS_DIR (ca.pem, cert.pem) come from
// scripts/test-interop.sh.

import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { after, test } from 'node:test';

import { Client, STEP_MS, WebSocket, addr, compressibleBytes, within } from './common.mjs';

const port = () => addr('WS_TLS_ADDR').split(':').pop();
const dir = () => addr('WS_TLS_DIR');
const chatUrl = (host = 'localhost') => `wss://${host}:${port()}/chat`;
const ca = () => fs.readFileSync(path.join(dir(), 'ca.pem'));
const GREETING = /^You are connected! There are (\d+) users here\.$/;

after(() => Client.terminateAll());

/** A client trusting only the test CA (`ca` replaces Node's bundled roots). */
function open(options = {}) {
  return Client.open(chatUrl(), { ca: ca(), perMessageDeflate: { threshold: 0 }, ...options });
}

async function greeted(client) {
  const line = await client.nextText();
  const m = GREETING.exec(line);
  assert.ok(m, `expected the greeting, got ${JSON.stringify(line)}`);
  return Number(m[1]);
}

/** Reads until the broadcast of `text`; returns the user name in it. */
async function lineFrom(client, text) {
  const deadline = Date.now() + STEP_MS;
  for (;;) {
    const left = deadline - Date.now();
    assert.ok(left > 0, `no broadcast of ${JSON.stringify(text.slice(0, 60))} within ${STEP_MS} ms`);
    const line = await client.nextText(left);
    const m = /^\[(user\d+)\]: ([\s\S]*)$/.exec(line);
    assert.ok(m, `expected a chat line, got ${JSON.stringify(line.slice(0, 120))}`);
    if (m[2] === text) return m[1];
  }
}

async function stillServes() {
  const c = await open();
  await greeted(c);
  c.terminate();
}

test('two clients chat over wss:// with the certificate from cert.pem', async () => {
  const ann = await open();
  const nAnn = await greeted(ann);
  const bob = await open();
  const nBob = await greeted(bob);
  assert.ok(nBob >= 2 && nBob >= nAnn, `user counts ${nAnn}, ${nBob}`);

  const socket = ann.ws._socket;
  assert.ok(socket.encrypted, 'not a TLS socket');
  assert.equal(socket.authorized, true, `not authorized: ${socket.authorizationError}`);
  const served = new crypto.X509Certificate(socket.getPeerCertificate().raw);
  const file = new crypto.X509Certificate(fs.readFileSync(path.join(dir(), 'cert.pem')));
  assert.equal(served.fingerprint256, file.fingerprint256, 'the server did not serve cert.pem');
  assert.ok(served.checkIssued(new crypto.X509Certificate(ca())), 'cert.pem is not issued by ca.pem');
  console.log(`# ${socket.getProtocol()} ${socket.getCipher().name}, ALPN ${socket.alpnProtocol}`);

  await ann.send('hello from ann over TLS');
  const who = await lineFrom(ann, 'hello from ann over TLS');
  assert.equal(await lineFrom(bob, 'hello from ann over TLS'), who);
  await bob.send('ünïcødé from bob 😀');
  const whoBob = await lineFrom(bob, 'ünïcødé from bob 😀');
  assert.equal(await lineFrom(ann, 'ünïcødé from bob 😀'), whoBob);
  assert.notEqual(who, whoBob);
  ann.terminate();
  bob.terminate();
});

test('permessage-deflate is negotiated over TLS and compresses a broadcast', async () => {
  const big = await open();
  const other = await open({ perMessageDeflate: false });
  assert.equal(big.ws.extensions, 'permessage-deflate', `negotiated: "${big.ws.extensions}"`);
  assert.equal(other.ws.extensions, '', `negotiated without an offer: "${other.ws.extensions}"`);
  await greeted(big);
  await greeted(other);
  // Under the example's 64 KiB frame limit, the broadcast's prefix included.
  const text = compressibleBytes(60_000).toString();
  const read0 = big.ws._socket.bytesRead; // TLS records: compressed frames + overhead
  const written0 = big.ws._socket.bytesWritten;
  await big.send(text);
  assert.ok(await lineFrom(big, text));
  const read = big.ws._socket.bytesRead - read0;
  const written = big.ws._socket.bytesWritten - written0;
  console.log(`# a ${text.length}-byte compressible message: ${written} bytes sent, ${read} bytes received over TLS`);
  assert.ok(written < text.length / 10, `${written} bytes on the wire to send ${text.length}`);
  assert.ok(read < text.length / 10, `${read} bytes on the wire to receive ${text.length}`);
  assert.ok(await lineFrom(other, text)); // uncompressed to the client that offered nothing
  big.terminate();
  other.terminate();
});

test('wss://127.0.0.1 matches the certificate too', async () => {
  const c = await Client.open(chatUrl('127.0.0.1'), { ca: ca() });
  await greeted(c);
  c.terminate();
});

test('a client that does not trust the CA gets a certificate error; the server keeps serving', async () => {
  const ws = new WebSocket(chatUrl(), { handshakeTimeout: 10_000 }); // Node's bundled roots
  const outcome = await within(
    new Promise((resolve) => {
      ws.once('open', () => resolve({ opened: true }));
      ws.once('error', (error) => resolve({ error }));
    }),
    STEP_MS,
    'the untrusting client to fail',
  );
  ws.terminate();
  assert.ok(!outcome.opened, 'a client without the CA connected');
  console.log(`# ${outcome.error.code}: ${outcome.error.message}`);
  assert.ok(
    ['UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'SELF_SIGNED_CERT_IN_CHAIN', 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY'].includes(
      outcome.error.code,
    ),
    `expected a certificate verification error, got ${outcome.error.code}: ${outcome.error.message}`,
  );
  await stillServes();
});
