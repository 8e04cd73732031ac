// nestjs-api (port 4001): the primary backend API, laid out the NestJS way (a
// module wiring a controller to a service) without the framework. Items live
// in Redis. MongoDB is optional (the `database` profile): /health says whether
// MONGODB_URI answers, and the API works the same without it.
//
// GET  /items        every item
// POST /items        {"name"} -> 201 the item
// GET  /items/:id    one item
// GET  /health       redis, mongodb ("optional: ..." when it is not running)
import Redis from "ioredis";
import type { IncomingMessage, ServerResponse } from "node:http";
import { connectRedis, redisHealth } from "../../shared/src/redis";
import { env, HttpError, logger, readJson, reachable, sendJson, serve } from "../../shared/src/service";

const log = logger("nestjs-api");

interface Item {
  id: number;
  name: string;
  created_at: string;
  instance: string;
}

/** The service: the items' storage. */
class ItemsService {
  constructor(private readonly redis: Redis) {}

  async create(name: string): Promise<Item> {
    const id = await this.redis.incr("items:next-id");
    const item: Item = { id, name, created_at: new Date().toISOString(), instance: `nestjs-api pid ${process.pid}` };
    await this.redis.hset("items", String(id), JSON.stringify(item));
    return item;
  }

  async all(): Promise<Item[]> {
    const values = await this.redis.hvals("items");
    return values.map((v) => JSON.parse(v) as Item).sort((a, b) => a.id - b.id);
  }

  async one(id: number): Promise<Item | null> {
    const value = await this.redis.hget("items", String(id));
    return value ? (JSON.parse(value) as Item) : null;
  }
}

/** The controller: HTTP in, the service's answers out. */
class ItemsController {
  constructor(private readonly items: ItemsService) {}

  async route(req: IncomingMessage, res: ServerResponse, url: URL): Promise<boolean> {
    if (url.pathname === "/items" && req.method === "GET") {
      sendJson(res, 200, await this.items.all());
      return true;
    }
    if (url.pathname === "/items" && req.method === "POST") {
      const body = (await readJson(req)) as { name?: unknown };
      if (typeof body.name !== "string" || !body.name.trim()) throw new HttpError(422, "name: a non-empty string");
      const item = await this.items.create(body.name.trim());
      log.info("item created", { id: item.id });
      sendJson(res, 201, item);
      return true;
    }
    const match = /^\/items\/(\d+)$/.exec(url.pathname);
    if (match && req.method === "GET") {
      const item = await this.items.one(Number(match[1]));
      if (!item) throw new HttpError(404, `no item ${match[1]}`);
      sendJson(res, 200, item);
      return true;
    }
    return false;
  }
}

/** The module: wiring. */
function bootstrap(): void {
  const redis = connectRedis(Redis, log);
  const controller = new ItemsController(new ItemsService(redis));
  const mongodb = env("MONGODB_URI", "");
  serve({
    name: "nestjs-api",
    defaultPort: 4001,
    log,
    route: (req, res, url) => controller.route(req, res, url),
    health: async () => ({
      redis: await redisHealth(redis),
      mongodb: !mongodb
        ? "optional: not configured"
        : (await reachable(mongodb))
          ? "ok"
          : "optional: not running (the database profile)",
    }),
    onStop: async () => {
      redis.disconnect();
    },
  });
}

bootstrap();
