package main_test

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

func httpGet(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestAdminEndpointsAndReload(t *testing.T) {
	dir := t.TempDir()
	admin := freePort(t)
	cfgPath := filepath.Join(dir, "agent.yaml")
	writeCfg := func(body string) {
		if err := os.WriteFile(cfgPath, []byte(fmt.Sprintf("admin:\n  address: %s\n%s", admin, body)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	first := filepath.Join(dir, "first.ndjson")
	second := filepath.Join(dir, "second.ndjson")
	writeCfg(fmt.Sprintf("outputs:\n  - {type: file, name: main, path: %s}\n", first))
	p := startAgent(t, dir, "--config", cfgPath)
	base := "http://" + admin

	if code, body := httpGet(t, base+"/healthz"); code != 200 || strings.TrimSpace(body) != "ok" {
		t.Fatalf("healthz: %d %q", code, body)
	}
	if code, body := httpGet(t, base+"/readyz"); code != 200 {
		t.Fatalf("readyz: %d %q", code, body)
	}
	send := func(msg string) {
		if _, errOut, code := run(t, dir, "", "send", "--addr", "unix://"+p.sock, msg); code != 0 {
			t.Fatalf("send: %s", errOut)
		}
	}
	send("before reload")
	c, err := net.Dial("unix", p.sock) // a connection that must survive the reload
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprintln(c, `{"payload":"bad","entryType":1,"source":"s","logLevel":0}`)
	bufio.NewReader(c).ReadString('\n')

	// A new output and a new log level, by SIGHUP.
	writeCfg(fmt.Sprintf("log:\n  level: debug\noutputs:\n  - {type: file, name: main, path: %s}\n  - {type: file, name: copy, path: %s}\n", first, second))
	p.cmd.Process.Signal(syscall.SIGHUP)
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(p.stderr.String(), "configuration reloaded") && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	send("after reload")
	// The connection opened before the reload still works.
	fmt.Fprintln(c, `{"action":"ping"}`)
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if line, err := bufio.NewReader(c).ReadString('\n'); err != nil || !strings.Contains(line, "pong") {
		t.Fatalf("connection did not survive the reload: %q %v", line, err)
	}

	// An invalid configuration changes nothing and says why, by POST.
	writeCfg("queue:\n  when_full: explode\n")
	resp, err := http.Post(base+"/reload", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 422 || !strings.Contains(string(body), "when_full") {
		t.Fatalf("bad reload: %d %s", resp.StatusCode, body)
	}
	// A restart-only setting is refused whole.
	writeCfg(fmt.Sprintf("queue:\n  type: memory\noutputs:\n  - {type: file, name: main, path: %s}\n", first))
	resp, _ = http.Post(base+"/reload", "", nil)
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 422 || !strings.Contains(string(body), "restart") {
		t.Fatalf("restart-only reload: %d %s", resp.StatusCode, body)
	}
	send("after failed reloads")

	_, metrics := httpGet(t, base+"/metrics")
	for _, want := range []string{
		`logflux_agent_reloads_total{outcome="success"} 1`,
		`logflux_agent_reloads_total{outcome="failure"} 2`,
		`logflux_agent_entries_accepted_total 3`,
		`logflux_agent_entries_rejected_total 1`,
		`logflux_agent_error_responses_total{code="invalid_entry"} 1`,
		`logflux_agent_output_entries_sent_total{output="copy"}`,
		`logflux_agent_connections_total{transport="unix"}`,
		`logflux_agent_queue_max_bytes`,
		`process_resident_memory_bytes`,
		`logflux_agent_build_info{goversion="go`,
		`logflux_agent_admin_listen_failures_total 0`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	_, status := httpGet(t, base+"/status")
	var st struct {
		State   string `json:"state"`
		Ready   bool   `json:"ready"`
		Outputs []struct {
			Name string `json:"name"`
		} `json:"outputs"`
		Queue struct {
			Type string `json:"type"`
		} `json:"queue"`
		Admin struct {
			Listening bool `json:"listening"`
		} `json:"admin"`
	}
	if err := json.Unmarshal([]byte(status), &st); err != nil || st.State != "running" || !st.Ready || len(st.Outputs) != 2 || st.Queue.Type != "disk" || !st.Admin.Listening {
		t.Fatalf("status: %v %s", err, status)
	}
	c.Close()
	p.stop(t)
	payloads := func(path string) []string {
		var out []string
		for _, e := range readEntries(t, path) {
			out = append(out, e["payload"].(string))
		}
		return out
	}
	if got := strings.Join(payloads(first), "|"); got != "before reload|after reload|after failed reloads" {
		t.Errorf("first output: %s", got)
	}
	if got := strings.Join(payloads(second), "|"); !strings.Contains(got, "after reload|after failed reloads") {
		t.Errorf("output added by the reload got: %s", got)
	}
	if !strings.Contains(p.stderr.String(), "level=DEBUG") {
		t.Errorf("log level did not change to debug")
	}
}

// selfSigned writes a CA-less self-signed certificate for 127.0.0.1.
func selfSigned(t *testing.T, dir, name string) (certFile, keyFile string, cert *x509.Certificate) {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(time.Now().UnixNano()),
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IPAddresses:           []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		IsCA:                  true,
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ = x509.ParseCertificate(der)
	certFile, keyFile = filepath.Join(dir, name+".crt"), filepath.Join(dir, name+".key")
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
	kb, _ := x509.MarshalECPrivateKey(key)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600)
	return certFile, keyFile, cert
}

func TestTLSWithClientCertificates(t *testing.T) {
	dir := t.TempDir()
	srvCert, srvKey, srvX := selfSigned(t, dir, "server")
	cliCert, cliKey, _ := selfSigned(t, dir, "client")
	addr := freePort(t)
	cfg := filepath.Join(dir, "agent.yaml")
	os.WriteFile(cfg, []byte(fmt.Sprintf(`tcp:
  address: %s
  shared_secret: %s
  tls: {cert_file: %s, key_file: %s, client_ca_file: %s}
admin: {address: ""}
`, addr, secret, srvCert, srvKey, cliCert)), 0o644)
	p := startAgent(t, dir, "--config", cfg)
	roots := x509.NewCertPool()
	roots.AddCert(srvX)
	pair, err := tls.LoadX509KeyPair(cliCert, cliKey)
	if err != nil {
		t.Fatal(err)
	}
	c, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: roots, Certificates: []tls.Certificate{pair}})
	if err != nil {
		t.Fatalf("TLS with a client certificate: %v", err)
	}
	fmt.Fprintf(c, `{"action":"authenticate","shared_secret":"%s"}`+"\n"+`{"payload":"over tls","entryType":1,"source":"tls","logLevel":6}`+"\n"+`{"action":"flush"}`+"\n", secret)
	r := bufio.NewReader(c)
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	auth, _ := r.ReadString('\n')
	flush, _ := r.ReadString('\n')
	c.Close()
	if !strings.Contains(auth, "success") || !strings.Contains(flush, `"accepted":1`) {
		t.Fatalf("over TLS: %q %q", auth, flush)
	}
	// Without a client certificate the handshake fails.
	c2, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: roots})
	if err == nil {
		c2.SetReadDeadline(time.Now().Add(5 * time.Second))
		_, err = c2.Read(make([]byte, 1))
		c2.Close()
	}
	if err == nil {
		t.Fatal("a client without a certificate was let in")
	}
	// Plain TCP to a TLS listener gets nowhere.
	plain, _ := net.Dial("tcp", addr)
	fmt.Fprintf(plain, `{"action":"authenticate","shared_secret":"%s"}`+"\n", secret)
	plain.SetReadDeadline(time.Now().Add(5 * time.Second))
	if line, _ := bufio.NewReader(plain).ReadString('\n'); strings.Contains(line, "success") {
		t.Fatal("plain TCP authenticated on a TLS listener")
	}
	plain.Close()
	p.stop(t)
	if e := readEntries(t, filepath.Join(dir, "logflux-data", "entries.ndjson")); len(e) != 1 || e[0]["payload"] != "over tls" {
		t.Fatalf("entries: %v", e)
	}
}

// TestSocketActivation hands the agent a listening socket the way systemd
// does (LISTEN_PID, LISTEN_FDS, fd 3) and checks that it serves it.
func TestSocketActivation(t *testing.T) {
	dir := t.TempDir()
	sockDir, _ := os.MkdirTemp("", "lfsa")
	defer os.RemoveAll(sockDir)
	sock := filepath.Join(sockDir, "activated.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	f, _ := ln.(*net.UnixListener).File()
	ln.(*net.UnixListener).SetUnlinkOnClose(false)
	ln.Close()
	// sh's exec keeps the pid, so LISTEN_PID=$$ names the agent itself.
	cmd := exec.Command("sh", "-c", `LISTEN_PID=$$ LISTEN_FDS=1 LISTEN_FDNAMES=agent exec "$0" run --admin-address off`, bin)
	cmd.Dir = dir
	cmd.ExtraFiles = []*os.File{f}
	stderr := newSyncBuffer()
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	f.Close()
	deadline := time.Now().Add(20 * time.Second)
	var out string
	for time.Now().Before(deadline) {
		o, _, code := run(t, dir, "", "send", "--addr", "unix://"+sock, "activated")
		if code == 0 {
			out = "sent"
			break
		}
		out = o
		time.Sleep(50 * time.Millisecond)
	}
	if out != "sent" {
		t.Fatalf("could not send to the activated socket:\n%s", stderr)
	}
	if _, err := os.Stat("/tmp/logflux-agent.sock"); err == nil && strings.Contains(stderr.String(), "/tmp/logflux-agent.sock") {
		t.Error("the agent opened its default socket despite socket activation")
	}
	cmd.Process.Signal(syscall.SIGTERM)
	cmd.Wait()
	if e := readEntries(t, filepath.Join(dir, "logflux-data", "entries.ndjson")); len(e) != 1 || e[0]["payload"] != "activated" {
		t.Fatalf("entries: %v\n%s", e, stderr)
	}
}

// TestSocketModeAndGroup: unix.mode and unix.group are applied on every start.
func TestSocketModeAndGroup(t *testing.T) {
	grp := "daemon"
	g, err := user.LookupGroup(grp)
	if err != nil {
		t.Skipf("no %q group on this machine: %v", grp, err)
	}
	dir := t.TempDir()
	cfg := filepath.Join(dir, "agent.yaml")
	os.WriteFile(cfg, []byte("unix:\n  mode: \"0620\"\n  group: "+grp+"\nadmin: {address: \"\"}\n"), 0o644)
	for i := 0; i < 2; i++ { // the second start replaces the socket and applies both again
		p := startAgent(t, dir, "--config", cfg)
		st, err := os.Stat(p.sock)
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != 0o620 {
			t.Errorf("start %d: mode %v, want 0620", i, st.Mode().Perm())
		}
		if gid := st.Sys().(*syscall.Stat_t).Gid; fmt.Sprint(gid) != g.Gid {
			t.Errorf("start %d: group %d, want %s (%s)", i, gid, g.Gid, grp)
		}
		p.stop(t)
	}
}

// A local client that keeps sending a wrong secret is refused for a while,
// but only it: clients on loopback are told apart by the user owning their
// socket, so another user's client still gets in. (Run as root, which can
// start that other client as "nobody".)
func TestWrongSecretLocksOutOnlyItsOwnUser(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("needs root to run a client as another user")
	}
	nobody, err := user.Lookup("nobody")
	if err != nil {
		t.Skip("no user nobody")
	}
	dir := t.TempDir()
	tcp := freePort(t)
	startAgent(t, dir, "--tcp-address", tcp, "--shared-secret", secret)

	authenticate := func(s string) string {
		c, err := net.Dial("tcp", tcp)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(10 * time.Second))
		fmt.Fprintf(c, `{"action":"authenticate","shared_secret":%q}`+"\n", s)
		line, _ := bufio.NewReader(c).ReadString('\n')
		return line
	}
	for i := range 5 {
		if got := authenticate(fmt.Sprintf("wrong-secret-%d-xxxxxxxxxxxxxxxxxxxxxxxxxx", i)); !strings.Contains(got, "auth_failed") {
			t.Fatalf("wrong secret %d: %q", i, got)
		}
	}
	// A few failures (a typo, a rollout) leave the right secret usable…
	if got := authenticate(secret); !strings.Contains(got, `"success"`) {
		t.Fatalf("after five failures the right secret got %q", got)
	}
	// …guessing at a brute-force rate (20 x limits.auth_failures within
	// limits.auth_block) does not.
	for i := range 100 {
		authenticate(fmt.Sprintf("guess-%d-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", i))
	}
	if got := authenticate(secret); !strings.Contains(got, "too many failed authentications") {
		t.Fatalf("after 100 failures this user's next client got %q, want it refused", got)
	}

	// The binary must be reachable by nobody for it to run the client.
	if err := os.Chmod(filepath.Dir(bin), 0o755); err != nil {
		t.Fatal(err)
	}
	uid, _ := strconv.Atoi(nobody.Uid)
	gid, _ := strconv.Atoi(nobody.Gid)
	cmd := exec.Command(bin, "ping", "--addr", "tcp://"+tcp, "--secret", secret)
	cmd.Dir = "/"
	cmd.Env = []string{"PATH=/usr/bin:/bin", "HOME=/"}
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}}
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "pong") {
		t.Fatalf("another user's client was locked out too: %v\n%s", err, out)
	}
}
