// Launching Debian's Chromium (CHROMIUM, default /usr/bin/chromium) headless through
// playwright-core, as chromium.test.mjs does, for the suites that need extra flags.

import { chromium } from 'playwright-core';

import { within } from './common.mjs';

/** Chromium with the usual flags plus `extra`; names other than 127.0.0.1 and localhost resolve to nothing. */
export function launchChromium(extra = []) {
  return within(
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
        '--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1 , EXCLUDE localhost',
        ...extra,
      ],
    }),
    90_000,
    'launch Chromium',
  );
}

/** Waits until a line of the chat page's log (#log div) matches `re`. */
export function waitLine(page, re, timeout = 20_000) {
  return page.waitForFunction(
    ([source, flags]) =>
      [...document.querySelectorAll('#log div')].some((d) => new RegExp(source, flags).test(d.textContent)),
    [re.source, re.flags],
    { timeout },
  );
}

/** The chat page's log lines. */
export function logLines(page) {
  return page.locator('#log div').allTextContents();
}
