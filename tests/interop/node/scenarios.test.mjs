// The examples as a user sees them, driven by Node `ws`: the echo sample, the chat,
// close reasons both ways, and pings both ways (a client that never answers the
// server's pings is closed with 1011 "Ping timeout").
//
// Servers (set by scripts/test-interop.sh): WS_ECHO_ADDR, WS_CHAT_ADDR (a fresh
// instance for this suite), WS_LIFECYCLE_ADDR, WS_CONFORMANCE_ADDR, and WS_PING_ADDR
// (path WS_PING_PATH, default /echo) with pings every WS_PING_PERIOD_MS and a
// WS_PING_TIMEOUT_MS timeout. Tests run concurrently: the ping timeout takes longest.

import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';

import { Client, url, within } from './common.mjs';

const PERIOD = Number(process.env.WS_PING_PERIOD_MS ?? 15000);
const TIMEOUT = Number(process.env.WS_PING_TIMEOUT_MS ?? 15000);

const plain = (name, path, options = {}) => Client.open(url(name, path), { perMessageDeflate: false, ...options });

describe('scenarios', { concurrency: true }, () => {
  // A failed test must not leave a connection holding the process open.
  after(() => Client.terminateAll());

  test('echo: greeting, "Hi, NAME!", bye closes with 1000 "Client said BYE"', async () => {
    const c = await plain('WS_ECHO_ADDR', '/echo');
    assert.equal(await c.nextText(), 'Please enter your name');
    await c.send('Ann');
    assert.equal(await c.nextText(), 'Hi, Ann!');
    await c.send(Buffer.from([1, 2, 3]), { binary: true }); // skipped by the handler
    await c.send('Ünïcødé 😀');
    assert.equal(await c.nextText(), 'Hi, Ünïcødé 😀!');
    await c.send('BYE');
    const close = await c.closed();
    assert.deepEqual(close, { code: 1000, reason: 'Client said BYE' });
    assert.equal(c.queue.length, 0, 'nothing after the close');
  });

  for (const [name, path, greets] of [
    ['WS_ECHO_ADDR', '/echo', true],
    ['WS_CONFORMANCE_ADDR', '/echo', false],
    ['WS_LIFECYCLE_ADDR', '/echo', false],
  ]) {
    test(`close reasons from the client are answered (${name})`, async () => {
      for (const [code, reason] of [[4000, 'done'], [1000, ''], [3000, 'x'.repeat(123)]]) {
        const c = await plain(name, path);
        if (greets) assert.equal(await c.nextText(), 'Please enter your name');
        await c.send('hi');
        await c.next();
        c.ws.close(code, reason);
        const close = await c.closed();
        // ws reports the code of the close frame the server sent back.
        assert.deepEqual(close, { code, reason }, `closed with ${code} "${reason}", got ${JSON.stringify(close)}`);
      }
    });
  }

  test('lifecycle: a binary frame is closed with 1003', async () => {
    const c = await plain('WS_LIFECYCLE_ADDR', '/echo');
    await c.send('hello');
    assert.equal(await c.nextText(), 'hello');
    await c.send(Buffer.from([0xde, 0xad]), { binary: true });
    const close = await c.closed();
    assert.equal(close.code, 1003, JSON.stringify(close));
    assert.match(close.reason, /^only text frames are accepted/);
  });

  test('invalid UTF-8 in a text message is closed with 1007', async () => {
    const c = await plain('WS_CONFORMANCE_ADDR', '/echo');
    await c.send('fine');
    assert.equal(await c.nextText(), 'fine');
    // ws does not validate what it sends: a text frame with bytes that are not UTF-8.
    await c.send(Buffer.from([0x6f, 0x6b, 0xc3, 0x28]), { binary: false });
    const close = await c.closed();
    assert.equal(close.code, 1007, JSON.stringify(close));
  });

  test('chat: everyone gets every line, leavers do not disturb the rest', async () => {
    const chat = url('WS_CHAT_ADDR', '/chat');
    const join = async () => {
      const c = await Client.open(chat, { perMessageDeflate: false });
      const greeting = await c.nextText();
      const m = /^You are connected! There are (\d+) users here\.$/.exec(greeting);
      assert.ok(m, `greeting: ${greeting}`);
      return [c, Number(m[1])];
    };
    const said = async (c, text) => {
      const line = await c.nextText();
      const m = /^\[(user\d+)\]: ([\s\S]*)$/.exec(line);
      assert.ok(m && m[2] === text, `expected "[userN]: ${text}", got ${JSON.stringify(line)}`);
      return m[1];
    };
    const [a, n] = await join();
    const [b, nb] = await join();
    const [c, nc] = await join();
    const all = [a, b, c];
    try {
      assert.deepEqual([nb, nc], [n + 1, n + 2]);
      await a.send('hello from A');
      const nameA = new Set(await Promise.all(all.map((x) => said(x, 'hello from A'))));
      assert.equal(nameA.size, 1);
      await b.send('from B ✓');
      const nameB = new Set(await Promise.all(all.map((x) => said(x, 'from B ✓'))));
      assert.equal(nameB.size, 1);
      assert.notDeepEqual([...nameA], [...nameB]);
      // B leaves by dropping the TCP connection, without a close frame.
      b.terminate();
      await b.closed();
      await c.send('after B vanished');
      for (const x of [a, c]) await said(x, 'after B vanished');
      // C leaves cleanly.
      c.ws.close(1000, 'bye all');
      assert.equal((await c.closed()).code, 1000);
      await a.send('alone?');
      await said(a, 'alone?');
      const [d, nd] = await join();
      all.push(d);
      assert.equal(nd, n + 1, `B and C left, D joined: ${nd} users, expected ${n + 1}`);
      await d.send('D here');
      for (const x of [a, d]) await said(x, 'D here');
      assert.equal(a.queue.length + d.queue.length, 0, 'stray messages');
    } finally {
      for (const x of all) x.terminate();
    }
  });

  test('client pings get pongs with the same payload', async () => {
    const c = await plain('WS_CONFORMANCE_ADDR', '/echo');
    try {
      for (const payload of [Buffer.alloc(0), Buffer.from('hello'), Buffer.alloc(125, 7)]) {
        const before = c.pongs.length;
        const got = new Promise((resolve) => c.ws.once('pong', resolve));
        c.ws.ping(payload);
        await within(got, 10_000, 'pong');
        assert.equal(c.pongs.length, before + 1);
        assert.ok(c.pongs.at(-1).data.equals(payload), 'pong payload differs');
      }
    } finally {
      c.terminate();
    }
  });

  test('a client that never answers pings is closed with 1011 "Ping timeout"', async () => {
    const c = await plain('WS_PING_ADDR', process.env.WS_PING_PATH ?? '/echo', { autoPong: false });
    try {
      const close = await c.closed(PERIOD + TIMEOUT + 15_000);
      assert.ok(c.pings.length >= 1, 'closed without having been pinged');
      assert.deepEqual(close, { code: 1011, reason: 'Ping timeout' });
      assert.ok(c.pings[0].at <= c.closedAt, 'the close came before the first ping');
    } finally {
      c.terminate();
    }
  });

  test('a client that answers pings stays connected past the timeout', async () => {
    const c = await plain('WS_PING_ADDR', process.env.WS_PING_PATH ?? '/echo');
    try {
      const deadline = Date.now() + PERIOD + TIMEOUT + 15_000;
      // Wait (on events) for a ping that arrives once the first ping's timeout ran out.
      while (!(c.pings.length >= 2 && c.pings.at(-1).at >= c.pings[0].at + TIMEOUT - PERIOD / 2)) {
        assert.equal(c.close, null, `closed: ${JSON.stringify(c.close)}`);
        const left = deadline - Date.now();
        assert.ok(left > 0, `pings seen: ${c.pings.length}`);
        await within(new Promise((r) => c.ws.once('ping', r)), left, 'a later ping');
      }
      assert.equal(c.close, null);
      if (process.env.WS_PING_GREETS === '1') assert.equal(await c.nextText(), 'Please enter your name');
      await c.send('Di');
      assert.ok(['Hi, Di!', 'Di'].includes(await c.nextText()));
    } finally {
      c.terminate();
    }
  });
});
