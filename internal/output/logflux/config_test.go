package logflux

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestValidate(t *testing.T) {
	good := []Config{
		{APIKey: "eu-lf_a1b2c3d4e5f6g7h8i9j0k1l2m3n4o5p6"},
		{APIKey: "lf_legacykey"},
		{APIKeyFile: "/etc/logflux/key", Endpoint: "https://api.ingest.eu.logflux.io", Timeout: time.Second},
		{APIKey: "us-lf_x", DiscoveryURL: "http://127.0.0.1:8080/"},
	}
	for _, c := range good {
		if err := c.Validate(); err != nil {
			t.Errorf("Validate(%+v) = %v", c, err)
		}
	}
	bad := []struct {
		cfg  Config
		want []string // every one must be reported
	}{
		{Config{}, []string{"API key is required"}},
		{Config{APIKey: "eu-lf_x", APIKeyFile: "k"}, []string{"both set"}},
		{Config{APIKey: "eu-lf_usr_abc"}, []string{"read-side"}},
		{Config{APIKey: "de-lf_abc"}, []string{"region prefix"}},
		{Config{APIKey: "eu-abc"}, []string{"lf_ is missing"}},
		{Config{APIKey: "eu-lf_a b"}, []string{"character"}},
		{
			Config{APIKey: "nope", Endpoint: "ftp://x", DiscoveryURL: "/relative", Timeout: -1, QuotaPause: -1, AuthRetryDelay: -1, PartRetries: -1, Name: "two words"},
			[]string{"api_key", "endpoint", "discovery_url", "timeout: is negative", "quota_pause", "auth_retry_delay", "part_retries", "white space"},
		},
		{Config{APIKey: "eu-lf_x", Endpoint: "https://host/path?q=1"}, []string{"query"}},
	}
	for _, c := range bad {
		err := c.cfg.Validate()
		if err == nil {
			t.Errorf("Validate(%+v) = nil", c.cfg)
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("Validate(%+v) = %v; want it to report %q", c.cfg, err, w)
			}
		}
	}
	var ke *APIKeyError
	if err := (Config{APIKey: "lf_usr_x"}).Validate(); !errors.As(err, &ke) {
		t.Errorf("key error %v is not an *APIKeyError", err)
	}
}

func TestParseAPIKeyRegion(t *testing.T) {
	for key, region := range map[string]string{"eu-lf_a": "eu", "us-lf_a": "us", "ca-lf_a": "ca", "au-lf_a": "au", "ap-lf_a": "ap", "lf_a": "eu"} {
		if r, err := ParseAPIKey(key); err != nil || r != region {
			t.Errorf("ParseAPIKey(%q) = %q, %v; want %q", key, r, err, region)
		}
	}
}

func TestFromEnv(t *testing.T) {
	t.Setenv(EnvAPIKey, " us-lf_fromenv\n")
	if c := FromEnv(Config{}); c.APIKey != "us-lf_fromenv" {
		t.Errorf("FromEnv = %q", c.APIKey)
	}
	if c := FromEnv(Config{APIKey: "eu-lf_set"}); c.APIKey != "eu-lf_set" {
		t.Errorf("FromEnv replaced a configured key: %q", c.APIKey)
	}
	if c := FromEnv(Config{APIKeyFile: "f"}); c.APIKey != "" {
		t.Errorf("FromEnv set a key beside a key file: %q", c.APIKey)
	}
}

func TestAPIKeyFile(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "key")
	os.WriteFile(good, []byte("  ca-lf_fromfile0123\n"), 0o600)
	o, err := New(Config{APIKeyFile: good})
	if err != nil {
		t.Fatal(err)
	}
	if o.apiKey != "ca-lf_fromfile0123" || o.discoveryURL != "https://discover.ca.logflux.io" {
		t.Errorf("key %q, discovery %q", o.apiKey, o.discoveryURL)
	}
	bad := filepath.Join(dir, "bad")
	os.WriteFile(bad, []byte("lf_usr_token"), 0o600)
	if _, err := New(Config{APIKeyFile: bad}); err == nil || !strings.Contains(err.Error(), "read-side") {
		t.Errorf("New with a read token in the file = %v", err)
	}
}

func TestDefaults(t *testing.T) {
	c := Config{APIKey: "eu-lf_x"}.withDefaults()
	if c.Name != "logflux" || c.Timeout != 30*time.Second || !c.gzip() || c.PartRetries != 3 || c.QuotaPause != 5*time.Minute || c.AuthRetryDelay != 5*time.Minute || c.Clock == nil || c.Logger == nil {
		t.Errorf("defaults = %+v", c)
	}
	off := false
	if (Config{Gzip: &off}).gzip() {
		t.Error("gzip: false is ignored")
	}
}
