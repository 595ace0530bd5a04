// Node `ws` peer for the benchmark, the way its README shows a server.
//
//   node server.js PORT [--deflate]
//
// /echo: text back as text, binary as binary. /chat: every text message to every
// connected /chat client, sender included. --deflate: permessage-deflate with
// threshold 0 (compress every message), otherwise no extension.
'use strict';
const http = require('http');
const { WebSocketServer, WebSocket } = require('ws');

const port = Number(process.argv[2] || 8080);
const deflate = process.argv.includes('--deflate');

const server = http.createServer((req, res) => {
  res.writeHead(404);
  res.end();
});
const wss = new WebSocketServer({
  noServer: true,
  perMessageDeflate: deflate ? { threshold: 0 } : false,
});
const chat = new Set();

server.on('upgrade', (req, socket, head) => {
  const path = req.url.split('?')[0];
  if (path !== '/echo' && path !== '/chat') {
    socket.destroy();
    return;
  }
  wss.handleUpgrade(req, socket, head, (ws) => {
    if (path === '/echo') {
      ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
    } else {
      chat.add(ws);
      ws.on('message', (data, isBinary) => {
        if (isBinary) return;
        for (const client of chat) {
          if (client.readyState === WebSocket.OPEN) client.send(data, { binary: false });
        }
      });
      ws.on('close', () => chat.delete(ws));
    }
    ws.on('error', () => {});
  });
});

server.listen(port, '127.0.0.1', () => {
  console.log(`Listening on http://127.0.0.1:${server.address().port}`);
});
