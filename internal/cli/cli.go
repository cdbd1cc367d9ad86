package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime"
	"runtime/pprof"
	"runtime/trace"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/logflux/agent/internal/admin"
	"github.com/logflux/agent/internal/agent"
	"github.com/logflux/agent/internal/components"
	"github.com/logflux/agent/internal/config"
	"github.com/logflux/agent/internal/intake"
	"github.com/logflux/agent/internal/metrics"
	"github.com/logflux/agent/internal/output/file"
	"github.com/logflux/agent/internal/tap"
)

// Version is set at build time with -ldflags "-X github.com/logflux/agent/internal/cli.Version=...".
var Version = "0.1.0-dev"

// Env is what a command sees of the process: arguments, streams, environment.
type Env struct {
	Stdin          io.Reader
	Stdout, Stderr io.Writer
	Getenv         func(string) string
}

// OS returns the real process environment.
func OS() Env {
	return Env{Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr, Getenv: os.Getenv}
}

type command struct {
	name, summary string
	run           func(env Env, args []string) int
}

func commands() []command {
	return []command{
		{"run", "run the agent (the default)", runAgent},
		{"validate", "check a configuration file and report every problem", validate},
		{"send", "send entries to a running agent, like logger(1)", send},
		{"ping", "check that an agent answers", ping},
		{"top", "show a running agent's throughput, queue and outputs, refreshed every second", topCmd},
		{"tap", "stream the entries a running agent accepts, filtered", tapCmd},
		{"dlq", "list or replay the entries outputs refused (dead-letter store)", dlq},
		{"redact-test", "show what the configured redaction makes of entries from standard input", redactTest},
		{"version", "print the version", version},
	}
}

// Main runs the command named by args[0] (run when there is none, or when the
// first argument is a flag) and returns the exit code.
func Main(env Env, args []string) int {
	name := "run"
	if len(args) > 0 && isHelp(args[0]) {
		usage(env.Stdout)
		return 0
	}
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		name, args = args[0], args[1:]
	}
	if name == "help" || name == "-h" || name == "--help" {
		usage(env.Stdout)
		return 0
	}
	for _, c := range commands() {
		if c.name == name {
			return c.run(env, args)
		}
	}
	fmt.Fprintf(env.Stderr, "logflux-agent: unknown command %q\n\n", name)
	usage(env.Stderr)
	return 2
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "Usage: logflux-agent [command] [flags]")
	fmt.Fprintln(w, "\nCommands:")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-10s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w, "\nRun 'logflux-agent COMMAND -h' for a command's flags.")
}

func version(env Env, args []string) int {
	if len(args) > 0 && isHelp(args[0]) {
		fmt.Fprintln(env.Stdout, "Usage: logflux-agent version\n\nPrints the version, the Go version and the platform. No flags.")
		return 0
	}
	fmt.Fprintf(env.Stdout, "logflux-agent %s (%s, %s/%s)\n", Version, runtime.Version(), runtime.GOOS, runtime.GOARCH)
	return 0
}

// agentFlags are the flags of run and validate that override the configuration.
type agentFlags struct {
	fs         *flag.FlagSet
	configPath string
	unixPath   string
	tcpAddr    string
	secret     string
	dataDir    string
	queueType  string
	logLevel   string
	logFormat  string
	adminAddr  string
	stdout     bool
}

