package logflux

import (
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/logflux/agent/internal/component"
)

// EnvAPIKey is the environment variable FromEnv reads the API key from.
const EnvAPIKey = "LOGFLUX_API_KEY"

// Defaults of the Config fields.
const (
	DefaultName           = "logflux"
	DefaultTimeout        = 30 * time.Second
	DefaultQuotaPause     = 5 * time.Minute
	DefaultAuthRetryDelay = 5 * time.Minute
	DefaultPartRetries    = 3
	// DefaultRegion is the region used to discover the ingestor for a
	// legacy key, which names none. EU is LogFlux's first region.
	DefaultRegion = "eu"
	// DefaultRetryAfter is the wait after a 429 without Retry-After.
	DefaultRetryAfter = 60 * time.Second
)

// Regions are the LogFlux regions an API key may name.
var Regions = []string{"eu", "us", "ca", "au", "ap"}

// Config configures the logflux output. Only an API key is required.
type Config struct {
	// Name identifies the output in logs and queue positions (default
	// "logflux"); in the agent's configuration it is the output's name key.
	Name string `yaml:"-"`
	// APIKey is the ingestion key, {region}-lf_<key> or legacy lf_<key>.
	APIKey string `yaml:"api_key"`
	// APIKeyFile names a file holding the key instead (surrounding white
	// space is ignored). Set at most one of APIKey and APIKeyFile.
	APIKeyFile string `yaml:"api_key_file"`
	// Endpoint is the ingestor's base URL; setting it skips discovery.
	Endpoint string `yaml:"endpoint"`
	// DiscoveryURL overrides https://discover.<region>.logflux.io, where
	// the region comes from the key (DefaultRegion for a legacy key).
	DiscoveryURL string `yaml:"discovery_url"`
	// Timeout bounds each HTTP request (default 30 s).
	Timeout time.Duration `yaml:"timeout"`
	// Gzip compresses each payload before encryption (default true). With
	// it off, parts are labelled payload type 2, this project's label for
	// AES-256-GCM without compression (the published API defines only 1).
	Gzip *bool `yaml:"gzip"`
	// QuotaPause is how long a category is held back after a 507 without
	// Retry-After (default 5 min).
	QuotaPause time.Duration `yaml:"quota_pause"`
	// AuthRetryDelay is the wait asked of the dispatcher when the key is
	// refused even after a fresh handshake (default 5 min). Entries are
	// kept, never dropped, for a refused key.
	AuthRetryDelay time.Duration `yaml:"auth_retry_delay"`
	// PartRetries is how many times an entry the server reports failed in
	// a successful batch answer is sent before it is given up as permanent
	// (default 3).
	PartRetries int `yaml:"part_retries"`
	// UserAgent is sent with every request (default "logflux-agent").
	UserAgent string `yaml:"user_agent"`

	// HTTPClient sends the requests (default: a client of its own).
	HTTPClient *http.Client `yaml:"-"`
	// Logger receives the output's own log lines (default slog.Default());
	// the agent passes one that names the output.
	Logger *slog.Logger `yaml:"-"`
	// Clock tells the time for pauses (default time.Now).
	Clock func() time.Time `yaml:"-"`
}

// FromEnv returns c with APIKey taken from LOGFLUX_API_KEY when neither
// APIKey nor APIKeyFile is set.
func FromEnv(c Config) Config {
	if c.APIKey == "" && c.APIKeyFile == "" {
		c.APIKey = strings.TrimSpace(os.Getenv(EnvAPIKey))
	}
	return c
}

