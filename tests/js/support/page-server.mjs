// Serves the built example page (examples/react-chat/dist) and passes /api to the service, as a page's own host
// or the Vite dev server would: one origin for the page and its API, streams passed through as they come.
import http from 'node:http';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const distDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../examples/react-chat/dist');
const types = { '.html': 'text/html', '.js': 'text/javascript', '.css': 'text/css' };

export async function startPageServer(serviceUrl) {
  const target = new URL(serviceUrl);
  const server = http.createServer(async (req, res) => {
    if (req.url.startsWith('/api/')) {
      const upstream = http.request({ host: target.hostname, port: target.port, path: req.url, method: req.method, headers: req.headers }, (answer) => {
        res.writeHead(answer.statusCode, answer.headers);
        answer.pipe(res);
      });
      upstream.on('error', () => res.destroy());
      res.on('close', () => upstream.destroy());
      req.pipe(upstream);
      return;
    }
    const file = path.join(distDir, new URL(req.url, 'http://page').pathname === '/' ? 'index.html' : new URL(req.url, 'http://page').pathname);
    try {
      const body = await readFile(file);
      res.writeHead(200, { 'content-type': types[path.extname(file)] ?? 'application/octet-stream' });
      res.end(body);
    } catch {
      res.writeHead(404).end();
    }
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${server.address().port}`,
    close: async () => { server.closeAllConnections(); await new Promise((r) => server.close(r)); },
  };
}
