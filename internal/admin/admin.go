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
	srv *http.Server
	ln  net.Listener
	log *slog.Logger
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

// Serve serves h on ln in the background until Shutdown.
func Serve(ln net.Listener, h http.Handler, log *slog.Logger) *Server {
	// Streams (GET /tap) end when the server shuts down: their requests'
	// contexts derive from base, cancelled by Shutdown.
	base, cancel := context.WithCancel(context.Background())
	s := &Server{
		srv: &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 10 * time.Second, WriteTimeout: 30 * time.Second,
			BaseContext: func(net.Listener) context.Context { return base }},
		ln:  ln,
		log: log,
	}
	s.srv.RegisterOnShutdown(cancel)
	go func() {
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("admin server stopped", "error", err)
		}
	}()
	log.Info("admin server listening", "address", "http://"+ln.Addr().String(), "endpoints", "/metrics /healthz /readyz /status /tap POST /reload")
	return s
}

// Addr is where the server listens.
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

// Shutdown stops the server, waiting for requests in flight until ctx ends.
func (s *Server) Shutdown(ctx context.Context) error {
	if s == nil {
		return nil
	}
	return s.srv.Shutdown(ctx)
}
