// gateway (port 4000): the one entry for the frontend. /api/nest/* goes to the
// nestjs-api, /api/ai/* to the fastify-api (path after the prefix kept); each
// request is counted in Redis per route. /health is healthy when both APIs are.
//
// NESTJS_API_URL, FASTIFY_API_URL: the upstreams, written the container way
// (http://nestjs-api:4001); devenv rewrites them when the gateway runs locally.
import Redis from "ioredis";
import { connectRedis, redisHealth } from "../../shared/src/redis";
import { env, getJson, logger, proxy, sendJson, serve } from "../../shared/src/service";

const log = logger("gateway");
const upstreams: Record<string, string> = {
  "/api/nest": env("NESTJS_API_URL", "http://nestjs-api:4001"),
  "/api/ai": env("FASTIFY_API_URL", "http://fastify-api:4002"),
};
const redis = connectRedis(Redis, log);

async function upstreamHealth(url: string): Promise<string> {
  try {
    const { status } = await getJson(`${url}/health`, 1500);
    return status === 200 ? "ok" : `error: ${status}`;
  } catch (error) {
    return `error: ${error instanceof Error ? error.message : String(error)}`;
  }
}

serve({
  name: "gateway",
  defaultPort: 4000,
  log,
  route: async (req, res, url) => {
    if (url.pathname === "/api/stats" && req.method === "GET") {
      const counts = await redis.hgetall("gateway:requests").catch(() => ({}));
      sendJson(res, 200, { requests: counts, upstreams });
      return true;
    }
    for (const [prefix, target] of Object.entries(upstreams)) {
      if (url.pathname === prefix || url.pathname.startsWith(prefix + "/")) {
        redis.hincrby("gateway:requests", prefix, 1).catch(() => undefined);
        log.debug("proxy", { method: req.method, path: url.pathname, to: target });
        proxy(req, res, target, prefix, log);
        return true;
      }
    }
    return false;
  },
  health: async () => ({
    redis: await redisHealth(redis),
    "nestjs-api": await upstreamHealth(upstreams["/api/nest"]),
    "fastify-api": await upstreamHealth(upstreams["/api/ai"]),
  }),
  onStop: async () => {
    redis.disconnect();
  },
});
