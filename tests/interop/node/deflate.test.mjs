// permessage-deflate (RFC 7692) against the `deflate` example's echo, with Node `ws`
// as the client: negotiation, every kind of message 0 B to 1 MiB whole and fragmented,
// many in a row (context takeover), and the bytes on the wire to prove compression.
//
// Server: WS_DEFLATE_ADDR, path WS_DEFLATE_PATH (default /echo).

import assert from 'node:assert/strict';
import { after, test } from 'node:test';

import { Client, allKinds, compressibleBytes, randomBytes, randomText, same, sendMessage, url } from './common.mjs';

after(() => Client.terminateAll());

const target = () => url('WS_DEFLATE_ADDR', process.env.WS_DEFLATE_PATH ?? '/echo');
const MAX = 4 << 20;

/** ws offers permessage-deflate; threshold 0 makes it compress every message. */
function open(perMessageDeflate = {}) {
  return Client.open(target(), { perMessageDeflate: { threshold: 0, ...perMessageDeflate }, maxPayload: MAX });
}

function negotiated(client) {
  assert.equal(client.ws.extensions, 'permessage-deflate', `negotiated: "${client.ws.extensions}"`);
  return client.ws._extensions['permessage-deflate'].params;
}

async function roundTrip(client, label, m) {
  await sendMessage(client, m);
  same(await client.next(), m, label);
}

test('negotiates permessage-deflate', async () => {
  const c = await open();
  try {
    const params = negotiated(c);
    assert.equal(typeof params, 'object');
    await roundTrip(c, 'hello', { text: 'hello' });
  } finally {
    c.terminate();
  }
});

test('every kind round-trips whole, 0 B to 1 MiB', async () => {
  const c = await open();
  try {
    negotiated(c);
    for (const [label, m] of allKinds()) await roundTrip(c, label, m);
  } finally {
    c.terminate();
  }
});

test('fragmented messages round-trip (send(chunk, {fin: false}) ...)', async () => {
  const c = await open();
  try {
    negotiated(c);
    const plans = [[0], [1], [1, 0, 1, 0], [3, 5, 7], [16384, 16384, 16384, 16384, 65536]];
    let i = 0;
    for (const [label, m] of allKinds([0, 1, 5, 1024, 70_000, 1 << 20])) {
      // Text is cut at byte offsets, so fragments may split a multi-byte character:
      // only the whole message has to be valid UTF-8 (RFC 6455 §5.6).
      const bytes = 'text' in m ? Buffer.from(m.text) : m.binary;
      const binary = 'binary' in m;
      const plan = plans[i++ % plans.length];
      let pos = 0;
      for (const n of plan) {
        await c.send(bytes.subarray(pos, Math.min(pos + n, bytes.length)), { binary, fin: false });
        pos = Math.min(pos + n, bytes.length);
      }
      await c.send(bytes.subarray(pos), { binary, fin: true });
      same(await c.next(), m, `${label} in ${plan.length + 1} fragments`);
    }
  } finally {
    c.terminate();
  }
});

test('many messages in a row, pipelined (context takeover both ways)', async () => {
  const c = await open();
  try {
    negotiated(c);
    const pool = allKinds([0, 7, 200, 1500, 20_000, 100_000]);
    const rnd = randomBytes(300, 99);
    const batch = Array.from({ length: 300 }, (_, i) => pool[rnd[i] % pool.length]);
    const sending = Promise.all(batch.map(([, m]) => sendMessage(c, m)));
    for (const [label, m] of batch) same(await c.next(), m, label);
    await sending;
  } finally {
    c.terminate();
  }
});

test('1 MiB of compressible data is compressed on the wire in both directions', async () => {
  const c = await open();
  try {
    negotiated(c);
    for (const m of [{ text: compressibleBytes(1 << 20).toString() }, { binary: compressibleBytes(1 << 20) }]) {
      const before = c.wire();
      await roundTrip(c, 'compressible 1 MiB', m);
      const after = c.wire();
      const down = after.read - before.read;
      const up = after.written - before.written;
      console.log(`# 1 MiB ${'text' in m ? 'text' : 'binary'}: ${up} bytes up, ${down} bytes down`);
      assert.ok(up < (1 << 20) / 20, `ws sent ${up} bytes for 1 MiB of compressible data`);
      assert.ok(down < (1 << 20) / 20, `the server sent ${down} bytes for 1 MiB of compressible data: not compressed`);
    }
  } finally {
    c.terminate();
  }
});

test('no context takeover and small windows, as the client asks', async () => {
  const c = await open({
    serverNoContextTakeover: true,
    clientNoContextTakeover: true,
    serverMaxWindowBits: 10,
    clientMaxWindowBits: 9,
  });
  try {
    const params = negotiated(c);
    assert.equal(params.server_no_context_takeover, true, JSON.stringify(params));
    assert.ok(Number(params.server_max_window_bits) <= 10, JSON.stringify(params));
    const blob = randomBytes(16384, 5);
    const doubled = Buffer.concat([blob, blob]); // 16 KiB back: outside a 1 KiB window
    const sizes = [];
    for (let i = 0; i < 3; i++) {
      const before = c.wire().read;
      await roundTrip(c, `doubled random #${i}`, { binary: doubled });
      sizes.push(c.wire().read - before);
    }
    // Neither the window (1 KiB) nor the previous message (no takeover) may be referenced.
    for (const s of sizes) assert.ok(s > 30_000, `wire sizes ${sizes}: back-references beyond the negotiated limits?`);
    for (const [label, m] of allKinds([0, 3, 1500, 65536])) await roundTrip(c, label, m);
    await roundTrip(c, 'random text', { text: randomText(200_000, 3) });
  } finally {
    c.terminate();
  }
});

test('with context takeover a repeated message costs almost nothing from the server', async () => {
  const c = await open();
  try {
    const params = negotiated(c);
    // 1 KiB: within the smallest window the server may compress with unannounced (a
    // server may not name server_max_window_bits unless offered; ws's memory = Small
    // compresses with 2 KiB).
    const blob = randomBytes(1024, 11);
    const sizes = [];
    for (let i = 0; i < 3; i++) {
      const before = c.wire().read;
      await roundTrip(c, `repeat #${i}`, { binary: blob });
      sizes.push(c.wire().read - before);
    }
    if (params.server_no_context_takeover) {
      assert.ok(sizes[1] > sizes[0] * 0.9, `sizes ${sizes}`);
    } else {
      assert.ok(sizes[1] < sizes[0] / 4 && sizes[2] < sizes[0] / 4, `takeover on, yet wire sizes ${sizes}`);
    }
  } finally {
    c.terminate();
  }
});

test('a client that offers no extension still gets plain echoes', async () => {
  const c = await Client.open(target(), { perMessageDeflate: false, maxPayload: MAX });
  try {
    assert.equal(c.ws.extensions, '');
    const m = { binary: compressibleBytes(100_000) };
    const before = c.wire().read;
    await roundTrip(c, 'uncompressed 100 kB', m);
    assert.ok(c.wire().read - before >= 100_000, 'the server compressed for a client that did not negotiate it');
  } finally {
    c.terminate();
  }
});
