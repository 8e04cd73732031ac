// What every ADO service shares: settings from the environment, a logger, the
// HTTP server with /health and a graceful stop. Node's standard library only,
// so that each service's bundle pulls in just the packages it uses itself.
import { createServer, IncomingMessage, Server, ServerResponse } from "node:http";

export type Level = "debug" | "info" | "warn" | "error";
const LEVELS: Record<Level, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export interface Logger {
  debug(message: string, fields?: Record<string, unknown>): void;
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
  error(message: string, fields?: Record<string, unknown>): void;
}

/** LOG_LEVEL (default info) and LOG_FORMAT: `json` (one object a line, the
 * production format) or `pretty` (time, level, message, fields). */
export function logger(service: string): Logger {
  const threshold = LEVELS[(process.env.LOG_LEVEL as Level) ?? "info"] ?? LEVELS.info;
  const json = (process.env.LOG_FORMAT ?? "json") === "json";
  const write = (level: Level, message: string, fields: Record<string, unknown> = {}) => {
    if (LEVELS[level] < threshold) return;
    const time = new Date().toISOString();
    if (json) {
      process.stdout.write(JSON.stringify({ time, level, service, msg: message, ...fields }) + "\n");
      return;
    }
    const extra = Object.entries(fields)
      .map(([k, v]) => `${k}=${typeof v === "string" ? v : JSON.stringify(v)}`)
      .join(" ");
    process.stdout.write(`${time.slice(11, 23)} ${level.toUpperCase().padEnd(5)} ${message}${extra ? " " + extra : ""}\n`);
  };
  return {
    debug: (m, f) => write("debug", m, f),
    info: (m, f) => write("info", m, f),
    warn: (m, f) => write("warn", m, f),
    error: (m, f) => write("error", m, f),
  };
}

export function env(name: string, fallback: string): string {
  const value = process.env[name];
  return value === undefined || value === "" ? fallback : value;
}

/** The port to listen on: $PORT (devenv gives each replica its own), else `fallback`. */
export function port(fallback: number): number {
  const value = Number(process.env.PORT);
  return Number.isInteger(value) && value > 0 ? value : fallback;
}

/** PostgreSQL settings, as the compose files pass them (DB_HOST, DB_PORT, ...). */
export function database() {
  return {
    host: env("DB_HOST", "postgres"),
    port: Number(env("DB_PORT", "5432")),
    database: env("DB_NAME", "ado"),
    user: env("DB_USER", "ado"),
    password: env("DB_PASSWORD", "ado"),
  };
}

export function redisUrl(): string {
  return env("REDIS_URL", "redis://redis:6379");
}

export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const data = JSON.stringify(body);
  res.writeHead(status, {
    "Content-Type": "application/json",
    "Content-Length": Buffer.byteLength(data),
    "Access-Control-Allow-Origin": env("CORS_ORIGINS", "*"),
  });
  res.end(data);
}

export async function readJson(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  const text = Buffer.concat(chunks).toString("utf8");
  return text ? JSON.parse(text) : {};
}

export type Check = () => Promise<unknown>;

/** GET /health: 200 {"status": "ok", ...} when every check resolves, else 503
 * naming what failed. The pid and version tell one instance from the next. */
export async function health(
  service: string,
  version: string,
  checks: Record<string, Check>,
  extra: () => Record<string, unknown> = () => ({}),
): Promise<[number, Record<string, unknown>]> {
  const body: Record<string, unknown> = {
    service,
    version,
    release: env("ADO_VERSION", "dev"),
    pid: process.pid,
  };
  let ok = true;
  await Promise.all(
    Object.entries(checks).map(async ([name, check]) => {
      try {
        await withTimeout(check(), 2000);
        body[name] = "ok";
      } catch (error) {
        ok = false;
        body[name] = String((error as Error).message ?? error);
      }
    }),
  );
  Object.assign(body, extra());
  body.status = ok ? "ok" : "degraded";
  return [ok ? 200 : 503, body];
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no answer in ${ms} ms`)), ms);
    promise.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (error) => {
        clearTimeout(timer);
        reject(error);
      },
    );
  });
}

export type Handler = (req: IncomingMessage, res: ServerResponse, url: URL) => Promise<void> | void;

/** An HTTP server on `port` whose errors become 500s (and a log line). */
export function serve(log: Logger, listenPort: number, handler: Handler): Promise<Server> {
  const server = createServer(async (req, res) => {
    const url = new URL(req.url ?? "/", "http://localhost");
    try {
      await handler(req, res, url);
    } catch (error) {
      log.error("request failed", { method: req.method, path: url.pathname, error: String(error) });
      if (!res.headersSent) sendJson(res, 500, { error: String(error) });
      else res.end();
    }
  });
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(listenPort, () => resolve(server));
  });
}

/** Run `stop` on SIGTERM/SIGINT (how devenv and Docker stop a service), then exit. */
export function onShutdown(log: Logger, stop: () => Promise<void>): void {
  let stopping = false;
  const handle = (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info("stopping", { signal });
    const force = setTimeout(() => process.exit(1), 5000);
    force.unref();
    stop()
      .catch((error) => log.error("stopping failed", { error: String(error) }))
      .finally(() => {
        log.info("stopped");
        process.exit(0);
      });
  };
  process.on("SIGTERM", () => handle("SIGTERM"));
  process.on("SIGINT", () => handle("SIGINT"));
}

/** Retry `attempt` every 500 ms until it resolves or `seconds` pass. */
export async function retry<T>(log: Logger, what: string, seconds: number, attempt: () => Promise<T>): Promise<T> {
  const deadline = Date.now() + seconds * 1000;
  let warned = false;
  for (;;) {
    try {
      return await attempt();
    } catch (error) {
      if (Date.now() > deadline) throw new Error(`${what}: ${String((error as Error).message ?? error)}`);
      if (!warned) log.info(`waiting for ${what}`, { error: String((error as Error).message ?? error) });
      warned = true;
      await new Promise((r) => setTimeout(r, 500));
    }
  }
}

/** GET a URL with a timeout; resolves to the parsed JSON body, rejects on a non-2xx. */
export async function getJson(url: string, timeoutMs = 3000): Promise<unknown> {
  const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
  if (!res.ok) throw new Error(`${url} answered ${res.status}`);
  return res.json();
}

export async function postJson(url: string, body: unknown, timeoutMs = 5000): Promise<[number, unknown]> {
  const res = await fetch(url, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(timeoutMs),
  });
  return [res.status, await res.json()];
}

// Redis keys the services talk through.
export const QUEUE = "ado:queue"; // task ids for the workers (orchestrator -> worker)
export const EVENTS = "ado:events"; // pub/sub: task events (orchestrator, worker -> api-gateway)
export const WORKERS = "ado:workers"; // hash: worker id -> registration (worker -> orchestrator)

/** Stop accepting connections and end the idle keep-alive ones (Node 18's
 * close() would otherwise wait for them). */
export function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeIdleConnections();
  });
}
