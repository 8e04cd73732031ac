// frontend (port 3000): the web application. Serves public/ and passes /api/*
// on to the gateway (GATEWAY_URL, written the container way; devenv rewrites
// it when the frontend runs locally). /health: the gateway answers.
import { readFile } from "node:fs/promises";
import { extname, join, normalize } from "node:path";
import { env, getJson, logger, proxy, serve } from "../../backend/shared/src/service";

const log = logger("frontend");
const gateway = env("GATEWAY_URL", "http://gateway:4000");
const root = env("PUBLIC_DIR", join(__dirname, "..", "public"));
const TYPES: Record<string, string> = { ".html": "text/html; charset=utf-8", ".js": "text/javascript", ".css": "text/css" };

serve({
  name: "frontend",
  defaultPort: 3000,
  log,
  route: async (req, res, url) => {
    if (url.pathname.startsWith("/api/")) {
      proxy(req, res, gateway, "", log);
      return true;
    }
    if (req.method !== "GET") return false;
    const path = normalize(url.pathname === "/" ? "/index.html" : url.pathname);
    if (path.includes("..")) return false;
    try {
      const data = await readFile(join(root, path));
      res.writeHead(200, { "Content-Type": TYPES[extname(path)] ?? "application/octet-stream" });
      res.end(data);
      return true;
    } catch {
      return false;
    }
  },
  health: async () => {
    try {
      const { status } = await getJson(`${gateway}/health`, 1500);
      return { gateway: status === 200 ? "ok" : `error: ${status}` };
    } catch (error) {
      return { gateway: `error: ${error instanceof Error ? error.message : String(error)}` };
    }
  },
});
