// dashboard: the web UI (:8080). Phase 5 of the start: it waits for the
// api-gateway, then serves a page of the latest tasks with a form to add one.
// Requests to /api/* are passed to the api-gateway, so the page works the same
// behind nginx in production and on its own port in development.
import { IncomingMessage, ServerResponse } from "node:http";

import { closeServer, env, getJson, health, logger, onShutdown, port, retry, sendJson, serve } from "../../shared/src/service.js";

const SERVICE = "dashboard";
const VERSION = "dev";
const TITLE = "ADO dashboard";
const log = logger(SERVICE);

interface Task {
  id: number;
  prompt: string;
  agent: string;
  status: string;
  worker: string | null;
}

function escape(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function page(tasks: Task[]): string {
  const rows = tasks
    .map(
      (t) =>
        `<tr><td>${t.id}</td><td>${escape(t.prompt)}</td><td>${escape(t.agent)}</td>` +
        `<td class="${escape(t.status)}">${escape(t.status)}</td><td>${escape(t.worker ?? "")}</td></tr>`,
    )
    .join("\n");
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${TITLE}</title>
<style>body{font:14px system-ui;margin:2em}td,th{padding:.3em .8em;text-align:left}.done{color:green}.failed{color:red}</style>
</head><body>
<h1>${TITLE}</h1>
<form id="new"><input name="prompt" size="60" placeholder="What should an agent do?" required> <button>Queue task</button></form>
<table><thead><tr><th>id</th><th>prompt</th><th>agent</th><th>status</th><th>worker</th></tr></thead>
<tbody>
${rows}
</tbody></table>
<script>
document.getElementById("new").addEventListener("submit", async (e) => {
  e.preventDefault();
  await fetch("/api/tasks", {method: "POST", headers: {"Content-Type": "application/json"},
    body: JSON.stringify({prompt: new FormData(e.target).get("prompt")})});
  location.reload();
});
setTimeout(() => location.reload(), 5000);
</script>
</body></html>`;
}

/** Pass a request on to the api-gateway and its answer back. */
async function proxy(api: string, req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  const upstream = await fetch(api + url.pathname + url.search, {
    method: req.method,
    headers: { "Content-Type": req.headers["content-type"] ?? "application/json" },
    body: chunks.length ? Buffer.concat(chunks) : undefined,
    signal: AbortSignal.timeout(10_000),
  });
  const body = Buffer.from(await upstream.arrayBuffer());
  res.writeHead(upstream.status, { "Content-Type": upstream.headers.get("content-type") ?? "application/json" });
  res.end(body);
}

async function main(): Promise<void> {
  const api = env("API_URL", "http://api-gateway:3000");
  await retry(log, `the api-gateway at ${api}`, 120, () => getJson(`${api}/health`));
  log.info("api-gateway is up", { url: api });

  const server = await serve(log, port(8080), async (req, res, url) => {
    if (url.pathname === "/health" && req.method === "GET") {
      const [code, body] = await health(SERVICE, VERSION, { api: () => getJson(`${api}/health`) });
      return sendJson(res, code, body);
    }
    if (url.pathname.startsWith("/api/")) return proxy(api, req, res, url);
    if (url.pathname === "/" && req.method === "GET") {
      const tasks = (await getJson(`${api}/api/tasks`)) as Task[];
      const html = page(tasks);
      res.writeHead(200, { "Content-Type": "text/html; charset=utf-8", "Content-Length": Buffer.byteLength(html) });
      return void res.end(html);
    }
    sendJson(res, 404, { error: "not found" });
  });
  log.info(`${SERVICE} ${VERSION} listening`, { port: port(8080), pid: process.pid });
  onShutdown(log, () => closeServer(server));
}

main().catch((error) => {
  log.error("cannot start", { error: String(error) });
  process.exit(1);
});