func newAgentFlags(name string, env Env) *agentFlags {
	f := &agentFlags{fs: flag.NewFlagSet(name, flag.ContinueOnError)}
	f.fs.SetOutput(env.Stderr)
	f.fs.StringVar(&f.configPath, "config", env.Getenv("LOGFLUX_AGENT_CONFIG"), "YAML configuration `file` (env LOGFLUX_AGENT_CONFIG)")
	f.fs.StringVar(&f.unixPath, "unix-path", "", "Unix socket `path` (unix.path)")
	f.fs.StringVar(&f.tcpAddr, "tcp-address", "", "enable TCP on `host:port` (tcp.address)")
	f.fs.StringVar(&f.secret, "shared-secret", "", "TCP shared `secret` (tcp.shared_secret; prefer LOGFLUX_SHARED_SECRET or a file)")
	f.fs.StringVar(&f.dataDir, "data-dir", "", "data `directory` (data_dir)")
	f.fs.StringVar(&f.queueType, "queue", "", "queue `type`: memory or disk (queue.type)")
	f.fs.StringVar(&f.logLevel, "log-level", "", "agent log `level`: debug, info, warn, error (log.level)")
	f.fs.StringVar(&f.logFormat, "log-format", "", "agent log `format`: text or json (log.format)")
	f.fs.StringVar(&f.adminAddr, "admin-address", "", "admin HTTP server `host:port`, or off (admin.address)")
	f.fs.BoolVar(&f.stdout, "stdout", false, "also write every entry to standard output")
	return f
}

// keep narrows the flag set to the named flags, so that a command's --help
// lists only the flags it takes; the values stay bound to f's fields.
func (f *agentFlags) keep(names ...string) *agentFlags {
	fs := flag.NewFlagSet(f.fs.Name(), flag.ContinueOnError)
	fs.SetOutput(f.fs.Output())
	for _, n := range names {
		fl := f.fs.Lookup(n)
		fs.Var(fl.Value, fl.Name, fl.Usage)
	}
	f.fs = fs
	return f
}

// setUsage makes fs's --help print text, then its flags.
func setUsage(fs *flag.FlagSet, text string) {
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), text)
		fmt.Fprintln(fs.Output(), "\nFlags:")
		fs.PrintDefaults()
	}
}

// load builds the configuration: defaults, file, environment, flags.
func (f *agentFlags) load(env Env) (*config.Config, error) {
	cfg, err := config.Load(f.configPath, env.Getenv, components.Registry())
	if err != nil {
		return nil, err
	}
	set := map[string]bool{}
	f.fs.Visit(func(fl *flag.Flag) { set[fl.Name] = true })
	if set["unix-path"] {
		cfg.Unix.Path = f.unixPath
	}
	if set["tcp-address"] {
		cfg.TCP.Address = f.tcpAddr
	}
	if set["shared-secret"] {
		cfg.TCP.SharedSecret = f.secret
	}
	if set["data-dir"] {
		cfg.DataDir = f.dataDir
	}
	if set["queue"] {
		cfg.Queue.Type = f.queueType
	}
	if set["log-level"] {
		cfg.Log.Level = f.logLevel
	}
	if set["log-format"] {
		cfg.Log.Format = f.logFormat
	}
	if set["admin-address"] {
		cfg.SetAdminAddress(f.adminAddr)
	}
	if f.stdout {
		if cfg.Outputs == nil {
			cfg.AddOutput("file", "")
		}
		if err := cfg.AddOutput("stdout", ""); err != nil {
			return nil, err
		}
	}
	if err := cfg.Finish(); err != nil {
		return nil, err
	}
	return cfg, nil
}

func printProblems(w io.Writer, err error) {
	var joined interface{ Unwrap() []error }
	if errors.As(err, &joined) {
		for _, e := range joined.Unwrap() {
			fmt.Fprintf(w, "  %v\n", e)
		}
		return
	}
	fmt.Fprintf(w, "  %v\n", err)
}

func validate(env Env, args []string) int {
	f := newAgentFlags("validate", env).keep("config")
	setUsage(f.fs, `Usage: logflux-agent validate [--config] FILE

Reports every problem in a configuration file, with the LOGFLUX_* environment
applied as run applies it, one per line as FILE:LINE: key: problem, and exits
1 if there is any. run checks its own flags when it starts.`)
	if err := f.fs.Parse(args); err != nil {
		return parseExit(err)
	}
	if f.fs.NArg() > 0 && f.configPath == "" {
		f.configPath = f.fs.Arg(0)
	}
	cfg, err := f.load(env)
	if err == nil {
		err = cfg.Validate()
	}
	name := f.configPath
	if name == "" {
		name = "the default configuration"
	}
	if err != nil {
		fmt.Fprintf(env.Stderr, "%s is not valid:\n", name)
		printProblems(env.Stderr, err)
		return 1
	}
	fmt.Fprintf(env.Stdout, "%s is valid\n", name)
	return 0
}

