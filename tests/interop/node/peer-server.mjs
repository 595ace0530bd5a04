// Node `ws` servers for the client suite `client-node`: what tests/it/peer.rs
// connects `ws::client` to. The same paths as python/peer_server.py (see there),
// without the TLS server:
//
//   WS_PEER_ADDR         ws's permessage-deflate with threshold 0 (it answers the
//                        client's bare client_max_window_bits with nothing: 15 bits)
//   WS_PEER_STRICT_ADDR  clientNoContextTakeover, serverNoContextTakeover,
//                        serverMaxWindowBits 10
//   WS_PEER_WINDOW_ADDR  clientMaxWindowBits 9 (context kept)
//
// Prints `WS_PEER_...=ADDR` lines, then `ready`.

import http from 'node:http';
import zlib from 'node:zlib';
import { WebSocketServer } from 'ws';

const closes = new Map();
const waiters = new Set();

function record(id, code, reason) {
  if (id === null) return;
  closes.set(id, `${code} ${reason}`);
  for (const wake of waiters) wake();
}

function frame(first, payload, mask) {
  const n = payload.length;
  let head;
  const maskBit = mask ? 0x80 : 0;
  if (n < 126) head = Buffer.from([first, maskBit | n]);
  else if (n < 65536) {
    head = Buffer.alloc(4);
    head[0] = first;
    head[1] = maskBit | 126;
    head.writeUInt16BE(n, 2);
  } else {
    head = Buffer.alloc(10);
    head[0] = first;
    head[1] = maskBit | 127;
    head.writeBigUInt64BE(BigInt(n), 2);
  }
  if (!mask) return Buffer.concat([head, payload]);
  const masked = Buffer.from(payload.map((b, i) => b ^ mask[i % 4]));
  return Buffer.concat([head, mask, masked]);
}

function bomb() {
  const zeros = Buffer.alloc(100 << 20);
  const out = zlib.deflateRawSync(zeros, { level: 9, finishFlush: zlib.constants.Z_SYNC_FLUSH });
  return out.subarray(0, out.length - 4);
}

const BAD = {
  masked: () => frame(0x81, Buffer.from('masked by the server'), Buffer.from([1, 2, 3, 4])),
  utf8: () => frame(0x81, Buffer.from([0x63, 0x61, 0x66, 0xc3])),
  rsv2: () => frame(0x80 | 0x20 | 0x1, Buffer.from('rsv2')),
  bomb: () => frame(0x80 | 0x40 | 0x2, bomb()),
};

function onConnection(ws, req) {
  const url = new URL(req.url, 'http://localhost');
  const path = url.pathname;
  const id = url.searchParams.get('id');
  if (path === '/echo') {
    ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
    ws.on('close', (code, reason) => record(id, code, reason.toString()));
  } else if (path === '/last-close') {
    const deadline = Date.now() + 10_000;
    const answer = () => {
      if (closes.has(id) || Date.now() >= deadline) {
        waiters.delete(answer);
        ws.send(closes.get(id) ?? 'null not recorded');
        return;
      }
    };
    waiters.add(answer);
    setTimeout(answer, 10_000);
    answer();
  } else if (path === '/headers') {
    ws.send(
      JSON.stringify({
        'x-token': req.headers['x-token'] ?? null,
        protocol: ws.protocol || null,
        extensions: ws.extensions || null,
      }),
    );
  } else if (path.startsWith('/close/')) {
    ws.once('message', () => ws.close(Number(path.slice('/close/'.length)), 'bye from node'));
  } else if (path === '/ping') {
    ws.on('pong', () => ws.send('pong received'));
    ws.ping('are you there');
  } else if (path === '/silent') {
    ws._socket.pause();
    setTimeout(() => ws.terminate(), 10_000);
  } else if (path.startsWith('/bad/')) {
    ws._socket.write(BAD[path.slice('/bad/'.length)]());
    ws.on('error', () => {});
    ws.on('close', (code, reason) => record(id, code, reason.toString()));
  } else {
    ws.close(4404, `no such path ${path}`);
  }
}

function start(perMessageDeflate) {
  const server = http.createServer((req, res) => {
    res.writeHead(426).end();
  });
  const wss = new WebSocketServer({
    noServer: true,
    perMessageDeflate,
    maxPayload: 16 << 20,
    handleProtocols: (protocols) => (protocols.has('chat.v1') ? 'chat.v1' : false),
  });
  wss.on('headers', (headers, req) => {
    const path = new URL(req.url, 'http://localhost').pathname;
    if (path === '/bad-accept') {
      const i = headers.findIndex((h) => h.toLowerCase().startsWith('sec-websocket-accept:'));
      headers[i] = 'Sec-WebSocket-Accept: c29tZXRoaW5nIGVsc2UgZW50aXJlbHk=';
    } else if (path === '/extra-extension') {
      const i = headers.findIndex((h) => h.toLowerCase().startsWith('sec-websocket-extensions:'));
      if (i >= 0) headers.splice(i, 1);
      headers.push('Sec-WebSocket-Extensions: x-nobody-offered');
    }
  });
  wss.on('connection', onConnection);
  server.on('upgrade', (req, socket, head) => {
    if (new URL(req.url, 'http://localhost').pathname === '/reject') {
      socket.end(
        'HTTP/1.1 403 Forbidden\r\nContent-Type: text/plain\r\nX-Reason: no token\r\nContent-Length: 8\r\nConnection: close\r\n\r\ngo away\n',
      );
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => wss.emit('connection', ws, req));
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

const plain = await start({ threshold: 0 });
const strict = await start({
  threshold: 0,
  serverNoContextTakeover: true,
  clientNoContextTakeover: true,
  serverMaxWindowBits: 10,
});
const window = await start({ threshold: 0, clientMaxWindowBits: 9 });
for (const [name, server] of [
  ['ADDR', plain],
  ['STRICT_ADDR', strict],
  ['WINDOW_ADDR', window],
]) {
  const { address, port } = server.address();
  console.log(`WS_PEER_${name}=${address}:${port}`);
}
console.log('ready');
