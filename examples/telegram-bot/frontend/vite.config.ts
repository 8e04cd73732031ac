// The dev server (`npm run dev`, or devenv) proxies the API to the backend and
// the webhook to the bot, as nginx does in containers, so the app calls
// relative URLs (/api/..., /webhook) in both. BACKEND_URL and BOT_URL come from
// the compose file (`http://backend:8000`); devenv rewrites them to where the
// backend and the bot run (`devenv config --resolved frontend`).
import { defineConfig } from "vite";

const backend = process.env.BACKEND_URL ?? "http://127.0.0.1:8000";
const bot = process.env.BOT_URL ?? "http://127.0.0.1:8001";

export default defineConfig({
  server: {
    host: process.env.HOST ?? "127.0.0.1",
    port: Number(process.env.PORT ?? 5173),
    strictPort: true,
    proxy: {
      "/api": backend,
      "/webhook": bot,
    },
  },
  build: { outDir: "dist", emptyOutDir: true },
});
