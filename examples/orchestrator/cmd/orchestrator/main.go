// orchestrator: the control plane's API (:8081). It owns the runs in
// PostgreSQL (it applies the schema at start), queues new runs for the
// workflow-runner in Redis, records each step's status as the runner reports
// it, takes human approvals for the hitl-worker, and publishes every change on
// the wf:events channel for fanout.
//
//	POST /api/runs               {"workflow": "...", "steps": [{"type": "http", "input": {...}}, ...]}
//	GET  /api/runs               the 20 latest runs
//	GET  /api/runs/{id}          a run and its steps
//	POST /api/runs/{id}/approve  {"approved": true, "by": "alice"}: decide its waiting approval step
//	POST /api/runs/{id}/steps/{n} {"status": "...", "result": {...}, "worker": "..."} (workflow-runner)
//	GET  /health
package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/gomodule/redigo/redis"

	"example.com/orchestrator/internal/platform"
)

// version is reported by /health; the images set it with -ldflags "-X main.version=...".
var version = "dev"

const schema = `
CREATE TABLE IF NOT EXISTS runs (
	id         BIGSERIAL PRIMARY KEY,
	workflow   TEXT NOT NULL,
	status     TEXT NOT NULL DEFAULT 'queued',
	created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
	updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS steps (
	run_id     BIGINT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
	position   INT NOT NULL,
	type       TEXT NOT NULL,
	input      JSONB NOT NULL DEFAULT '{}',
	status     TEXT NOT NULL DEFAULT 'pending',
	result     JSONB,
	worker     TEXT,
	updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
	PRIMARY KEY (run_id, position)
);`

type server struct {
	cfg   platform.Config
	db    *sql.DB
	redis *redis.Pool
}

type step struct {
	Position int             `json:"position"`
	Type     string          `json:"type"`
	Input    json.RawMessage `json:"input"`
	Status   string          `json:"status"`
	Result   json.RawMessage `json:"result,omitempty"`
	Worker   *string         `json:"worker,omitempty"`
}

type run struct {
	ID       int64  `json:"id"`
	Workflow string `json:"workflow"`
	Status   string `json:"status"`
	Steps    []step `json:"steps"`
}

func main() {
	platform.HealthcheckCommand(8081)
	cfg := platform.Load("orchestrator", version, 8081)
	ctx, stop := platform.Context()
	defer stop()

	db, err := cfg.OpenDB(ctx)
	if err != nil {
		cfg.Fatal("%v", err)
	}
	defer db.Close()
	if _, err := db.ExecContext(ctx, schema); err != nil {
		cfg.Fatal("applying the schema: %v", err)
	}
	cfg.Logf("schema applied (tables runs, steps)")
	pool, err := cfg.RedisPool(ctx)
	if err != nil {
		cfg.Fatal("%v", err)
	}
	defer pool.Close()

	s := &server{cfg: cfg, db: db, redis: pool}
	mux := http.NewServeMux()
	mux.Handle("/health", cfg.Health(map[string]platform.Check{
		"database": func() error { return db.PingContext(context.Background()) },
		"redis":    func() error { return platform.Ping(pool) },
	}, nil))
	mux.HandleFunc("/api/runs", s.runs)
	mux.HandleFunc("/api/runs/", s.runRoutes)
	done, err := cfg.Serve(ctx, mux)
	if err != nil {
		cfg.Fatal("%v", err)
	}
	if err := <-done; err != nil {
		cfg.Fatal("%v", err)
	}
	cfg.Logf("stopped")
}

func (s *server) runs(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodPost:
		s.createRun(w, r)
	case http.MethodGet:
		s.listRuns(w, r)
	default:
		platform.WriteJSON(w, http.StatusMethodNotAllowed, map[string]string{"error": "use GET or POST"})
	}
}

// runRoutes: /api/runs/{id}, /api/runs/{id}/approve, /api/runs/{id}/steps/{n}.
func (s *server) runRoutes(w http.ResponseWriter, r *http.Request) {
	parts := strings.Split(strings.Trim(strings.TrimPrefix(r.URL.Path, "/api/runs/"), "/"), "/")
	id, err := strconv.ParseInt(parts[0], 10, 64)
	if err != nil {
		platform.WriteJSON(w, http.StatusNotFound, map[string]string{"error": "no such run"})
		return
	}
	switch {
	case len(parts) == 1 && r.Method == http.MethodGet:
		s.getRun(w, r, id)
	case len(parts) == 2 && parts[1] == "approve" && r.Method == http.MethodPost:
		s.approve(w, r, id)
	case len(parts) == 3 && parts[1] == "steps" && r.Method == http.MethodPost:
		position, err := strconv.Atoi(parts[2])
		if err != nil {
			platform.WriteJSON(w, http.StatusNotFound, map[string]string{"error": "no such step"})
			return
		}
		s.updateStep(w, r, id, position)
	default:
		platform.WriteJSON(w, http.StatusNotFound, map[string]string{"error": "not found"})
	}
}

