// Package tlsreload serves a listener's TLS configuration from certificate files and re-reads them when they change on disk, so certificates rotate without a restart.
package tlsreload

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"sync"
	"time"

	"github.com/logflux/agent/internal/config"
)

// Source serves a TCP listener's TLS configuration and re-reads the
// certificate files when they change on disk (checked at most every few
// seconds, at handshake time), so certificates rotate without a restart.
type Source struct {
	log *slog.Logger

	mu      sync.Mutex
	files   config.TLSConfig
	conf    *tls.Config
	mtimes  [3]time.Time
	checked time.Time
}

// NewSource loads the files; an error means they could not be used.
func NewSource(files config.TLSConfig, log *slog.Logger) (*Source, error) {
	s := &Source{log: log, files: files}
	conf, mtimes, err := loadTLS(files)
	if err != nil {
		return nil, err
	}
	s.conf, s.mtimes, s.checked = conf, mtimes, time.Now()
	return s, nil
}

// Wrap returns ln serving TLS with the current certificate.
func (s *Source) Wrap(ln net.Listener) net.Listener {
	return tls.NewListener(ln, &tls.Config{
		MinVersion:         tls.VersionTLS12,
		GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) { return s.current(), nil },
	})
}

// Update switches to other files (on reload).
func (s *Source) Update(files config.TLSConfig) {
	s.mu.Lock()
	s.files = files
	s.checked = time.Time{}
	s.mu.Unlock()
	s.current()
}

func (s *Source) current() *tls.Config {
	s.mu.Lock()
	defer s.mu.Unlock()
	if time.Since(s.checked) < 5*time.Second {
		return s.conf
	}
	s.checked = time.Now()
	if mt := mtimes(s.files); mt == s.mtimes {
		return s.conf
	}
	conf, mt, err := loadTLS(s.files)
	if err != nil {
		s.log.Error("TLS certificate changed on disk but could not be loaded; keeping the previous one", "error", err)
		return s.conf
	}
	s.conf, s.mtimes = conf, mt
	s.log.Info("TLS certificate reloaded", "cert_file", s.files.CertFile)
	return s.conf
}

func mtimes(f config.TLSConfig) [3]time.Time {
	var out [3]time.Time
	for i, p := range []string{f.CertFile, f.KeyFile, f.ClientCAFile} {
		if p == "" {
			continue
		}
		if st, err := os.Stat(p); err == nil {
			out[i] = st.ModTime()
		}
	}
	return out
}

func loadTLS(f config.TLSConfig) (*tls.Config, [3]time.Time, error) {
	mt := mtimes(f)
	cert, err := tls.LoadX509KeyPair(f.CertFile, f.KeyFile)
	if err != nil {
		return nil, mt, fmt.Errorf("TLS certificate: %w", err)
	}
	conf := &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}}
	if f.ClientCAFile != "" {
		pem, err := os.ReadFile(f.ClientCAFile)
		if err != nil {
			return nil, mt, fmt.Errorf("TLS client CA: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, mt, errors.New("TLS client CA: no PEM certificate in " + f.ClientCAFile)
		}
		conf.ClientCAs = pool
		conf.ClientAuth = tls.RequireAndVerifyClientCert
	}
	return conf, mt, nil
}
