// api-gateway: the entry point for API requests (:3000) and for live task
// events over a WebSocket (:3001). Phase 3 of the start: it waits until the
// orchestrator answers /health before it listens.
//
//   POST /api/tasks      {"prompt": "...", "agent": "..."} -> 202 {"id", "status": "queued"}
//   GET  /api/tasks      the 20 latest tasks
//   GET  /api/tasks/{id} a task, with its result once a worker has done it
//   GET  /health
//   ws://host:3001/      every task event (queued, running, done), as JSON
import { Pool } from "pg";
import Redis from "ioredis";
import { WebSocketServer } from "ws";

import {
  EVENTS,
  closeServer,
  database,
  env,
  getJson,
  health,
  logger,
  onShutdown,
  port,
  postJson,
  readJson,
  redisUrl,
  retry,
  sendJson,
  serve,
} from "../../shared/src/service.js";

const SERVICE = "api-gateway";
const VERSION = "dev";
const log = logger(SERVICE);

async function main(): Promise<void> {
  const orchestrator = env("ORCHESTRATOR_URL", "http://orchestrator:9090");
  const db = new Pool({ ...database(), max: 10 });
  const redis = new Redis(redisUrl(), { maxRetriesPerRequest: 2 });
  redis.on("error", (error) => log.warn("redis", { error: String(error) }));
  await retry(log, "postgres", 60, () => db.query("SELECT 1"));
  await retry(log, "redis", 60, () => redis.ping());
  await retry(log, `the orchestrator at ${orchestrator}`, 120, () => getJson(`${orchestrator}/health`));
  log.info("orchestrator is up", { url: orchestrator });

  const apiPort = port(3000);
  // Task events from Redis to every WebSocket client (a subscribed ioredis
  // connection can do nothing else, hence the second one).
  const wsPort = Number(env("WS_PORT", String(apiPort + 1)));
  const sockets = new WebSocketServer({ port: wsPort });
  sockets.on("connection", (socket, req) => {
    log.info("websocket client connected", { from: req.socket.remoteAddress, clients: sockets.clients.size });
    socket.on("close", () => log.info("websocket client left", { clients: sockets.clients.size }));
  });
  const subscriber = new Redis(redisUrl());
  subscriber.on("error", (error) => log.warn("redis subscriber", { error: String(error) }));
  await subscriber.subscribe(EVENTS);
  subscriber.on("message", (_channel, message) => {
    for (const client of sockets.clients) if (client.readyState === client.OPEN) client.send(message);
  });
  const server = await serve(log, apiPort, async (req, res, url) => {
    if (url.pathname === "/health" && req.method === "GET") {
      const [code, body] = await health(SERVICE, VERSION, {
        database: () => db.query("SELECT 1"),
        redis: () => redis.ping(),
        orchestrator: () => getJson(`${orchestrator}/health`),
      }, () => ({ websocket_clients: sockets.clients.size }));
      return sendJson(res, code, body);
    }
    if (url.pathname === "/api/tasks" && req.method === "POST") {
      const [status, body] = await postJson(`${orchestrator}/tasks`, await readJson(req));
      if (status === 201) log.info("task accepted", { id: (body as { id: number }).id });
      return sendJson(res, status === 201 ? 202 : status, body);
    }
    if (url.pathname === "/api/tasks" && req.method === "GET") {
      const { rows } = await db.query(
        "SELECT id, prompt, agent, status, worker, created_at, finished_at FROM tasks ORDER BY id DESC LIMIT 20",
      );
      return sendJson(res, 200, rows.map((r) => ({ ...r, id: Number(r.id) })));
    }
    const match = /^\/api\/tasks\/(\d+)$/.exec(url.pathname);
    if (match && req.method === "GET") {
      const { rows } = await db.query("SELECT * FROM tasks WHERE id = $1", [match[1]]);
      if (rows.length === 0) return sendJson(res, 404, { error: "no such task" });
      return sendJson(res, 200, { ...rows[0], id: Number(rows[0].id) });
    }
    sendJson(res, 404, { error: "not found" });
  });

  log.info(`${SERVICE} ${VERSION} listening`, { port: apiPort, websocket: wsPort, pid: process.pid });

  onShutdown(log, async () => {
    for (const client of sockets.clients) client.close(1001, "api-gateway stopping");
    await new Promise((resolve) => sockets.close(resolve));
    await closeServer(server);
    subscriber.disconnect();
    redis.disconnect();
    await db.end();
  });
}

main().catch((error) => {
  log.error("cannot start", { error: String(error) });
  process.exit(1);
});
