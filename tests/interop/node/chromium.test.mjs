// Headless Chromium (Debian's package, driven by playwright-core):
// - negotiating permessage-deflate with the `deflate` example (WS_DEFLATE_ADDR) and
//   round-tripping every kind of message. The test script (browser/deflate.js) runs in
//   the example's own page, injected by playwright: the socket is same-origin, as the
//   server's default origin check requires (and Chromium blocks ws://127.0.0.1 from
//   about:blank);
// - the chat example's own page (WS_CHAT_ADDR, served at `/`) in two tabs.
//
// CHROMIUM overrides the browser binary (default /usr/bin/chromium).

import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';

import { chromium } from 'playwright-core';

import { addr, within } from './common.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const script = path.join(here, '..', 'browser', 'deflate.js');

let browser;

before(async () => {
  browser = await within(
    chromium.launch({
      executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
      headless: true,
      timeout: 60_000,
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        '--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1',
      ],
    }),
    90_000,
    'launch Chromium',
  );
});

after(async () => {
  await browser?.close();
});

test('Chromium negotiates permessage-deflate and round-trips every kind', async () => {
  const page = await browser.newPage();
  const consoleLines = [];
  page.on('console', (m) => consoleLines.push(m.text()));
  page.on('pageerror', (e) => consoleLines.push(`pageerror: ${e.message}`));
  try {
    const server = addr('WS_DEFLATE_ADDR');
    const wsUrl = `ws://${server}${process.env.WS_DEFLATE_PATH ?? '/echo'}`;
    await page.goto(`http://${server}/?ws=${encodeURIComponent(wsUrl)}`, { timeout: 20_000 });
    await page.addScriptTag({ path: script });
    const report = await within(page.evaluate(() => runInterop()), 120_000, 'the page\'s run');
    console.log(consoleLines.map((l) => `# page: ${l}`).join('\n'));
    console.log(`# extensions: ${report.extensions}; ${report.checked} messages checked; close ${JSON.stringify(report.close)}`);
    assert.match(report.extensions, /^permessage-deflate(;|$)/, `WebSocket.extensions is "${report.extensions}"`);
    assert.deepEqual(report.failures, []);
    assert.equal(report.checked, 60 + 300);
    assert.deepEqual(report.close && [report.close.code, report.close.reason], [4000, 'done']);
  } catch (e) {
    console.log(consoleLines.map((l) => `# page: ${l}`).join('\n'));
    throw e;
  } finally {
    await page.close();
  }
});

test('the chat example\'s own page, in two tabs: both see every line', async () => {
  // Served by the chat example at `/`; its script connects to ws://HOST/chat.
  const chat = `http://${addr('WS_CHAT_ADDR')}/`;
  const context = await browser.newContext();
  try {
    const ann = await context.newPage();
    const bob = await context.newPage();
    const logOf = (page) => page.locator('#log');
    const waitLine = (page, re) =>
      page.waitForFunction(
        ([source, flags]) => [...document.querySelectorAll('#log div')].some((d) => new RegExp(source, flags).test(d.textContent)),
        [re.source, re.flags],
        { timeout: 20_000 },
      );
    await ann.goto(chat, { timeout: 20_000 });
    await waitLine(ann, /^You are connected! There are \d+ users here\.$/);
    await bob.goto(chat, { timeout: 20_000 });
    await waitLine(bob, /^You are connected! There are \d+ users here\.$/);
    const count = async (page) =>
      Number(/There are (\d+) users/.exec(await logOf(page).locator('div').first().textContent())[1]);
    assert.equal(await count(bob), (await count(ann)) + 1);

    // Type and press Enter, as a person would.
    await ann.locator('#text').fill('hello from the first tab');
    await ann.locator('#text').press('Enter');
    for (const p of [ann, bob]) await waitLine(p, /^\[user\d+\]: hello from the first tab$/);
    await bob.locator('#text').fill('ünïcødé from the second tab 😀');
    await bob.locator('button').click();
    for (const p of [ann, bob]) await waitLine(p, /^\[user\d+\]: ünïcødé from the second tab 😀$/);

    // Closing one tab leaves the other chatting.
    await bob.close();
    await ann.locator('#text').fill('still here');
    await ann.locator('#text').press('Enter');
    await waitLine(ann, /^\[user\d+\]: still here$/);
    const lines = await logOf(ann).locator('div').allTextContents();
    assert.ok(!lines.some((l) => /^disconnected|connection error/.test(l)), lines.join('\n'));
  } finally {
    await context.close();
  }
});
