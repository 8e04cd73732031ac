// fanout: the streaming plane (:8085). It subscribes to the wf:events channel
// in Redis and sends every event to every WebSocket client of /ws (or, with
// /ws?run=ID, only that run's events).
package main

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/gomodule/redigo/redis"
	"github.com/gorilla/websocket"

	"example.com/orchestrator/internal/platform"
)

var version = "dev"

type client struct {
	run  int64 // 0: every run
	send chan []byte
}

type hub struct {
	mu      sync.Mutex
	clients map[*client]struct{}
	relayed int64
}

func (h *hub) add(c *client) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.clients[c] = struct{}{}
	return len(h.clients)
}

func (h *hub) remove(c *client) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.clients, c)
	return len(h.clients)
}

func (h *hub) counts() (int, int64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.clients), h.relayed
}

// broadcast hands the event to each interested client; a client too slow to
// keep up (64 events behind) misses events rather than stalling the others.
func (h *hub) broadcast(data []byte) {
	var event struct {
		RunID int64 `json:"run_id"`
	}
	_ = json.Unmarshal(data, &event)
	h.mu.Lock()
	defer h.mu.Unlock()
	h.relayed++
	for c := range h.clients {
		if c.run != 0 && c.run != event.RunID {
			continue
		}
		select {
		case c.send <- data:
		default:
		}
	}
}

func main() {
	platform.HealthcheckCommand(8085)
	cfg := platform.Load("fanout", version, 8085)
	ctx, stop := platform.Context()
	defer stop()
	pool, err := cfg.RedisPool(ctx)
	if err != nil {
		cfg.Fatal("%v", err)
	}
	defer pool.Close()

	h := &hub{clients: map[*client]struct{}{}}
	upgrader := websocket.Upgrader{CheckOrigin: func(*http.Request) bool { return true }}
	mux := http.NewServeMux()
	mux.Handle("/health", cfg.Health(map[string]platform.Check{
		"redis": func() error { return platform.Ping(pool) },
	}, func() map[string]any {
		clients, relayed := h.counts()
		return map[string]any{"clients": clients, "relayed": relayed}
	}))
	mux.HandleFunc("/ws", func(w http.ResponseWriter, r *http.Request) {
		conn, err := upgrader.Upgrade(w, r, nil)
		if err != nil {
			return // the upgrader has answered with the error
		}
		run, _ := strconv.ParseInt(r.URL.Query().Get("run"), 10, 64)
		c := &client{run: run, send: make(chan []byte, 64)}
		cfg.Logf("client %s connected (run filter %d); %d connected", r.RemoteAddr, run, h.add(c))
		serve(ctx, conn, c)
		cfg.Logf("client %s left; %d connected", r.RemoteAddr, h.remove(c))
	})
	done, err := cfg.Serve(ctx, mux)
	if err != nil {
		cfg.Fatal("%v", err)
	}
	go subscribe(ctx, cfg, pool, h)
	if err := <-done; err != nil {
		cfg.Fatal("%v", err)
	}
	cfg.Logf("stopped")
}

// serve writes the client's events until it disconnects or fanout stops.
func serve(ctx context.Context, conn *websocket.Conn, c *client) {
	defer conn.Close()
	closed := make(chan struct{})
	go func() { // read (and drop) what the client sends, to notice it leaving
		defer close(closed)
		for {
			if _, _, err := conn.ReadMessage(); err != nil {
				return
			}
		}
	}()
	ping := time.NewTicker(30 * time.Second)
	defer ping.Stop()
	for {
		select {
		case data := <-c.send:
			_ = conn.SetWriteDeadline(time.Now().Add(5 * time.Second))
			if err := conn.WriteMessage(websocket.TextMessage, data); err != nil {
				return
			}
		case <-ping.C:
			_ = conn.WriteControl(websocket.PingMessage, nil, time.Now().Add(5*time.Second))
		case <-closed:
			return
		case <-ctx.Done():
			_ = conn.WriteControl(websocket.CloseMessage,
				websocket.FormatCloseMessage(websocket.CloseGoingAway, "fanout stopping"),
				time.Now().Add(time.Second))
			return
		}
	}
}

// subscribe relays wf:events to the hub, subscribing again if Redis goes away.
func subscribe(ctx context.Context, cfg platform.Config, pool *redis.Pool, h *hub) {
	for ctx.Err() == nil {
		err := relay(ctx, cfg, pool, h)
		if ctx.Err() != nil {
			return
		}
		cfg.Logf("subscription lost: %v; subscribing again in 1s", err)
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
	}
}

func relay(ctx context.Context, cfg platform.Config, pool *redis.Pool, h *hub) error {
	conn := pool.Get()
	defer conn.Close()
	psc := redis.PubSubConn{Conn: conn}
	if err := psc.Subscribe(platform.Events); err != nil {
		return err
	}
	cfg.Logf("subscribed to %s", platform.Events)
	stopped := make(chan struct{})
	defer close(stopped)
	go func() {
		select {
		case <-ctx.Done():
			_ = psc.Unsubscribe() // ends the receive loop below
		case <-stopped:
		}
	}()
	for {
		switch msg := psc.ReceiveWithTimeout(0).(type) { // 0: wait as long as it takes
		case redis.Message:
			h.broadcast(msg.Data)
		case redis.Subscription:
			if msg.Count == 0 {
				return nil
			}
		case error:
			return msg
		}
	}
}
