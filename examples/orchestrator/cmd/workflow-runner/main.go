// workflow-runner: the coordinator (internal, :8082). It takes new runs and
// step results from Redis, records each through the orchestrator's API, and
// hands the next pending step of a run to the workers of its type
// (tasks:http, tasks:agent, tasks:approval). Stateless: replicas share the
// queues.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"time"

	"github.com/gomodule/redigo/redis"

	"example.com/orchestrator/internal/platform"
)

var version = "dev"

type step struct {
	Position int             `json:"position"`
	Type     string          `json:"type"`
	Input    json.RawMessage `json:"input"`
	Status   string          `json:"status"`
}

type run struct {
	ID     int64  `json:"id"`
	Status string `json:"status"`
	Steps  []step `json:"steps"`
}

type runner struct {
	cfg          platform.Config
	redis        *redis.Pool
	orchestrator string
	client       http.Client
}

func main() {
	platform.HealthcheckCommand(8082)
	cfg := platform.Load("workflow-runner", version, 8082)
	ctx, stop := platform.Context()
	defer stop()
	pool, err := cfg.RedisPool(ctx)
	if err != nil {
		cfg.Fatal("%v", err)
	}
	defer pool.Close()
	orchestrator := os.Getenv("ORCHESTRATOR_URL")
	if orchestrator == "" {
		orchestrator = "http://orchestrator:8081"
	}
	r := &runner{cfg: cfg, redis: pool, orchestrator: orchestrator, client: http.Client{Timeout: 10 * time.Second}}

	mux := http.NewServeMux()
	mux.Handle("/health", cfg.Health(map[string]platform.Check{
		"redis":        func() error { return platform.Ping(pool) },
		"orchestrator": r.orchestratorUp,
	}, nil))
	done, err := cfg.Serve(ctx, mux)
	if err != nil {
		cfg.Fatal("%v", err)
	}
	cfg.Logf("coordinating runs for %s", orchestrator)
	go r.loop(ctx)
	if err := <-done; err != nil {
		cfg.Fatal("%v", err)
	}
	cfg.Logf("stopped")
}

func (r *runner) loop(ctx context.Context) {
	for {
		queue, item, err := platform.Take(ctx, r.redis, platform.QueueRuns, platform.QueueResults)
		if err != nil {
			return
		}
		if err := r.handle(queue, item); err != nil {
			// The orchestrator is restarting (a reload) or down: put the item
			// back at the head of its queue and try again shortly. Recording a
			// result twice is harmless.
			r.cfg.Logf("%v; retrying in 1s", err)
			conn := r.redis.Get()
			_, _ = conn.Do("LPUSH", queue, item)
			conn.Close()
			select {
			case <-ctx.Done():
				return
			case <-time.After(time.Second):
			}
		}
	}
}

func (r *runner) handle(queue string, item []byte) error {
	var current run
	switch queue {
	case platform.QueueRuns:
		id, err := strconv.ParseInt(string(item), 10, 64)
		if err != nil {
			r.cfg.Logf("ignoring run id %q", item)
			return nil
		}
		r.cfg.Logf("run %d: starting", id)
		if current, err = r.fetch(id); err != nil {
			return fmt.Errorf("run %d: %w", id, err)
		}
	case platform.QueueResults:
		var result platform.Result
		if err := json.Unmarshal(item, &result); err != nil {
			r.cfg.Logf("ignoring a malformed result: %v", err)
			return nil
		}
		r.cfg.Debugf("run %d step %d: %s by %s", result.RunID, result.Position, result.Status, result.Worker)
		var err error
		current, err = r.report(result.RunID, result.Position, result.Status, result.Result, result.Worker)
		if err != nil {
			return fmt.Errorf("run %d: %w", result.RunID, err)
		}
	}
	return r.advance(current)
}

// advance dispatches the run's next step, if the steps before it are done.
func (r *runner) advance(current run) error {
	if current.Status == "completed" || current.Status == "failed" {
		r.cfg.Logf("run %d: %s", current.ID, current.Status)
		return nil
	}
	for _, st := range current.Steps {
		if st.Status == "done" {
			continue
		}
		if st.Status != "pending" {
			return nil // dispatched, or waiting for a human: its result will come
		}
		if _, err := r.report(current.ID, st.Position, "dispatched", nil, ""); err != nil {
			return fmt.Errorf("run %d step %d: %w", current.ID, st.Position, err)
		}
		task := platform.Task{RunID: current.ID, Position: st.Position, Type: st.Type, Input: st.Input}
		if err := platform.Push(r.redis, platform.TaskQueue(st.Type), task); err != nil {
			r.cfg.Logf("run %d step %d: queueing: %v", current.ID, st.Position, err)
			return nil
		}
		r.cfg.Logf("run %d step %d (%s) -> %s", current.ID, st.Position, st.Type, platform.TaskQueue(st.Type))
		return nil
	}
	return nil
}

func (r *runner) fetch(id int64) (run, error) {
	var out run
	resp, err := r.client.Get(fmt.Sprintf("%s/api/runs/%d", r.orchestrator, id))
	if err != nil {
		return out, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return out, fmt.Errorf("orchestrator answered %s", resp.Status)
	}
	return out, json.NewDecoder(resp.Body).Decode(&out)
}

func (r *runner) report(id int64, position int, status string, result json.RawMessage, worker string) (run, error) {
	var out run
	body, _ := json.Marshal(map[string]any{"status": status, "result": result, "worker": worker})
	resp, err := r.client.Post(fmt.Sprintf("%s/api/runs/%d/steps/%d", r.orchestrator, id, position),
		"application/json", bytes.NewReader(body))
	if err != nil {
		return out, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return out, fmt.Errorf("orchestrator answered %s", resp.Status)
	}
	return out, json.NewDecoder(resp.Body).Decode(&out)
}

func (r *runner) orchestratorUp() error {
	resp, err := r.client.Get(r.orchestrator + "/health")
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("orchestrator answered %s", resp.Status)
	}
	return nil
}
