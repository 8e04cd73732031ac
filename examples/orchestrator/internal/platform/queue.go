package platform

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/gomodule/redigo/redis"
)

// The Redis keys the services talk through. Lists are queues (RPUSH to add,
// BLPOP to take: each item goes to exactly one replica); Events is a pub/sub
// channel (every subscriber gets every message).
const (
	QueueRuns      = "wf:runs"        // run ids to start (orchestrator -> workflow-runner)
	QueueResults   = "wf:results"     // step results (workers -> workflow-runner)
	QueueDecisions = "hitl:decisions" // approvals (orchestrator -> hitl-worker)
	Events         = "wf:events"      // run and step events (orchestrator -> fanout)
	PendingPrefix  = "hitl:pending:"  // approval steps waiting for a human
)

// TaskQueue is the queue of the workers that do steps of this type.
func TaskQueue(stepType string) string {
	return "tasks:" + stepType
}

// StepTypes are the kinds of step a workflow can have, and who does them.
var StepTypes = map[string]string{
	"http":     "http-worker",
	"agent":    "agent-runner",
	"approval": "hitl-worker",
}

// Task is one step handed to a worker.
type Task struct {
	RunID    int64           `json:"run_id"`
	Position int             `json:"position"`
	Type     string          `json:"type"`
	Input    json.RawMessage `json:"input"`
}

// Result is what a worker reports for a step: status is "done", "failed" or
// "waiting" (an approval step waiting for a human).
type Result struct {
	RunID    int64           `json:"run_id"`
	Position int             `json:"position"`
	Status   string          `json:"status"`
	Result   json.RawMessage `json:"result,omitempty"`
	Worker   string          `json:"worker"`
}

// Push appends a JSON message to a queue.
func Push(pool *redis.Pool, queue string, message any) error {
	data, err := json.Marshal(message)
	if err != nil {
		return err
	}
	conn := pool.Get()
	defer conn.Close()
	_, err = conn.Do("RPUSH", queue, data)
	return err
}

// Take waits (up to a second at a time, so that ctx is honoured) for the next
// item of any of the queues, and returns the queue it came from and the item.
// It returns ctx.Err() once ctx is cancelled.
func Take(ctx context.Context, pool *redis.Pool, queues ...string) (string, []byte, error) {
	args := make([]any, 0, len(queues)+1)
	for _, q := range queues {
		args = append(args, q)
	}
	args = append(args, 1) // BLPOP timeout, seconds
	for {
		if err := ctx.Err(); err != nil {
			return "", nil, err
		}
		conn := pool.Get()
		reply, err := redis.ByteSlices(conn.Do("BLPOP", args...))
		conn.Close()
		if errors.Is(err, redis.ErrNil) {
			continue // timed out: nothing queued
		}
		if err != nil {
			// Redis went away for a moment: wait and try again rather than exit.
			select {
			case <-ctx.Done():
				return "", nil, ctx.Err()
			case <-time.After(time.Second):
			}
			continue
		}
		return string(reply[0]), reply[1], nil
	}
}
