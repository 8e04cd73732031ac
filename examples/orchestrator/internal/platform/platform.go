// Package platform is what every Go service of the orchestrator shares: its
// settings from the environment, a logger, the connections to PostgreSQL and
// Redis, the HTTP server with /health, and the `healthcheck` subcommand the
// container images use (they have no curl).
package platform

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/gomodule/redigo/redis"
	_ "github.com/lib/pq" // the "postgres" driver for database/sql
)

// Config is read from the environment, with the defaults of the production
// compose file (container addresses). docker-compose.dev.yml points the local
// processes at 127.0.0.1 and the published ports instead.
type Config struct {
	Service   string
	Version   string
	Port      int
	DBHost    string
	DBPort    string
	DBUser    string
	DBPass    string
	DBName    string
	RedisAddr string
	Debug     bool // LOG_LEVEL=debug
	Log       *log.Logger
}

// Load reads the settings of `service`, listening on $PORT (default `port`).
func Load(service, version string, port int) Config {
	if p, err := strconv.Atoi(os.Getenv("PORT")); err == nil && p > 0 {
		port = p
	}
	logger := log.New(os.Stdout, "", log.Ltime|log.Lmicroseconds)
	return Config{
		Service:   service,
		Version:   version,
		Port:      port,
		DBHost:    env("DB_HOST", "postgres"),
		DBPort:    env("DB_PORT", "5432"),
		DBUser:    env("DB_USER", "orchestrator"),
		DBPass:    env("DB_PASSWORD", "orchestrator"),
		DBName:    env("DB_NAME", "orchestrator"),
		RedisAddr: env("REDIS_ADDR", "redis:6379"),
		Debug:     os.Getenv("LOG_LEVEL") == "debug",
		Log:       logger,
	}
}

func env(name, fallback string) string {
	if value := os.Getenv(name); value != "" {
		return value
	}
	return fallback
}

// Logf logs one line; devenv and `docker compose logs` put the service's name
// in front of it.
func (c Config) Logf(format string, args ...any) {
	c.Log.Printf(format, args...)
}

// Debugf logs one line when LOG_LEVEL is debug.
func (c Config) Debugf(format string, args ...any) {
	if c.Debug {
		c.Log.Printf(format, args...)
	}
}

// Context is cancelled on SIGTERM or SIGINT: how devenv and Docker stop a service.
func Context() (context.Context, context.CancelFunc) {
	return signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
}

// HealthcheckCommand handles `<binary> healthcheck`: GET /health on $PORT,
// exit 0 when it answers 200. The images run it as their HEALTHCHECK.
func HealthcheckCommand(port int) {
	if len(os.Args) < 2 || os.Args[1] != "healthcheck" {
		return
	}
	if p, err := strconv.Atoi(os.Getenv("PORT")); err == nil && p > 0 {
		port = p
	}
	client := http.Client{Timeout: 3 * time.Second}
	resp, err := client.Get(fmt.Sprintf("http://127.0.0.1:%d/health", port))
	if err != nil {
		fmt.Fprintln(os.Stderr, "unhealthy:", err)
		os.Exit(1)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		fmt.Fprintln(os.Stderr, "unhealthy: status", resp.StatusCode)
		os.Exit(1)
	}
	os.Exit(0)
}

// OpenDB connects to PostgreSQL, retrying for up to 30 s (the database may
// still be starting when a service is started by hand).
func (c Config) OpenDB(ctx context.Context) (*sql.DB, error) {
	dsn := fmt.Sprintf("host=%s port=%s user=%s password=%s dbname=%s sslmode=disable connect_timeout=5",
		c.DBHost, c.DBPort, c.DBUser, c.DBPass, c.DBName)
	db, err := sql.Open("postgres", dsn)
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(10)
	err = retry(ctx, 30*time.Second, func() error { return db.PingContext(ctx) })
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("postgres at %s:%s: %w", c.DBHost, c.DBPort, err)
	}
	return db, nil
}

// RedisPool returns a pool of Redis connections, checked with a PING (retried
// for up to 30 s).
func (c Config) RedisPool(ctx context.Context) (*redis.Pool, error) {
	pool := &redis.Pool{
		MaxIdle:     4,
		IdleTimeout: time.Minute,
		Dial: func() (redis.Conn, error) {
			return redis.Dial("tcp", c.RedisAddr,
				redis.DialConnectTimeout(3*time.Second),
				redis.DialReadTimeout(10*time.Second),
				redis.DialWriteTimeout(3*time.Second))
		},
	}
	err := retry(ctx, 30*time.Second, func() error { return Ping(pool) })
	if err != nil {
		pool.Close()
		return nil, fmt.Errorf("redis at %s: %w", c.RedisAddr, err)
	}
	return pool, nil
}

// Ping checks one Redis connection of the pool.
func Ping(pool *redis.Pool) error {
	conn := pool.Get()
	defer conn.Close()
	_, err := conn.Do("PING")
	return err
}

func retry(ctx context.Context, limit time.Duration, try func() error) error {
	deadline := time.Now().Add(limit)
	for {
		err := try()
		if err == nil || time.Now().After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// Check is one dependency /health reports on.
type Check func() error

// Health answers GET /health: 200 with {"status":"ok",...} when every check
// passes, else 503 naming the failing ones. It also reports the pid and
// version, so a caller can tell one instance from the next.
func (c Config) Health(checks map[string]Check, extra func() map[string]any) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		body := map[string]any{
			"service": c.Service,
			"version": c.Version,
			"pid":     os.Getpid(),
		}
		status := "ok"
		for name, check := range checks {
			if err := check(); err != nil {
				body[name] = err.Error()
				status = "degraded"
			} else {
				body[name] = "ok"
			}
		}
		if extra != nil {
			for k, v := range extra() {
				body[k] = v
			}
		}
		body["status"] = status
		code := http.StatusOK
		if status != "ok" {
			code = http.StatusServiceUnavailable
		}
		WriteJSON(w, code, body)
	}
}

// WriteJSON writes `body` as JSON with `code`.
func WriteJSON(w http.ResponseWriter, code int, body any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(body)
}

// Serve runs the HTTP server on the service's port until ctx is cancelled,
// then shuts it down gracefully. It returns once the port is bound, so the
// caller can log "listening" truthfully; errors arrive on the channel.
func (c Config) Serve(ctx context.Context, handler http.Handler) (<-chan error, error) {
	listener, err := net.Listen("tcp", fmt.Sprintf(":%d", c.Port))
	if err != nil {
		return nil, fmt.Errorf("port %d: %w", c.Port, err)
	}
	server := &http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second}
	done := make(chan error, 1)
	go func() {
		err := server.Serve(listener)
		if err == http.ErrServerClosed {
			err = nil
		}
		done <- err
	}()
	go func() {
		<-ctx.Done()
		shutdown, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		_ = server.Shutdown(shutdown)
	}()
	c.Logf("%s %s listening on :%d (pid %d)", c.Service, c.Version, c.Port, os.Getpid())
	return done, nil
}

// Fatal logs and exits 1: for start-up failures.
func (c Config) Fatal(format string, args ...any) {
	c.Log.Printf("fatal: "+format, args...)
	os.Exit(1)
}
