// The reference y-websocket server (@y/websocket-server 0.1.1, in memory, no auth) on a `ws`
// WebSocketServer. Prints {"url":"ws://127.0.0.1:PORT"} as one JSON line once listening.
//
//   node reference-server.mjs [--port N] [--host 127.0.0.1]     (port 0 = a free port; default 0)
//
// It takes the room from the request path (everything before `?`) and ignores the token. Rooms
// stay in memory after every client left (no persistence is configured). Stops on SIGINT/SIGTERM.
import http from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { WebSocketServer } from 'ws';
import { setupWSConnection } from '@y/websocket-server/utils';

export function startReferenceServer({ port = 0, host = '127.0.0.1' } = {}) {
  return new Promise((resolve, reject) => {
    const server = http.createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end('okay');
    });
    const wss = new WebSocketServer({ noServer: true });
    wss.on('connection', setupWSConnection);
    server.on('upgrade', (req, socket, head) => {
      wss.handleUpgrade(req, socket, head, (ws) => wss.emit('connection', ws, req));
    });
    server.once('error', reject);
    server.listen(port, host, () => {
      const url = `ws://${host}:${server.address().port}`;
      resolve({
        url,
        close: () => new Promise((r) => {
          for (const c of wss.clients) c.terminate();
          wss.close();
          server.close(() => r());
        }),
      });
    });
  });
}

const isMain = process.argv[1] !== undefined && fileURLToPath(import.meta.url) === path.resolve(process.argv[1]);
if (isMain) {
  const args = process.argv.slice(2);
  const opt = (name, dflt) => {
    const i = args.indexOf(`--${name}`);
    return i >= 0 && args[i + 1] !== undefined ? args[i + 1] : dflt;
  };
  const { url } = await startReferenceServer({ port: Number(opt('port', 0)), host: opt('host', '127.0.0.1') });
  process.stdout.write(`${JSON.stringify({ url })}\n`);
  for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => process.exit(0));
}
