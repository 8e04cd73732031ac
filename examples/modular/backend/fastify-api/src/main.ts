// fastify-api (port 4002): the AI/ML processing service, laid out the Fastify
// way (routes registered on an app by plugins) without the framework.
//
// POST /generate   {"prompt"} -> {"answer", "model", "cached"}: from Ollama when
//                  OLLAMA_URL answers (the `ai` profile), else a stand-in
//                  computed here; answers are cached in Redis for CACHE_SECONDS
// GET  /health     redis, ollama ("optional: ..." when it is not running)
import Redis from "ioredis";
import { createHash } from "node:crypto";
import { request } from "node:http";
import type { IncomingMessage, ServerResponse } from "node:http";
import { connectRedis, redisHealth } from "../../shared/src/redis";
import { env, HttpError, logger, readJson, reachable, sendJson, serve } from "../../shared/src/service";

const log = logger("fastify-api");

type Route = (req: IncomingMessage, res: ServerResponse, url: URL) => Promise<void>;

class App {
  private readonly routes = new Map<string, Route>();
  get(path: string, handler: Route): void {
    this.routes.set(`GET ${path}`, handler);
  }
  post(path: string, handler: Route): void {
    this.routes.set(`POST ${path}`, handler);
  }
  async handle(req: IncomingMessage, res: ServerResponse, url: URL): Promise<boolean> {
    const handler = this.routes.get(`${req.method} ${url.pathname}`);
    if (!handler) return false;
    await handler(req, res, url);
    return true;
  }
}

function ollamaGenerate(base: string, model: string, prompt: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const body = JSON.stringify({ model, prompt, stream: false });
    const req = request(
      new URL("/api/generate", base),
      { method: "POST", headers: { "Content-Type": "application/json" }, timeout: 120_000 },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => {
          try {
            const answer = JSON.parse(Buffer.concat(chunks).toString("utf8")) as { response?: string; error?: string };
            if (res.statusCode !== 200) reject(new Error(answer.error ?? `ollama: ${res.statusCode}`));
            else resolve(answer.response ?? "");
          } catch (error) {
            reject(error);
          }
        });
      },
    );
    req.on("timeout", () => req.destroy(new Error("ollama: no answer in 120 s")));
    req.on("error", reject);
    req.end(body);
  });
}

/** The stand-in when no model server runs: a deterministic "analysis". */
function standIn(prompt: string): string {
  const words = prompt.split(/\s+/).filter(Boolean);
  const longest = words.reduce((a, b) => (b.length > a.length ? b : a), "");
  return `${words.length} words; the longest is "${longest}" (stand-in: no model server running)`;
}

function generatePlugin(app: App, redis: Redis): void {
  const ollama = env("OLLAMA_URL", "");
  const model = env("OLLAMA_MODEL", "llama3.2:1b");
  const cacheSeconds = Number(env("CACHE_SECONDS", "300"));
  app.post("/generate", async (req, res) => {
    const body = (await readJson(req)) as { prompt?: unknown };
    if (typeof body.prompt !== "string" || !body.prompt.trim()) throw new HttpError(422, "prompt: a non-empty string");
    const prompt = body.prompt.trim();
    const key = `generate:${createHash("sha256").update(prompt).digest("hex").slice(0, 32)}`;
    const cached = await redis.get(key).catch(() => null);
    if (cached) {
      sendJson(res, 200, { ...(JSON.parse(cached) as object), cached: true });
      return;
    }
    const useModel = ollama !== "" && (await reachable(ollama));
    const answer = useModel ? await ollamaGenerate(ollama, model, prompt) : standIn(prompt);
    const result = { answer, model: useModel ? model : "stand-in", instance: `fastify-api pid ${process.pid}` };
    await redis.set(key, JSON.stringify(result), "EX", cacheSeconds).catch(() => undefined);
    log.info("generated", { model: result.model, chars: answer.length });
    sendJson(res, 200, { ...result, cached: false });
  });
}

const redis = connectRedis(Redis, log);
const app = new App();
generatePlugin(app, redis);
const ollama = env("OLLAMA_URL", "");
const mongodb = env("MONGODB_URI", "");
serve({
  name: "fastify-api",
  defaultPort: 4002,
  log,
  route: (req, res, url) => app.handle(req, res, url),
  health: async () => ({
    redis: await redisHealth(redis),
    ollama: !ollama ? "optional: not configured" : (await reachable(ollama)) ? "ok" : "optional: not running (the ai profile)",
    mongodb: !mongodb ? "optional: not configured" : (await reachable(mongodb)) ? "ok" : "optional: not running (the database profile)",
  }),
  onStop: async () => {
    redis.disconnect();
  },
});
