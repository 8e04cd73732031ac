// What every service of the modular stack shares: settings from the
// environment, a logger, an HTTP server with /health and /metrics, JSON
// helpers, a proxy, and a graceful stop. Node's standard library only.
import { createServer, request as httpRequest, IncomingMessage, Server, ServerResponse } from "node:http";
import { connect } from "node:net";

export type Level = "debug" | "info" | "warn" | "error";
const LEVELS: Record<Level, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export interface Logger {
  debug(message: string, fields?: Record<string, unknown>): void;
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
  error(message: string, fields?: Record<string, unknown>): void;
}

export function env(name: string, fallback: string): string {
  const value = process.env[name];
  return value === undefined || value === "" ? fallback : value;
}

/** LOG_LEVEL (default info); NODE_ENV=production logs one JSON object a line. */
export function logger(service: string): Logger {
  const threshold = LEVELS[env("LOG_LEVEL", "info") as Level] ?? LEVELS.info;
  const json = env("NODE_ENV", "development") === "production";
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

/** The port to listen on: $PORT (devenv gives each local replica its own), else `fallback`. */
export function port(fallback: number): number {
  const value = Number(process.env.PORT);
  return Number.isInteger(value) && value > 0 ? value : fallback;
}

export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const data = JSON.stringify(body);
  res.writeHead(status, { "Content-Type": "application/json", "Content-Length": Buffer.byteLength(data) });
  res.end(data);
}

export async function readJson(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  const text = Buffer.concat(chunks).toString("utf8");
  if (!text) return {};
  try {
    return JSON.parse(text);
  } catch {
    throw new HttpError(400, "the body is not JSON");
  }
}

export class HttpError extends Error {
  constructor(readonly status: number, message: string) {
    super(message);
  }
}

/** GET a URL; the status and the JSON body (null when it is not JSON). */
export function getJson(url: string, timeoutMs = 2000): Promise<{ status: number; body: unknown }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { timeout: timeoutMs }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => {
        let body: unknown = null;
        try {
          body = JSON.parse(Buffer.concat(chunks).toString("utf8"));
        } catch {
          body = null;
        }
        resolve({ status: res.statusCode ?? 0, body });
      });
    });
    req.on("timeout", () => req.destroy(new Error(`${url}: no answer in ${timeoutMs} ms`)));
    req.on("error", reject);
    req.end();
  });
}

/** Whether host:port of a URL accepts a TCP connection (for dependencies we do not speak to). */
export function reachable(url: string, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    let target: URL;
    try {
      target = new URL(url);
    } catch {
      resolve(false);
      return;
    }
    const defaults: Record<string, number> = { "mongodb:": 27017, "http:": 80, "https:": 443, "redis:": 6379 };
    const socket = connect({
      host: target.hostname.replace(/^\[|\]$/g, ""),
      port: Number(target.port) || defaults[target.protocol] || 80,
    });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.on("connect", () => done(true));
    socket.on("error", () => done(false));
  });
}

/** Pass a request on to `target` (a base URL), path and query kept after `strip`. */
export function proxy(req: IncomingMessage, res: ServerResponse, target: string, strip: string, log: Logger): void {
  const path = (req.url ?? "/").slice(strip.length) || "/";
  const url = new URL(path, target.endsWith("/") ? target : target + "/");
  const upstream = httpRequest(
    url,
    { method: req.method, headers: { ...req.headers, host: url.host }, timeout: 10_000 },
    (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
    },
  );
  upstream.on("timeout", () => upstream.destroy(new Error("no answer in 10 s")));
  upstream.on("error", (error) => {
    log.warn("upstream failed", { url: url.toString(), error: error.message });
    if (!res.headersSent) sendJson(res, 502, { error: `upstream ${url.origin}: ${error.message}` });
    else res.destroy();
  });
  req.pipe(upstream);
}

export type Handler = (req: IncomingMessage, res: ServerResponse, url: URL) => Promise<void> | void;

export interface ServiceOptions {
  name: string;
  defaultPort: number;
  log: Logger;
  /** The /health body's checks; healthy when every one is "ok" or starts with "optional". */
  health: () => Promise<Record<string, string>>;
  /** Tries each route in turn; return false to fall through to 404. */
  route: (req: IncomingMessage, res: ServerResponse, url: URL) => Promise<boolean> | boolean;
  onStop?: () => Promise<void>;
}

const VERSION = env("APP_VERSION", "dev");

/** The HTTP server: /health, /metrics (request counts), the routes; stops gracefully on SIGTERM. */
export function serve(options: ServiceOptions): Server {
  const { log } = options;
  let requests = 0;
  let errors = 0;
  const started = Date.now();
  const server = createServer(async (req, res) => {
    const url = new URL(req.url ?? "/", "http://localhost");
    requests += 1;
    try {
      if (req.method === "GET" && url.pathname === "/health") {
        const checks = await options.health();
        const healthy = Object.values(checks).every((v) => v === "ok" || v.startsWith("optional"));
        sendJson(res, healthy ? 200 : 503, {
          status: healthy ? "ok" : "degraded",
          service: options.name,
          version: VERSION,
          pid: process.pid,
          uptime_s: Math.round((Date.now() - started) / 1000),
          ...checks,
        });
        return;
      }
      if (req.method === "GET" && url.pathname === "/metrics") {
        res.writeHead(200, { "Content-Type": "text/plain; version=0.0.4" });
        res.end(
          `# TYPE http_requests_total counter\nhttp_requests_total{service="${options.name}"} ${requests}\n` +
            `# TYPE http_errors_total counter\nhttp_errors_total{service="${options.name}"} ${errors}\n`,
        );
        return;
      }
      if (!(await options.route(req, res, url))) sendJson(res, 404, { error: `no route ${req.method} ${url.pathname}` });
    } catch (error) {
      errors += 1;
      const status = error instanceof HttpError ? error.status : 500;
      if (status === 500) log.error("request failed", { path: url.pathname, error: String(error) });
      if (!res.headersSent) sendJson(res, status, { error: error instanceof Error ? error.message : String(error) });
    }
  });
  const listenPort = port(options.defaultPort);
  const host = env("HOST", "0.0.0.0");
  server.listen(listenPort, host, () => log.info(`${options.name} listening`, { host, port: listenPort, version: VERSION }));
  const stop = (signal: string) => {
    log.info(`${signal}: stopping`);
    server.close(async () => {
      await options.onStop?.();
      process.exit(0);
    });
    server.closeIdleConnections?.();
    setTimeout(() => process.exit(0), 3000).unref();
  };
  process.once("SIGTERM", () => stop("SIGTERM"));
  process.once("SIGINT", () => stop("SIGINT"));
  return server;
}
