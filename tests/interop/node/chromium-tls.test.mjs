// Headless Chromium against the tls example (`tls --test-ca DIR`): its chat page on
// https://localhost:PORT/ in two tabs, chatting over wss:// with permessage-deflate.
//
// Chromium is told to accept exactly the server's key: the base64 SHA-256 of the
// SubjectPublicKeyInfo of DIR/cert.pem goes to --ignore-certificate-errors-spki-list
// (not --ignore-certificate-errors, which would accept anything). A browser pinning
// another key must refuse the page.
//
// WS_TLS_ADDR (127.0.0.1:PORT) and WS_TLS_DIR come from scripts/test-interop.sh.

import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';

import { launchChromium, logLines, waitLine } from './browser.mjs';
import { addr } from './common.mjs';

const port = () => addr('WS_TLS_ADDR').split(':').pop();
const origin = () => `https://localhost:${port()}`;
const GREETING = /^You are connected! There are \d+ users here\.$/;

/** base64(SHA-256(SubjectPublicKeyInfo DER)), the form Chromium's SPKI list takes. */
function spkiHash(publicKey) {
  const der = publicKey.export({ type: 'spki', format: 'der' });
  return crypto.createHash('sha256').update(der).digest('base64');
}

const leaf = () => new crypto.X509Certificate(fs.readFileSync(path.join(addr('WS_TLS_DIR'), 'cert.pem')));

let browser;

before(async () => {
  browser = await launchChromium([`--ignore-certificate-errors-spki-list=${spkiHash(leaf().publicKey)}`]);
});

after(async () => {
  await browser?.close();
});

test('the tls example\'s page over https in two tabs: chat over wss with permessage-deflate', async () => {
  const context = await browser.newContext();
  const consoleLines = [];
  try {
    const ann = await context.newPage();
    const bob = await context.newPage();
    for (const p of [ann, bob]) {
      p.on('console', (m) => consoleLines.push(m.text()));
      p.on('pageerror', (e) => consoleLines.push(`pageerror: ${e.message}`));
    }
    const response = await ann.goto(`${origin()}/`, { timeout: 20_000 });
    assert.equal(response.status(), 200);
    const security = await response.securityDetails();
    console.log(`# page: ${JSON.stringify(security)}`);
    assert.equal(security?.subjectName, 'ws tls example', 'the page was not served with the test certificate');
    assert.equal(security?.issuer, 'ws test CA');
    await waitLine(ann, GREETING);
    await bob.goto(`${origin()}/`, { timeout: 20_000 });
    await waitLine(bob, GREETING);

    // The page's own socket (a global `const` of its script).
    for (const p of [ann, bob]) {
      const info = await p.evaluate('({ url: socket.url, extensions: socket.extensions, state: socket.readyState })');
      console.log(`# socket: ${JSON.stringify(info)}`);
      assert.equal(info.url, `wss://localhost:${port()}/chat`);
      assert.equal(info.state, 1, 'the page\'s socket is not open');
      assert.match(info.extensions, /^permessage-deflate(;|$)/, `WebSocket.extensions is "${info.extensions}"`);
    }

    await ann.locator('#text').fill('hello over wss from the first tab');
    await ann.locator('#text').press('Enter');
    for (const p of [ann, bob]) await waitLine(p, /^\[user\d+\]: hello over wss from the first tab$/);
    await bob.locator('#text').fill('ünïcødé from the second tab 😀');
    await bob.locator('button').click();
    for (const p of [ann, bob]) await waitLine(p, /^\[user\d+\]: ünïcødé from the second tab 😀$/);

    // A long compressible line, typed into the form like the others.
    const long = 'The quick brown fox jumps over the lazy dog. '.repeat(600).trim();
    await ann.locator('#text').fill(long);
    await ann.locator('#text').press('Enter');
    for (const p of [ann, bob]) {
      await p.waitForFunction(
        (text) => [...document.querySelectorAll('#log div')].some((d) => d.textContent.endsWith(`]: ${text}`)),
        long,
        { timeout: 20_000 },
      );
    }
    for (const p of [ann, bob]) {
      const lines = await logLines(p);
      assert.ok(!lines.some((l) => /^disconnected|connection error/.test(l)), lines.join('\n').slice(0, 2000));
    }
  } catch (e) {
    console.log(consoleLines.map((l) => `# page: ${l}`).join('\n'));
    throw e;
  } finally {
    await context.close();
  }
});

test('a Chromium pinning another key refuses the page', async () => {
  const { publicKey } = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const other = await launchChromium([`--ignore-certificate-errors-spki-list=${spkiHash(publicKey)}`]);
  try {
    const page = await other.newPage();
    await assert.rejects(page.goto(`${origin()}/`, { timeout: 20_000 }), /net::ERR_CERT_AUTHORITY_INVALID/);
  } finally {
    await other.close();
  }
});
