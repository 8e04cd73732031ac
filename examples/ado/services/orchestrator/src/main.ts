// orchestrator: coordinates tasks and workers (internal, :9090; a singleton).
// Phase 2 of the start: it applies the database migrations before it answers
// /health, so the api-gateway and the workers, which wait for it, find the
// schema in place.
//
//   POST /tasks              {"prompt": "...", "agent": "..."} -> 201 {"id", "status": "queued"}
//   POST /workers/register   {"id", "port"}: a worker announces itself (and every 10 s after)
//   GET  /workers            the workers seen in the last 30 s
//   GET  /health
import { Pool } from "pg";
import Redis from "ioredis";

import {
  EVENTS,
  closeServer,
  QUEUE,
  WORKERS,
  database,
  health,
  logger,
  onShutdown,
  port,
  readJson,
  redisUrl,
  retry,
  sendJson,
  serve,
} from "../../shared/src/service.js";

const SERVICE = "orchestrator";
const VERSION = "dev";
const log = logger(SERVICE);

// Each migration runs once, in order, in a transaction; applied versions are
// recorded in schema_migrations.
const MIGRATIONS: [number, string][] = [
  [
    1,
    `CREATE TABLE tasks (
       id          BIGSERIAL PRIMARY KEY,
       prompt      TEXT NOT NULL,
       agent       TEXT NOT NULL DEFAULT 'default',
       status      TEXT NOT NULL DEFAULT 'queued',
       result      JSONB,
       worker      TEXT,
       created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
       started_at  TIMESTAMPTZ,
       finished_at TIMESTAMPTZ
     )`,
  ],
  [2, `CREATE INDEX tasks_status ON tasks (status)`],
];

async function migrate(db: Pool): Promise<void> {
  const client = await db.connect();
  try {
    // One migrator at a time, even if a second orchestrator starts by mistake.
    await client.query("SELECT pg_advisory_lock(20240601)");
    await client.query(
      "CREATE TABLE IF NOT EXISTS schema_migrations (version INT PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())",
    );
    const { rows } = await client.query("SELECT version FROM schema_migrations");
    const applied = new Set(rows.map((r) => Number(r.version)));
    for (const [version, sql] of MIGRATIONS) {
      if (applied.has(version)) continue;
      await client.query("BEGIN");
      await client.query(sql);
      await client.query("INSERT INTO schema_migrations (version) VALUES ($1)", [version]);
      await client.query("COMMIT");
      log.info("migration applied", { version });
    }
    log.info("schema is up to date", { version: MIGRATIONS[MIGRATIONS.length - 1][0] });
  } catch (error) {
    await client.query("ROLLBACK").catch(() => undefined);
    throw error;
  } finally {
    await client.query("SELECT pg_advisory_unlock(20240601)").catch(() => undefined);
    client.release();
  }
}

async function liveWorkers(redis: Redis): Promise<Record<string, unknown>[]> {
  const all = await redis.hgetall(WORKERS);
  const now = Date.now();
  return Object.values(all)
    .map((text) => JSON.parse(text) as Record<string, unknown>)
    .filter((w) => now - Number(w.seen) < 30_000);
}

async function main(): Promise<void> {
  const db = new Pool({ ...database(), max: 5 });
  const redis = new Redis(redisUrl(), { maxRetriesPerRequest: 2 });
  redis.on("error", (error) => log.warn("redis", { error: String(error) }));
  await retry(log, "postgres", 60, () => db.query("SELECT 1"));
  await migrate(db);
  await retry(log, "redis", 60, () => redis.ping());

  const server = await serve(log, port(9090), async (req, res, url) => {
    if (url.pathname === "/health" && req.method === "GET") {
      const [code, body] = await health(
        SERVICE,
        VERSION,
        { database: () => db.query("SELECT 1"), redis: () => redis.ping() },
        () => ({}),
      );
      body.workers = (await liveWorkers(redis).catch(() => [])).length;
      return sendJson(res, code, body);
    }
    if (url.pathname === "/tasks" && req.method === "POST") {
      const body = (await readJson(req)) as { prompt?: unknown; agent?: unknown };
      if (typeof body.prompt !== "string" || !body.prompt.trim()) {
        return sendJson(res, 400, { error: 'need {"prompt": "..."}' });
      }
      const agent = typeof body.agent === "string" && body.agent ? body.agent : "default";
      const { rows } = await db.query(
        "INSERT INTO tasks (prompt, agent) VALUES ($1, $2) RETURNING id, status",
        [body.prompt, agent],
      );
      const task = { id: Number(rows[0].id), status: rows[0].status as string };
      await redis.rpush(QUEUE, String(task.id));
      await redis.publish(EVENTS, JSON.stringify({ event: "task.queued", id: task.id, agent }));
      log.info("task queued", { id: task.id, agent });
      return sendJson(res, 201, task);
    }
    if (url.pathname === "/workers/register" && req.method === "POST") {
      const body = (await readJson(req)) as { id?: unknown; port?: unknown };
      if (typeof body.id !== "string") return sendJson(res, 400, { error: 'need {"id": "..."}' });
      const known = await redis.hexists(WORKERS, body.id);
      await redis.hset(WORKERS, body.id, JSON.stringify({ id: body.id, port: body.port, seen: Date.now() }));
      if (!known) log.info("worker registered", { worker: body.id });
      return sendJson(res, 200, { registered: body.id });
    }
    if (url.pathname === "/workers" && req.method === "GET") {
      return sendJson(res, 200, await liveWorkers(redis));
    }
    sendJson(res, 404, { error: "not found" });
  });
  log.info(`${SERVICE} ${VERSION} listening`, { port: port(9090), pid: process.pid });

  onShutdown(log, async () => {
    await closeServer(server);
    redis.disconnect();
    await db.end();
  });
}

main().catch((error) => {
  log.error("cannot start", { error: String(error) });
  process.exit(1);
});
