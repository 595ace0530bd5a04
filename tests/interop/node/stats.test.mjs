// The chat example's live stats page (WS_CHAT_ADDR, plain ws://) in Chromium: /stats
// reads /metrics (Prometheus' text format) once a second and shows the `ws_*` series.
// - the page updates itself: its update count grows with no reload;
// - sessions opened by a second page (the chat page itself) show up: `ws_sessions_open`
//   and `ws_sessions_opened_total` go up, frames and bytes received count the messages
//   sent, and when the chat page closes, `ws_sessions_open` goes back down and
//   `ws_sessions_closed_total` counts it.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { launchChromium, waitLine } from './browser.mjs';
import { addr } from './common.mjs';

const chatAddr = () => addr('WS_CHAT_ADDR');

let browser;

before(async () => {
  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
});

/** The number the stats page shows for `series` (its cell's id), or null. */
function shown(page, series) {
  return page.evaluate((id) => {
    const cell = document.getElementById(id);
    return cell ? Number(cell.textContent) : null;
  }, series);
}

/** Waits until the stats page shows `series` satisfying `ok`. */
async function waitShown(page, series, ok, what) {
  await page
    .waitForFunction(
      ([id, src]) => {
        const cell = document.getElementById(id);
        return cell !== null && new Function('v', `return ${src}`)(Number(cell.textContent));
      },
      [series, ok],
      { timeout: 20_000 },
    )
    .catch(async (e) => {
      const table = await page.locator('#metrics').innerText().catch(() => '?');
      throw new Error(`${what}: ${series} never satisfied \`${ok}\` (${e.message})\n${table}`);
    });
}

test('the stats page updates itself and follows the sessions', async () => {
  const context = await browser.newContext();
  try {
    const stats = await context.newPage();
    await stats.goto(`http://${chatAddr()}/stats`, { timeout: 20_000 });
    await stats.waitForFunction(() => Number(document.getElementById('status').dataset.updates) >= 1, null, {
      timeout: 20_000,
    });
    const updates = await stats.evaluate(() => Number(document.getElementById('status').dataset.updates));
    await stats.waitForFunction((n) => Number(document.getElementById('status').dataset.updates) > n, updates, {
      timeout: 20_000,
    });
    await waitShown(stats, 'ws_sessions_open', 'v === 0', 'before any chat');
    const opened = (await shown(stats, 'ws_sessions_opened_total')) ?? 0;
    const received = (await shown(stats, 'ws_frames_received_total')) ?? 0;

    const chat = await context.newPage();
    await chat.goto(`http://${chatAddr()}/`, { timeout: 20_000 });
    await waitLine(chat, /^You are connected! There are \d+ users here\.$/);
    for (const text of ['one', 'two', 'three']) {
      await chat.locator('#text').fill(text);
      await chat.locator('#text').press('Enter');
      await waitLine(chat, new RegExp(`^\\[user\\d+\\]: ${text}$`));
    }
    await waitShown(stats, 'ws_sessions_open', 'v === 1', 'with the chat open');
    await waitShown(stats, 'ws_sessions_opened_total', `v === ${opened + 1}`, 'with the chat open');
    await waitShown(stats, 'ws_frames_received_total', `v === ${received + 3}`, 'after three messages');
    await waitShown(stats, 'ws_received_bytes_total', 'v >= 11', 'after three messages');

    await chat.close();
    await waitShown(stats, 'ws_sessions_open', 'v === 0', 'after the chat closed');
    // Chromium closes a leaving page's socket with 1001; count every code.
    const closed = await stats.evaluate(() =>
      [...document.querySelectorAll('td.value')]
        .filter((c) => c.id.startsWith('ws_sessions_closed_total'))
        .reduce((n, c) => n + Number(c.textContent), 0),
    );
    assert.ok(closed >= 1, `sessions closed: ${closed}`);
    assert.ok((await shown(stats, 'ws_sent_bytes_total')) > 0);
  } finally {
    await context.close();
  }
});
