// Package admin serves the agent's operator endpoints over HTTP: metrics, health, readiness, status, reload and the live tap.
package admin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Agent is what the admin server asks of the running agent. One that is
// also a Tapper serves GET /tap.
type Agent interface {
	Ready() (bool, []string)
	Status() any
	// Reload reloads the configuration from its sources, applied whole or not at all.
	Reload() error
}

// Server is the admin HTTP server.
type Server struct {
	srv     *http.Server
	log     *slog.Logger
	addr    string
	created time.Time
	stop    chan struct{} // closed by Shutdown: ServeWhenFree stops trying
	done    chan struct{} // closed when ServeWhenFree's retry loop has ended

	mu       sync.Mutex
	ln       net.Listener // nil until listening
	since    time.Time    // when it started listening
	failures int64        // failed attempts to listen
	lastErr  error        // the last one, while not listening
}

// State is the admin server's listener, shown on /status.
type State struct {
	Address        string `json:"address"`
	Listening      bool   `json:"listening"`
	ListenFailures int64  `json:"listen_failures"`
	// UnavailableFor is how long after start /metrics and the other
	// endpoints were missing because the address was in use.
	UnavailableFor string `json:"unavailable_for,omitempty"`
	Error          string `json:"error,omitempty"`
}

// Handler returns the admin routes.
func Handler(a Agent, reg *prometheus.Registry) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		ready, reasons := a.Ready()
		if !ready {
			w.WriteHeader(http.StatusServiceUnavailable)
			for _, r := range reasons {
				fmt.Fprintln(w, r)
			}
			return
		}
		fmt.Fprintln(w, "ready")
	})
	mux.HandleFunc("GET /status", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		enc.Encode(a.Status())
	})
	mux.HandleFunc("POST /reload", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if err := a.Reload(); err != nil {
			w.WriteHeader(http.StatusUnprocessableEntity)
			json.NewEncoder(w).Encode(map[string]string{"status": "error", "error": err.Error()})
			return
		}
		json.NewEncoder(w).Encode(map[string]string{"status": "success", "message": "configuration reloaded"})
	})
	if t, ok := a.(Tapper); ok {
		mux.HandleFunc("GET /tap", func(w http.ResponseWriter, r *http.Request) { serveTap(t, w, r) })
	}
	return mux
}

// Listen opens the admin server's socket.
func Listen(addr string) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("admin server: %w", err)
	}
	return ln, nil
}

func newServer(addr string, h http.Handler, log *slog.Logger) *Server {
	// Streams (GET /tap) end when the server shuts down: their requests'
	// contexts derive from base, cancelled by Shutdown.
	base, cancel := context.WithCancel(context.Background())
	s := &Server{
		srv: &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 10 * time.Second, WriteTimeout: 30 * time.Second,
			BaseContext: func(net.Listener) context.Context { return base }},
		log:     log,
		addr:    addr,
		created: time.Now(),
		stop:    make(chan struct{}),
		done:    make(chan struct{}),
	}
	s.srv.RegisterOnShutdown(cancel)
	return s
}

// Serve serves h on ln in the background until Shutdown.
func Serve(ln net.Listener, h http.Handler, log *slog.Logger) *Server {
	s := newServer(ln.Addr().String(), h, log)
	close(s.done)
	s.serve(ln)
	return s
}

func (s *Server) serve(ln net.Listener) {
	s.mu.Lock()
	s.ln, s.since, s.lastErr = ln, time.Now(), nil
	s.mu.Unlock()
	go func() {
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("admin server stopped", "error", err)
		}
	}()
}

// ServeWhenFree serves h on addr. When addr cannot be listened on (another
// process holds it), it logs that once, in one line, and tries again every
// retry until it can or until Shutdown; State and the metrics show how long
// the endpoints were missing.
func ServeWhenFree(addr string, h http.Handler, log *slog.Logger, retry time.Duration) *Server {
	s := newServer(addr, h, log)
	ln, err := Listen(addr)
	if err == nil {
		close(s.done)
		s.serve(ln)
		log.Info("admin server listening", "address", "http://"+ln.Addr().String(), "endpoints", "/metrics /healthz /readyz /status /tap POST /reload")
		return s
	}
	s.fail(err)
	log.Warn(fmt.Sprintf("admin server NOT listening: cannot listen on %s; /metrics, /healthz, /readyz and /status are missing until it is free (trying again every %s; set admin.address to choose another)", addr, retry), "error", err)
	go func() {
		defer close(s.done)
		t := time.NewTicker(retry)
		defer t.Stop()
		for {
			select {
			case <-s.stop:
				return
			case <-t.C:
			}
			ln, err := Listen(addr)
			if err != nil {
				s.fail(err)
				continue
			}
			s.serve(ln)
			st := s.State()
			log.Info("admin server listening at last", "address", "http://"+ln.Addr().String(), "failed_attempts", st.ListenFailures, "unavailable_for", st.UnavailableFor)
			return
		}
	}()
	return s
}

func (s *Server) fail(err error) {
	s.mu.Lock()
	s.failures++
	s.lastErr = err
	s.mu.Unlock()
}

// State reports the listener for /status.
func (s *Server) State() State {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := State{Address: s.addr, Listening: s.ln != nil, ListenFailures: s.failures}
	if s.ln != nil {
		st.Address = s.ln.Addr().String()
	}
	if s.failures > 0 {
		end := s.since
		if end.IsZero() {
			end = time.Now()
		}
		st.UnavailableFor = end.Sub(s.created).Round(time.Second).String()
	}
	if s.lastErr != nil {
		st.Error = s.lastErr.Error()
	}
	return st
}

// Addr is where the server listens (nil: not yet).
func (s *Server) Addr() net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln == nil {
		return nil
	}
	return s.ln.Addr()
}

// Listener reports the failed attempts to listen and since when it listens
// (zero: not yet), for the metrics.
func (s *Server) Listener() (failures int64, since time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.failures, s.since
}

// Shutdown stops the server (and its attempts to listen), waiting for
// requests in flight until ctx ends.
func (s *Server) Shutdown(ctx context.Context) error {
	if s == nil {
		return nil
	}
	s.mu.Lock()
	select {
	case <-s.stop:
	default:
		close(s.stop)
	}
	s.mu.Unlock()
	<-s.done
	return s.srv.Shutdown(ctx)
}
