// http-worker: the worker plane's HTTP executor (internal, :8083; two replicas
// by default, HTTP_WORKER_REPLICAS). It takes "http" steps from tasks:http,
// makes the request the step describes and reports the status code, size and
// time on wf:results.
//
// A step's input: {"url": "http://...", "method": "GET", "body": "..."}.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"github.com/gomodule/redigo/redis"

	"example.com/orchestrator/internal/platform"
)

var version = "dev"

type input struct {
	URL    string `json:"url"`
	Method string `json:"method"`
	Body   string `json:"body"`
}

func main() {
	platform.HealthcheckCommand(8083)
	cfg := platform.Load("http-worker", version, 8083)
	ctx, stop := platform.Context()
	defer stop()
	pool, err := cfg.RedisPool(ctx)
	if err != nil {
		cfg.Fatal("%v", err)
	}
	defer pool.Close()

	var handled atomic.Int64
	mux := http.NewServeMux()
	mux.Handle("/health", cfg.Health(map[string]platform.Check{
		"redis": func() error { return platform.Ping(pool) },
	}, func() map[string]any { return map[string]any{"handled": handled.Load()} }))
	done, err := cfg.Serve(ctx, mux)
	if err != nil {
		cfg.Fatal("%v", err)
	}
	name := fmt.Sprintf("http-worker pid %d", os.Getpid())
	go work(ctx, cfg, pool, name, &handled)
	if err := <-done; err != nil {
		cfg.Fatal("%v", err)
	}
	cfg.Logf("stopped")
}

func work(ctx context.Context, cfg platform.Config, pool *redis.Pool, name string, handled *atomic.Int64) {
	client := http.Client{Timeout: 10 * time.Second}
	cfg.Logf("waiting for tasks on %s", platform.TaskQueue("http"))
	for {
		_, item, err := platform.Take(ctx, pool, platform.TaskQueue("http"))
		if err != nil {
			return
		}
		var task platform.Task
		if err := json.Unmarshal(item, &task); err != nil {
			cfg.Logf("ignoring a malformed task: %v", err)
			continue
		}
		status, result := call(client, task)
		cfg.Logf("run %d step %d: %s", task.RunID, task.Position, result)
		data, _ := json.Marshal(result)
		if err := platform.Push(pool, platform.QueueResults, platform.Result{
			RunID: task.RunID, Position: task.Position, Status: status, Result: data, Worker: name,
		}); err != nil {
			cfg.Logf("run %d step %d: reporting: %v", task.RunID, task.Position, err)
		}
		handled.Add(1)
	}
}

type outcome map[string]any

func (o outcome) String() string {
	if e, ok := o["error"]; ok {
		return fmt.Sprintf("%v %v failed: %v", o["method"], o["url"], e)
	}
	return fmt.Sprintf("%v %v -> %v (%v bytes, %v ms)", o["method"], o["url"], o["status_code"], o["bytes"], o["ms"])
}

func call(client http.Client, task platform.Task) (string, outcome) {
	var in input
	if err := json.Unmarshal(task.Input, &in); err != nil || in.URL == "" {
		return "failed", outcome{"error": "input needs {\"url\": ...}"}
	}
	if in.Method == "" {
		in.Method = http.MethodGet
	}
	in.Method = strings.ToUpper(in.Method)
	result := outcome{"method": in.Method, "url": in.URL}
	request, err := http.NewRequest(in.Method, in.URL, strings.NewReader(in.Body))
	if err != nil {
		result["error"] = err.Error()
		return "failed", result
	}
	began := time.Now()
	resp, err := client.Do(request)
	if err != nil {
		result["error"] = err.Error()
		return "failed", result
	}
	defer resp.Body.Close()
	size, _ := io.Copy(io.Discard, resp.Body)
	result["status_code"] = resp.StatusCode
	result["bytes"] = size
	result["ms"] = time.Since(began).Milliseconds()
	if resp.StatusCode >= 400 {
		return "failed", result
	}
	return "done", result
}
