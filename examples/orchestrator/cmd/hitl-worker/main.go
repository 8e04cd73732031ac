// hitl-worker: human-in-the-loop approvals (internal, :8084). An "approval"
// step taken from tasks:approval is parked in Redis (hitl:pending:<run>:<step>)
// and reported as "waiting"; a decision posted to the orchestrator
// (POST /api/runs/{id}/approve) arrives on hitl:decisions and completes the
// step ("done" when approved, "failed" when rejected).
//
// A step's input: {"prompt": "Deploy to production?"}.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"

	"github.com/gomodule/redigo/redis"

	"example.com/orchestrator/internal/platform"
)

var version = "dev"

type decision struct {
	RunID    int64  `json:"run_id"`
	Position int    `json:"position"`
	Approved bool   `json:"approved"`
	By       string `json:"by"`
}

func main() {
	platform.HealthcheckCommand(8084)
	cfg := platform.Load("hitl-worker", version, 8084)
	ctx, stop := platform.Context()
	defer stop()
	pool, err := cfg.RedisPool(ctx)
	if err != nil {
		cfg.Fatal("%v", err)
	}
	defer pool.Close()

	mux := http.NewServeMux()
	mux.Handle("/health", cfg.Health(map[string]platform.Check{
		"redis": func() error { return platform.Ping(pool) },
	}, func() map[string]any { return map[string]any{"waiting": pending(pool)} }))
	done, err := cfg.Serve(ctx, mux)
	if err != nil {
		cfg.Fatal("%v", err)
	}
	go work(ctx, cfg, pool, fmt.Sprintf("hitl-worker pid %d", os.Getpid()))
	if err := <-done; err != nil {
		cfg.Fatal("%v", err)
	}
	cfg.Logf("stopped")
}

func key(run int64, position int) string {
	return fmt.Sprintf("%s%d:%d", platform.PendingPrefix, run, position)
}

func work(ctx context.Context, cfg platform.Config, pool *redis.Pool, name string) {
	cfg.Logf("waiting for approval steps and decisions")
	for {
		queue, item, err := platform.Take(ctx, pool, platform.TaskQueue("approval"), platform.QueueDecisions)
		if err != nil {
			return
		}
		var result platform.Result
		switch queue {
		case platform.QueueDecisions:
			var d decision
			if err := json.Unmarshal(item, &d); err != nil {
				cfg.Logf("ignoring a malformed decision: %v", err)
				continue
			}
			conn := pool.Get()
			removed, err := redis.Int(conn.Do("DEL", key(d.RunID, d.Position)))
			conn.Close()
			if err != nil || removed == 0 {
				cfg.Logf("run %d step %d: no approval waiting; decision ignored", d.RunID, d.Position)
				continue
			}
			status := "done"
			if !d.Approved {
				status = "failed"
			}
			data, _ := json.Marshal(map[string]any{"approved": d.Approved, "by": d.By})
			result = platform.Result{RunID: d.RunID, Position: d.Position, Status: status, Result: data, Worker: name}
			cfg.Logf("run %d step %d: approved=%v by %q", d.RunID, d.Position, d.Approved, d.By)
		default:
			var task platform.Task
			if err := json.Unmarshal(item, &task); err != nil {
				cfg.Logf("ignoring a malformed task: %v", err)
				continue
			}
			conn := pool.Get()
			_, err := conn.Do("SET", key(task.RunID, task.Position), item)
			conn.Close()
			if err != nil {
				cfg.Logf("run %d step %d: parking: %v", task.RunID, task.Position, err)
				continue
			}
			result = platform.Result{RunID: task.RunID, Position: task.Position, Status: "waiting",
				Result: task.Input, Worker: name}
			cfg.Logf("run %d step %d: waiting for a human decision", task.RunID, task.Position)
		}
		if err := platform.Push(pool, platform.QueueResults, result); err != nil {
			cfg.Logf("run %d step %d: reporting: %v", result.RunID, result.Position, err)
		}
	}
}

func pending(pool *redis.Pool) int {
	conn := pool.Get()
	defer conn.Close()
	keys, err := redis.Strings(conn.Do("KEYS", platform.PendingPrefix+"*"))
	if err != nil {
		return -1
	}
	return len(keys)
}
