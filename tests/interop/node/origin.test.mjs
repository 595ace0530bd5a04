// The chat example (WS_CHAT_ADDR, plain ws://) and the Origin check browsers rely on:
// by default the server refuses an upgrade whose Origin is not the origin of the
// request itself (its Host), with 403 before any session starts; same-origin pages
// and clients sending no Origin (non-browser clients) pass.
// - Chromium: the chat page served by the server itself connects; a page served by a
//   static server started here on another port of 127.0.0.1 (another origin: the port
//   differs) and the same page from http://localhost:OTHERPORT (another host name)
//   get `error` then `close` 1006, never `open`;
// - raw upgrade requests (node:net) with a foreign Origin get `HTTP/1.1 403`, with the
//   server's own origin or none `HTTP/1.1 101`.

import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import http from 'node:http';
import net from 'node:net';
import { after, before, test } from 'node:test';

import { launchChromium, logLines, waitLine } from './browser.mjs';
import { addr, within } from './common.mjs';

const chatAddr = () => addr('WS_CHAT_ADDR'); // 127.0.0.1:PORT
const chatPort = () => chatAddr().split(':').pop();

/** The page another origin serves: it opens a WebSocket to the chat and records what happens. */
function crossOriginPage(target) {
  return `<!doctype html><meta charset="utf-8"><title>another origin</title>
<script>
  window.events = [];
  const socket = new WebSocket(${JSON.stringify(target)});
  socket.onopen = () => events.push('open');
  socket.onerror = () => events.push('error');
  socket.onclose = (e) => { events.push('close ' + e.code); window.wsClosed = true; };
  socket.onmessage = (e) => events.push('message ' + e.data);
</script>`;
}

let other; // the static server of the other origin
let otherPort;
let browser;

before(async () => {
  other = http.createServer((req, res) => {
    if (new URL(req.url, 'http://x').pathname !== '/cross.html') {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
    res.end(crossOriginPage(`ws://${chatAddr()}/chat`));
  });
  await new Promise((resolve) => other.listen(0, '127.0.0.1', resolve));
  otherPort = other.address().port;
  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
  await new Promise((resolve) => (other ? other.close(resolve) : resolve()));
});

test('same origin: the chat page served by the server itself connects', async () => {
  const context = await browser.newContext();
  try {
    const page = await context.newPage();
    await page.goto(`http://${chatAddr()}/`, { timeout: 20_000 });
    await waitLine(page, /^You are connected! There are \d+ users here\.$/);
    await page.locator('#text').fill('same-origin hello');
    await page.locator('#text').press('Enter');
    await waitLine(page, /^\[user\d+\]: same-origin hello$/);
    const lines = await logLines(page);
    assert.ok(!lines.some((l) => /^disconnected|connection error/.test(l)), lines.join('\n'));
  } finally {
    await context.close();
  }
});

/** Loads the cross-origin page from `pageOrigin`; returns what its WebSocket saw. */
async function crossOrigin(pageOrigin) {
  const context = await browser.newContext();
  try {
    const page = await context.newPage();
    await page.goto(`${pageOrigin}/cross.html`, { timeout: 20_000 });
    // Until it closes, or opens: an open socket is already a failure, no need to wait.
    await page
      .waitForFunction(() => window.wsClosed || window.events.includes('open'), null, { timeout: 20_000 })
      .catch(() => {});
    return await page.evaluate(() => ({ events: window.events, origin: location.origin }));
  } finally {
    await context.close();
  }
}

for (const [what, host] of [
  ['another port of 127.0.0.1', '127.0.0.1'],
  ['another host name (localhost)', 'localhost'],
]) {
  test(`another origin (${what}): the WebSocket gets error then close 1006, never open`, async () => {
    const { events, origin } = await crossOrigin(`http://${host}:${otherPort}`);
    console.log(`# page at ${origin} -> ws://${chatAddr()}/chat: ${JSON.stringify(events)}`);
    assert.ok(
      !events.includes('open'),
      `the server accepted a WebSocket from ${origin} (Origin differs from Host ${chatAddr()}): ${JSON.stringify(events)}`,
    );
    assert.deepEqual(events, ['error', 'close 1006'], `events of the refused WebSocket from ${origin}`);
  });
}

/** Sends an upgrade request by hand; resolves with the response's status line and headers. */
function rawUpgrade(headers) {
  const key = crypto.randomBytes(16).toString('base64');
  const lines = [
    'GET /chat HTTP/1.1',
    `Host: ${chatAddr()}`,
    'Upgrade: websocket',
    'Connection: Upgrade',
    `Sec-WebSocket-Key: ${key}`,
    'Sec-WebSocket-Version: 13',
    ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`),
  ];
  const socket = net.connect({ host: '127.0.0.1', port: Number(chatPort()) });
  return within(
    new Promise((resolve, reject) => {
      let data = '';
      socket.on('connect', () => socket.write(`${lines.join('\r\n')}\r\n\r\n`));
      socket.on('data', (chunk) => {
        data += chunk.toString('latin1');
        const end = data.indexOf('\r\n\r\n');
        if (end >= 0) resolve(data.slice(0, end));
      });
      socket.on('error', reject);
      socket.on('close', () => reject(new Error(`connection closed before a whole response head: ${JSON.stringify(data)}`)));
    }),
    10_000,
    `a response to an upgrade with ${JSON.stringify(headers)}`,
  ).finally(() => socket.destroy());
}

for (const [what, origin, status] of [
  ['a foreign Origin', () => 'http://evil.example', 403],
  ['an Origin on another port of the same host', () => `http://127.0.0.1:${otherPort}`, 403],
  ['the server\'s own origin', () => `http://${chatAddr()}`, 101],
  ['no Origin', () => null, 101],
]) {
  test(`raw upgrade with ${what}: HTTP/1.1 ${status}`, async () => {
    const sent = origin() ? { Origin: origin() } : {};
    const head = await rawUpgrade(sent);
    const statusLine = head.split('\r\n')[0];
    console.log(`# Host: ${chatAddr()}, ${JSON.stringify(sent)} -> ${statusLine}`);
    assert.match(statusLine, new RegExp(`^HTTP/1\\.1 ${status} `), `response head:\n${head}`);
  });
}