// Validate reports every problem of c at once, each a *component.Problem
// naming its key.
func (c Config) Validate() error {
	var ps component.Problems
	switch {
	case c.APIKey != "" && c.APIKeyFile != "":
		ps.Add("api_key", "api_key and api_key_file are both set; set one")
	case c.APIKey == "" && c.APIKeyFile == "":
		ps.Add("api_key", "an API key is required: api_key, api_key_file or %s", EnvAPIKey)
	case c.APIKey != "":
		if _, err := ParseAPIKey(c.APIKey); err != nil {
			ps = append(ps, &component.Problem{Key: "api_key", Message: err.Error(), Err: err})
		}
	}
	for _, u := range []struct{ name, value string }{{"endpoint", c.Endpoint}, {"discovery_url", c.DiscoveryURL}} {
		if u.value != "" {
			if err := checkURL(u.value); err != nil {
				ps.Add(u.name, "%v", err)
			}
		}
	}
	for _, d := range []struct {
		name  string
		value time.Duration
	}{{"timeout", c.Timeout}, {"quota_pause", c.QuotaPause}, {"auth_retry_delay", c.AuthRetryDelay}} {
		if d.value < 0 {
			ps.Add(d.name, "is negative (%s)", d.value)
		}
	}
	if c.PartRetries < 0 {
		ps.Add("part_retries", "is negative (%d)", c.PartRetries)
	}
	if strings.ContainsAny(c.Name, " \t\r\n") {
		ps.Add("name", "%q holds white space", c.Name)
	}
	return ps.Err()
}

// checkURL accepts an absolute http or https URL without query or fragment.
func checkURL(s string) error {
	u, err := url.Parse(s)
	if err != nil {
		return fmt.Errorf("not a URL: %w", err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("%q is not an absolute http(s) URL", s)
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return fmt.Errorf("%q has a query or fragment", s)
	}
	return nil
}

// APIKeyError explains why a string is not an ingestion key.
type APIKeyError struct{ Reason string }

func (e *APIKeyError) Error() string {
	return "not an ingestion key ({region}-lf_<key> or lf_<key>): " + e.Reason
}

// ParseAPIKey checks an ingestion key and returns its region: the key's
// prefix, or DefaultRegion for a legacy key without one.
func ParseAPIKey(k string) (region string, err error) {
	rest := k
	region = DefaultRegion
	if !strings.HasPrefix(k, "lf_") {
		var ok bool
		region, rest, ok = strings.Cut(k, "-")
		if !ok || !slices.Contains(Regions, region) {
			return "", &APIKeyError{"the region prefix must be one of " + strings.Join(Regions, ", ")}
		}
	}
	body, ok := strings.CutPrefix(rest, "lf_")
	switch {
	case !ok:
		return "", &APIKeyError{"lf_ is missing"}
	case strings.HasPrefix(body, "usr_"):
		return "", &APIKeyError{"lf_usr_ keys are read-side tokens, not for ingestion"}
	case body == "" || len(body) > 256:
		return "", &APIKeyError{"the key after lf_ must be 1 to 256 characters"}
	case strings.IndexFunc(body, func(c rune) bool {
		return !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-')
	}) >= 0:
		return "", &APIKeyError{"the key after lf_ holds a character other than letters, digits, _ and -"}
	}
	return region, nil
}

// readKey returns the API key of c, reading APIKeyFile if set.
func (c Config) readKey() (string, error) {
	if c.APIKeyFile == "" {
		return c.APIKey, nil
	}
	b, err := os.ReadFile(c.APIKeyFile)
	if err != nil {
		return "", fmt.Errorf("api_key_file: %w", err)
	}
	k := strings.TrimSpace(string(b))
	if _, err := ParseAPIKey(k); err != nil {
		return "", fmt.Errorf("api_key_file %s: %w", c.APIKeyFile, err)
	}
	return k, nil
}

func (c Config) gzip() bool { return c.Gzip == nil || *c.Gzip }

// withDefaults fills in the defaults of the unset fields.
func (c Config) withDefaults() Config {
	if c.Name == "" {
		c.Name = DefaultName
	}
	if c.Timeout == 0 {
		c.Timeout = DefaultTimeout
	}
	if c.QuotaPause == 0 {
		c.QuotaPause = DefaultQuotaPause
	}
	if c.AuthRetryDelay == 0 {
		c.AuthRetryDelay = DefaultAuthRetryDelay
	}
	if c.PartRetries == 0 {
		c.PartRetries = DefaultPartRetries
	}
	if c.UserAgent == "" {
		c.UserAgent = "logflux-agent"
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Clock == nil {
		c.Clock = time.Now
	}
	return c
}