func newLogger(w io.Writer, cfg config.LogConfig, level *slog.LevelVar) *slog.Logger {
	var l slog.Level
	_ = l.UnmarshalText([]byte(cfg.Level))
	level.Set(l)
	opts := &slog.HandlerOptions{Level: level}
	if cfg.Format == "json" {
		opts.ReplaceAttr = durationAsText
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// durationAsText writes a time.Duration as people and the configuration
// write it ("30s"); slog's JSON handler would write nanoseconds.
func durationAsText(_ []string, a slog.Attr) slog.Attr {
	if a.Value.Kind() == slog.KindDuration {
		a.Value = slog.StringValue(a.Value.Duration().String())
	}
	return a
}

// loadValid loads the configuration from its sources and validates it.
func (f *agentFlags) loadValid(env Env) (*config.Config, error) {
	cfg, err := f.load(env)
	if err != nil {
		return nil, err
	}
	return cfg, cfg.Validate()
}

func runAgent(env Env, args []string) int {
	f := newAgentFlags("run", env)
	setUsage(f.fs, `Usage: logflux-agent [run] [flags]

Runs the agent until SIGINT or SIGTERM; SIGHUP reloads the configuration.
Each flag overrides the configuration key named in brackets.`)
	if err := f.fs.Parse(args); err != nil {
		return parseExit(err)
	}
	cfg, err := f.loadValid(env)
	if err != nil {
		fmt.Fprintln(env.Stderr, "logflux-agent: the configuration is not valid:")
		printProblems(env.Stderr, err)
		return 2
	}
	level := new(slog.LevelVar)
	log := newLogger(env.Stderr, cfg.Log, level)
	slog.SetDefault(log)
	if path := env.Getenv("LOGFLUX_CPUPROFILE"); path != "" {
		// For performance work: a CPU profile of the whole run.
		if f, err := os.Create(path); err == nil && pprof.StartCPUProfile(f) == nil {
			defer func() { pprof.StopCPUProfile(); f.Close() }()
		}
	}
	if path := env.Getenv("LOGFLUX_TRACE"); path != "" {
		// For performance work: an execution trace (go tool trace) of the whole run.
		if f, err := os.Create(path); err == nil && trace.Start(f) == nil {
			defer func() { trace.Stop(); f.Close() }()
		}
	}

	inherited, err := agent.InheritedListeners()
	if err != nil {
		log.Error("cannot start", "error", err)
		return 1
	}
	a, err := agent.New(cfg, agent.Options{Log: log, LogLevel: level, Inherited: inherited})
	if err != nil {
		log.Error("cannot start", "error", err)
		return 1
	}
	agent.SetMemoryLimit(cfg, env.Getenv)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)

	shutdown := func() int {
		stop()
		log.Info("shutting down", "deadline", a.Config().Shutdown.Timeout)
		sctx, cancel := context.WithTimeout(context.Background(), a.Config().Shutdown.Timeout)
		defer cancel()
		if err := a.Shutdown(sctx); err != nil {
			log.Error("shutdown was not clean", "error", err)
			return 1
		}
		log.Info("stopped")
		return 0
	}
	// The admin server first: it answers /healthz and (not yet) /readyz
	// by the time the socket exists, so whoever waits for the socket can
	// probe it at once.
	var adm *admin.Server
	if cfg.Admin.Address != "" {
		view := &adminView{a: a, reload: func() error { return reload(env, f, a) }}
		src := a.MetricSources()
		src.Version = Version
		src.Admin = view.listener
		h := admin.Handler(view, metrics.NewRegistry(src))
		if cfg.Admin.Explicit() {
			ln, err := admin.Listen(cfg.Admin.Address)
			if err != nil {
				log.Error("cannot start", "error", err)
				shutdown()
				return 1
			}
			adm = admin.Serve(ln, h, log)
		} else {
			// The default address may be another agent's: run without the
			// endpoints, say so in one line, and take it when it is free.
			adm = admin.ServeWhenFree(cfg.Admin.Address, h, log, adminRetry)
		}
		view.adm.Store(adm)
	}
	if err := a.Start(ctx); err != nil {
		log.Error("cannot start", "error", err)
		actx, cancel := context.WithTimeout(context.Background(), time.Second)
		adm.Shutdown(actx)
		cancel()
		shutdown()
		return 1
	}
	outs := make([]string, len(cfg.Outputs))
	for i, o := range cfg.Outputs {
		outs[i] = o.Name
		if fc, ok := o.Settings.(*file.Config); ok {
			outs[i] += "=" + fc.Path
		}
	}
	adminState := "off"
	if adm != nil {
		if st := adm.State(); st.Listening {
			adminState = "http://" + st.Address
		} else {
			adminState = "not listening on " + st.Address + ", retrying"
		}
	}
	log.Info("logflux-agent started", "version", Version, "queue", cfg.Queue.Type, "outputs", strings.Join(outs, ","), "admin", adminState)
	for {
		select {
		case <-hup:
			log.Info("SIGHUP: reloading the configuration")
			reload(env, f, a)
			continue
		case <-ctx.Done():
		}
		break
	}
	actx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	adm.Shutdown(actx)
	cancel()
	return shutdown()
}

// reload loads the configuration again from the same file, environment and
// flags, and applies it whole or not at all.
func reload(env Env, f *agentFlags, a *agent.Agent) error {
	cfg, err := f.loadValid(env)
	if err != nil {
		a.Reloads.Failure.Add(1)
		slog.Error("configuration reload failed; nothing changed", "error", err)
		return fmt.Errorf("the new configuration is not valid: %w", err)
	}
	return a.Reload(cfg)
}

// adminRetry is how often the agent tries again to listen on the default
// admin address when another process holds it.
const adminRetry = 30 * time.Second

// adminView adapts the agent to what the admin server asks.
type adminView struct {
	a      *agent.Agent
	reload func() error
	adm    atomic.Pointer[admin.Server]
}

// statusView is /status: the agent's status and the admin server's listener.
type statusView struct {
	agent.Status
	Admin *admin.State `json:"admin,omitempty"`
}

func (v *adminView) Ready() (bool, []string) { return v.a.Ready(v.a.Config().Admin.StallAfter) }
func (v *adminView) Reload() error           { return v.reload() }

func (v *adminView) Status() any {
	st := statusView{Status: v.a.Status(v.a.Config().Admin.StallAfter)}
	if adm := v.adm.Load(); adm != nil {
		as := adm.State()
		st.Admin = &as
	}
	return st
}

func (v *adminView) listener() (int64, time.Time) {
	if adm := v.adm.Load(); adm != nil {
		return adm.Listener()
	}
	return 0, time.Time{}
}

func isHelp(arg string) bool { return arg == "-h" || arg == "--help" || arg == "-help" }

// parseExit is the exit status after a flag parse error: 0 when the user
// asked for help (the flag package has printed it), 2 otherwise.
func parseExit(err error) int {
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	return 2
}

func (v *adminView) TapHub() *tap.Hub { return &v.a.Tap }
func (v *adminView) OutputMatch(name string) (func([]byte) bool, error) {
	return v.a.OutputMatch(name)
}
func (v *adminView) TapAccess() admin.TapAccess {
	return admin.TapAccess{Setting: v.a.Config().Admin.Tap, UID: os.Getuid(), PeerUID: intake.LoopbackOwner}
}
