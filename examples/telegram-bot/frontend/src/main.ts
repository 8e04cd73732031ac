// The mini-app: the backend's counters and latest messages (polled every 2 s),
// and a form that posts a Telegram update to the bot's webhook, the way
// Telegram would deliver it.

interface Message {
  id: number;
  chat_id: number;
  username: string | null;
  text: string;
  reply: string | null;
}

const CHAT_ID = 4242; // the mini-app's own chat

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;

async function getJson<T>(url: string): Promise<T> {
  const response = await fetch(url);
  if (!response.ok) throw new Error(`${url}: ${response.status}`);
  return (await response.json()) as T;
}

async function refresh(): Promise<void> {
  try {
    const stats = await getJson<{ users: number; messages: number; last_minute: number }>("/api/stats");
    $("stats").textContent = `${stats.users} users · ${stats.messages} messages · ${stats.last_minute} in the last minute`;
    $("stats").className = "";
    const messages = await getJson<Message[]>("/api/messages?limit=20");
    const list = $("messages");
    list.replaceChildren(
      ...messages.map((m) => {
        const item = document.createElement("li");
        item.textContent = `${m.username ?? m.chat_id}: ${m.text}`;
        if (m.reply) {
          const reply = document.createElement("div");
          reply.className = "reply";
          reply.textContent = `↳ ${m.reply}`;
          item.append(reply);
        }
        return item;
      }),
    );
  } catch (error) {
    $("stats").textContent = `the backend is not answering (${String(error)})`;
    $("stats").className = "error";
  }
}

let updateId = Date.now();

$("send").addEventListener("submit", async (event) => {
  event.preventDefault();
  const input = $<HTMLInputElement>("text");
  const update = {
    update_id: ++updateId,
    message: {
      message_id: updateId,
      date: Math.floor(Date.now() / 1000),
      chat: { id: CHAT_ID, type: "private" },
      from: { id: CHAT_ID, is_bot: false, first_name: "Mini", username: "mini_app" },
      text: input.value,
    },
  };
  const response = await fetch("/webhook", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(update),
  });
  const answer = $("answer");
  if (response.ok) {
    const body = (await response.json()) as { text?: string };
    answer.textContent = `bot: ${body.text ?? "(no answer)"}`;
    answer.className = "reply";
    input.value = "";
  } else {
    answer.textContent = `the bot answered ${response.status}`;
    answer.className = "error";
  }
  await refresh();
});

void refresh();
setInterval(() => void refresh(), 2000);
