// The Redis connection the APIs and the gateway share: REDIS_URL (with its
// password, `redis://:secret@redis:6379`), reconnecting with a backoff while
// Redis is away, and a health check that never waits long.
//
// Each service passes in its own ioredis (`connectRedis(Redis, log)`): a
// package imported here would be looked up from backend/shared/, which has no
// node_modules of its own. The type-only import is erased by esbuild.
import type { Redis as Client, RedisOptions } from "ioredis";
import { env, Logger } from "./service";

export type RedisClass = new (url: string, options: RedisOptions) => Client;

export function connectRedis(Redis: RedisClass, log: Logger): Client {
  const url = env("REDIS_URL", "redis://redis:6379");
  const client = new Redis(url, {
    lazyConnect: false,
    maxRetriesPerRequest: 1,
    connectTimeout: 2000,
    retryStrategy: (times) => Math.min(times * 200, 2000),
  });
  let down = false;
  client.on("error", (error) => {
    if (!down) log.warn("redis unavailable", { error: error.message });
    down = true;
  });
  client.on("ready", () => {
    if (down) log.info("redis back");
    down = false;
  });
  return client;
}

export async function redisHealth(client: Client): Promise<string> {
  try {
    const answer = await Promise.race([
      client.ping(),
      new Promise<string>((_, reject) => setTimeout(() => reject(new Error("no answer in 1 s")), 1000)),
    ]);
    return answer === "PONG" ? "ok" : `error: ${answer}`;
  } catch (error) {
    return `error: ${error instanceof Error ? error.message : String(error)}`;
  }
}