func (s *server) createRun(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Workflow string `json:"workflow"`
		Steps    []struct {
			Type  string          `json:"type"`
			Input json.RawMessage `json:"input"`
		} `json:"steps"`
	}
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
		platform.WriteJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid JSON: " + err.Error()})
		return
	}
	if len(body.Steps) == 0 {
		platform.WriteJSON(w, http.StatusBadRequest, map[string]string{"error": "a run needs at least one step"})
		return
	}
	for i, st := range body.Steps {
		if _, ok := platform.StepTypes[st.Type]; !ok {
			platform.WriteJSON(w, http.StatusBadRequest, map[string]string{
				"error": fmt.Sprintf("step %d: unknown type %q (use http, agent or approval)", i, st.Type)})
			return
		}
	}
	if body.Workflow == "" {
		body.Workflow = "adhoc"
	}
	tx, err := s.db.BeginTx(r.Context(), nil)
	if err != nil {
		s.fail(w, err)
		return
	}
	defer tx.Rollback()
	var id int64
	if err := tx.QueryRowContext(r.Context(),
		`INSERT INTO runs (workflow) VALUES ($1) RETURNING id`, body.Workflow).Scan(&id); err != nil {
		s.fail(w, err)
		return
	}
	for i, st := range body.Steps {
		input := st.Input
		if len(input) == 0 {
			input = json.RawMessage(`{}`)
		}
		if _, err := tx.ExecContext(r.Context(),
			`INSERT INTO steps (run_id, position, type, input) VALUES ($1, $2, $3, $4)`,
			id, i, st.Type, []byte(input)); err != nil {
			s.fail(w, err)
			return
		}
	}
	if err := tx.Commit(); err != nil {
		s.fail(w, err)
		return
	}
	conn := s.redis.Get()
	_, err = conn.Do("RPUSH", platform.QueueRuns, id)
	conn.Close()
	if err != nil {
		s.fail(w, err)
		return
	}
	s.cfg.Logf("run %d (%s, %d steps) queued", id, body.Workflow, len(body.Steps))
	s.publish(map[string]any{"event": "run.queued", "run_id": id, "workflow": body.Workflow})
	platform.WriteJSON(w, http.StatusAccepted, map[string]any{"id": id, "status": "queued"})
}

func (s *server) listRuns(w http.ResponseWriter, r *http.Request) {
	rows, err := s.db.QueryContext(r.Context(),
		`SELECT id, workflow, status FROM runs ORDER BY id DESC LIMIT 20`)
	if err != nil {
		s.fail(w, err)
		return
	}
	defer rows.Close()
	out := []run{}
	for rows.Next() {
		var item run
		if err := rows.Scan(&item.ID, &item.Workflow, &item.Status); err != nil {
			s.fail(w, err)
			return
		}
		out = append(out, item)
	}
	platform.WriteJSON(w, http.StatusOK, out)
}

func (s *server) getRun(w http.ResponseWriter, r *http.Request, id int64) {
	item, err := s.load(r.Context(), id)
	if errors.Is(err, sql.ErrNoRows) {
		platform.WriteJSON(w, http.StatusNotFound, map[string]string{"error": "no such run"})
		return
	}
	if err != nil {
		s.fail(w, err)
		return
	}
	platform.WriteJSON(w, http.StatusOK, item)
}

func (s *server) load(ctx context.Context, id int64) (run, error) {
	item := run{ID: id, Steps: []step{}}
	err := s.db.QueryRowContext(ctx, `SELECT workflow, status FROM runs WHERE id = $1`, id).
		Scan(&item.Workflow, &item.Status)
	if err != nil {
		return item, err
	}
	rows, err := s.db.QueryContext(ctx,
		`SELECT position, type, input, status, result, worker FROM steps WHERE run_id = $1 ORDER BY position`, id)
	if err != nil {
		return item, err
	}
	defer rows.Close()
	for rows.Next() {
		var st step
		var input, result []byte
		if err := rows.Scan(&st.Position, &st.Type, &input, &st.Status, &result, &st.Worker); err != nil {
			return item, err
		}
		st.Input = input
		if result != nil {
			st.Result = result
		}
		item.Steps = append(item.Steps, st)
	}
	return item, rows.Err()
}

