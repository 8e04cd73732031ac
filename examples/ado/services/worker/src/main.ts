// worker: runs AI agents on tasks (health on :9091; 1 replica in development,
// 3 in staging, 5 in production). Phase 4 of the start: it registers with the
// orchestrator (and again every 10 s), then takes task ids from the Redis
// queue, one at a time, and writes each result to PostgreSQL.
//
// The agent is a stand-in: no AI provider is called. It answers from the
// prompt itself (a summary and counts), so the whole path is real: queue,
// database, events.
import { hostname } from "node:os";
import { Pool } from "pg";
import Redis from "ioredis";

import {
  EVENTS,
  QUEUE,
  closeServer,
  database,
  env,
  health,
  logger,
  onShutdown,
  port,
  postJson,
  redisUrl,
  retry,
  sendJson,
  serve,
} from "../../shared/src/service.js";

const SERVICE = "worker";
const VERSION = "dev";
const log = logger(SERVICE);

/** The stand-in agent: what a model would be asked, answered locally. */
function runAgent(prompt: string, agent: string): Record<string, unknown> {
  const words = prompt.split(/\s+/).filter(Boolean);
  const provider = ["ANTHROPIC_API_KEY", "OPENAI_API_KEY", "GOOGLE_AI_API_KEY"].find((k) => process.env[k]);
  return {
    agent,
    provider: provider ? `${provider.replace("_API_KEY", "").toLowerCase()} (stand-in, not called)` : "stand-in",
    summary: words.slice(0, 8).join(" ") + (words.length > 8 ? " ..." : ""),
    words: words.length,
    upper: prompt.toUpperCase(),
  };
}

async function main(): Promise<void> {
  const orchestrator = env("ORCHESTRATOR_URL", "http://orchestrator:9090");
  const healthPort = port(9091);
  const id = `${hostname()}:${process.pid}`;
  const db = new Pool({ ...database(), max: 2 });
  const redis = new Redis(redisUrl(), { maxRetriesPerRequest: 2 });
  const queue = new Redis(redisUrl()); // BLPOP blocks its connection
  for (const r of [redis, queue]) r.on("error", (error) => log.warn("redis", { error: String(error) }));
  await retry(log, "postgres", 60, () => db.query("SELECT 1"));
  await retry(log, "redis", 60, () => redis.ping());

  const register = async () => {
    const [status] = await postJson(`${orchestrator}/workers/register`, { id, port: healthPort });
    if (status !== 200) throw new Error(`the orchestrator answered ${status}`);
  };
  await retry(log, `the orchestrator at ${orchestrator}`, 120, register);
  log.info("registered with the orchestrator", { worker: id });
  const heartbeat = setInterval(() => {
    register().catch((error) => log.warn("heartbeat failed", { error: String(error) }));
  }, 10_000);

  let handled = 0;
  let busy = false;
  const server = await serve(log, healthPort, async (req, res, url) => {
    if (url.pathname === "/health" && req.method === "GET") {
      const [code, body] = await health(
        SERVICE,
        VERSION,
        { database: () => db.query("SELECT 1"), redis: () => redis.ping() },
        () => ({ worker: id, handled, busy }),
      );
      return sendJson(res, code, body);
    }
    sendJson(res, 404, { error: "not found" });
  });
  log.info(`${SERVICE} ${VERSION} listening`, { port: healthPort, pid: process.pid });

  let running = true;
  const loop = (async () => {
    log.info("waiting for tasks", { queue: QUEUE });
    while (running) {
      let item: [string, string] | null;
      try {
        item = await queue.blpop(QUEUE, 1);
      } catch (error) {
        if (running) log.warn("taking a task failed", { error: String(error) });
        await new Promise((r) => setTimeout(r, 1000));
        continue;
      }
      if (!item) continue;
      busy = true;
      const taskId = item[1];
      try {
        const { rows } = await db.query(
          "UPDATE tasks SET status = 'running', worker = $2, started_at = now() WHERE id = $1 RETURNING prompt, agent",
          [taskId, id],
        );
        if (rows.length === 0) {
          log.warn("no such task", { id: taskId });
          continue;
        }
        await redis.publish(EVENTS, JSON.stringify({ event: "task.running", id: Number(taskId), worker: id }));
        const result = runAgent(rows[0].prompt, rows[0].agent);
        await db.query("UPDATE tasks SET status = 'done', result = $2, finished_at = now() WHERE id = $1", [
          taskId,
          JSON.stringify(result),
        ]);
        await redis.publish(EVENTS, JSON.stringify({ event: "task.done", id: Number(taskId), worker: id }));
        handled += 1;
        log.info("task done", { id: Number(taskId), words: result.words });
      } catch (error) {
        log.error("task failed", { id: taskId, error: String(error) });
        await db
          .query("UPDATE tasks SET status = 'failed', result = $2, finished_at = now() WHERE id = $1", [
            taskId,
            JSON.stringify({ error: String(error) }),
          ])
          .catch(() => undefined);
      } finally {
        busy = false;
      }
    }
  })();

  onShutdown(log, async () => {
    running = false; // the task in hand is finished first
    clearInterval(heartbeat);
    await loop;
    await closeServer(server);
    queue.disconnect();
    redis.disconnect();
    await db.end();
  });
}

main().catch((error) => {
  log.error("cannot start", { error: String(error) });
  process.exit(1);
});