// updateStep records what the workflow-runner reports for a step, derives the
// run's status from its steps, and answers with the run.
func (s *server) updateStep(w http.ResponseWriter, r *http.Request, id int64, position int) {
	var body struct {
		Status string          `json:"status"`
		Result json.RawMessage `json:"result"`
		Worker string          `json:"worker"`
	}
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil || body.Status == "" {
		platform.WriteJSON(w, http.StatusBadRequest, map[string]string{"error": "need {\"status\": ...}"})
		return
	}
	var result any
	if len(body.Result) > 0 {
		result = []byte(body.Result)
	}
	var worker any
	if body.Worker != "" {
		worker = body.Worker
	}
	res, err := s.db.ExecContext(r.Context(),
		`UPDATE steps SET status = $3, result = COALESCE($4, result), worker = COALESCE($5, worker),
		 updated_at = now() WHERE run_id = $1 AND position = $2`,
		id, position, body.Status, result, worker)
	if err != nil {
		s.fail(w, err)
		return
	}
	if n, _ := res.RowsAffected(); n == 0 {
		platform.WriteJSON(w, http.StatusNotFound, map[string]string{"error": "no such step"})
		return
	}
	status, err := s.deriveStatus(r.Context(), id)
	if err != nil {
		s.fail(w, err)
		return
	}
	s.cfg.Debugf("run %d step %d: %s -> run %s", id, position, body.Status, status)
	s.publish(map[string]any{"event": "step." + body.Status, "run_id": id, "position": position,
		"run_status": status, "worker": body.Worker})
	s.getRun(w, r, id)
}

func (s *server) deriveStatus(ctx context.Context, id int64) (string, error) {
	var total, done, failed, waiting, started int
	err := s.db.QueryRowContext(ctx, `SELECT count(*),
		count(*) FILTER (WHERE status = 'done'),
		count(*) FILTER (WHERE status = 'failed'),
		count(*) FILTER (WHERE status = 'waiting'),
		count(*) FILTER (WHERE status <> 'pending')
		FROM steps WHERE run_id = $1`, id).Scan(&total, &done, &failed, &waiting, &started)
	if err != nil {
		return "", err
	}
	status := "queued"
	switch {
	case failed > 0:
		status = "failed"
	case done == total:
		status = "completed"
	case waiting > 0:
		status = "waiting_approval"
	case started > 0:
		status = "running"
	}
	_, err = s.db.ExecContext(ctx, `UPDATE runs SET status = $2, updated_at = now() WHERE id = $1`, id, status)
	return status, err
}

// approve hands a human's decision on the run's waiting approval step to the hitl-worker.
func (s *server) approve(w http.ResponseWriter, r *http.Request, id int64) {
	var body struct {
		Approved *bool  `json:"approved"`
		By       string `json:"by"`
	}
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil || body.Approved == nil {
		platform.WriteJSON(w, http.StatusBadRequest, map[string]string{"error": "need {\"approved\": true|false, \"by\": \"name\"}"})
		return
	}
	var position int
	err := s.db.QueryRowContext(r.Context(),
		`SELECT position FROM steps WHERE run_id = $1 AND type = 'approval' AND status = 'waiting'
		 ORDER BY position LIMIT 1`, id).Scan(&position)
	if errors.Is(err, sql.ErrNoRows) {
		platform.WriteJSON(w, http.StatusConflict, map[string]string{"error": "run has no approval step waiting"})
		return
	}
	if err != nil {
		s.fail(w, err)
		return
	}
	decision := map[string]any{"run_id": id, "position": position, "approved": *body.Approved, "by": body.By}
	if err := platform.Push(s.redis, platform.QueueDecisions, decision); err != nil {
		s.fail(w, err)
		return
	}
	s.cfg.Logf("run %d step %d: decision by %q (approved=%v) sent to the hitl-worker", id, position, body.By, *body.Approved)
	platform.WriteJSON(w, http.StatusAccepted, decision)
}

func (s *server) publish(event map[string]any) {
	data, _ := json.Marshal(event)
	conn := s.redis.Get()
	defer conn.Close()
	if _, err := conn.Do("PUBLISH", platform.Events, data); err != nil {
		s.cfg.Logf("publishing an event: %v", err)
	}
}

func (s *server) fail(w http.ResponseWriter, err error) {
	s.cfg.Logf("error: %v", err)
	platform.WriteJSON(w, http.StatusInternalServerError, map[string]string{"error": err.Error()})
}
