// Package testserver starts real `nodecell serve` processes for tests, on loopback only, and
// looks for the processes of their sandboxes in /proc.
package testserver

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Binary is the nodecell binary the tests run: $NODECELL_BIN, else the repository's
// target/release/nodecell. The test fails (never skips) when it is missing.
func Binary(t testing.TB) string {
	t.Helper()
	if p := os.Getenv("NODECELL_BIN"); p != "" {
		if _, err := os.Stat(p); err != nil {
			t.Fatalf("NODECELL_BIN=%s: %v", p, err)
		}
		return p
	}
	root, err := RepoRoot()
	if err != nil {
		t.Fatalf("finding the repository root: %v", err)
	}
	p := filepath.Join(root, "target", "release", "nodecell")
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("the nodecell binary is missing: %v\n"+
			"build it first (scripts/setup.sh builds target/release/nodecell), or set NODECELL_BIN", err)
	}
	return p
}

// RepoRoot is the nearest directory above the working directory holding Cargo.toml and
// clients/go.
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "clients", "go", "go.mod")); err == nil {
			if _, err := os.Stat(filepath.Join(dir, "Cargo.toml")); err == nil {
				return dir, nil
			}
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("no directory above the working directory holds Cargo.toml and clients/go")
		}
		dir = parent
	}
}

var backendLine = regexp.MustCompile(`^backend (\S+): available$`)

// Backends is the backends `nodecell check` lists as available on this host, in its order.
// $NODECELL_GO_BACKENDS (comma-separated) narrows them; a name it gives that is not
// available fails the test.
func Backends(t testing.TB, bin string) []string {
	t.Helper()
	out, err := exec.Command(bin, "check").CombinedOutput()
	if err != nil && len(out) == 0 {
		t.Fatalf("%s check: %v", bin, err)
	}
	var all []string
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		if m := backendLine.FindStringSubmatch(strings.TrimSpace(sc.Text())); m != nil {
			all = append(all, m[1])
		}
	}
	if len(all) == 0 {
		t.Fatalf("%s check lists no available backend:\n%s", bin, out)
	}
	want := os.Getenv("NODECELL_GO_BACKENDS")
	if want == "" {
		return all
	}
	var picked []string
	for _, b := range strings.Split(want, ",") {
		b = strings.TrimSpace(b)
		found := false
		for _, a := range all {
			found = found || a == b
		}
		if !found {
			t.Fatalf("NODECELL_GO_BACKENDS names %q, which `nodecell check` does not list as available (%v)", b, all)
		}
		picked = append(picked, b)
	}
	t.Logf("backends narrowed by NODECELL_GO_BACKENDS to %v (available: %v)", picked, all)
	return picked
}

// Server is one `nodecell serve` process.
type Server struct {
	Backend  string
	HTTPAddr string
	GRPCAddr string
	cmd      *exec.Cmd
	out      *syncBuffer
	exited   chan struct{}
	waitErr  error
}

// Start runs `nodecell serve` for backend on two free loopback ports with a pool of 2 (args
// add flags), waits until /readyz answers 200, and registers its end in t.Cleanup (SIGTERM,
// then SIGKILL after 10 s; always waited for).
func Start(t testing.TB, bin, backend string, args ...string) *Server {
	t.Helper()
	s := &Server{Backend: backend, out: &syncBuffer{}, exited: make(chan struct{})}
	s.HTTPAddr, s.GRPCAddr = freePort(t), freePort(t)
	argv := append([]string{"serve",
		"--http-listen", s.HTTPAddr, "--grpc-listen", s.GRPCAddr,
		"--backend", backend, "--pool-size", "2"}, args...)
	s.cmd = exec.Command(bin, argv...)
	s.cmd.Env = environ()
	s.cmd.Stdout, s.cmd.Stderr = s.out, s.out
	if err := s.cmd.Start(); err != nil {
		t.Fatalf("starting %s %v: %v", bin, argv, err)
	}
	go func() {
		s.waitErr = s.cmd.Wait()
		close(s.exited)
	}()
	t.Cleanup(func() { s.stop(t) })
	ready := 120 * time.Second // docker and gvisor may build their image on first start
	if err := s.waitReady(ready); err != nil {
		t.Fatalf("nodecell serve --backend %s: %v\noutput:\n%s", backend, err, s.Output())
	}
	return s
}

// PID is the server's process id.
func (s *Server) PID() int { return s.cmd.Process.Pid }

// WaitWarm waits (at most limit) until the server has n warm sandboxes of its backend, as
// its /metrics says (`nodecell_warm_sandboxes`).
func (s *Server) WaitWarm(t testing.TB, n int, limit time.Duration) {
	t.Helper()
	want := fmt.Sprintf(`nodecell_warm_sandboxes{backend="%s"} `, s.Backend)
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		resp, err := http.Get("http://" + s.HTTPAddr + "/metrics")
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			for _, line := range strings.Split(string(body), "\n") {
				if v, ok := strings.CutPrefix(line, want); ok {
					if got, err := strconv.ParseFloat(v, 64); err == nil && int(got) >= n {
						return
					}
				}
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("not %d warm %s sandboxes within %s", n, s.Backend, limit)
}

// Output is what the server wrote so far.
func (s *Server) Output() string { return s.out.String() }

// Signal sends sig to the server.
func (s *Server) Signal(sig os.Signal) error { return s.cmd.Process.Signal(sig) }

// Wait waits up to d for the server to exit; false if it did not.
func (s *Server) Wait(d time.Duration) (exited bool, err error) {
	select {
	case <-s.exited:
		return true, s.waitErr
	case <-time.After(d):
		return false, nil
	}
}

func (s *Server) stop(t testing.TB) {
	select {
	case <-s.exited:
		return
	default:
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	if ok, _ := s.Wait(10 * time.Second); !ok {
		t.Logf("nodecell serve (pid %d) did not exit within 10 s of SIGTERM: killed", s.PID())
		_ = s.cmd.Process.Kill()
		<-s.exited
	}
}

func (s *Server) waitReady(limit time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	last := "no answer"
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+s.HTTPAddr+"/readyz", nil)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			var body bytes.Buffer
			_, _ = body.ReadFrom(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			last = fmt.Sprintf("%d %s", resp.StatusCode, strings.TrimSpace(body.String()))
		} else {
			last = err.Error()
		}
		select {
		case <-s.exited:
			return fmt.Errorf("exited before it was ready (%v)", s.waitErr)
		case <-ctx.Done():
			return fmt.Errorf("/readyz not 200 within %s; last answer: %s", limit, last)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// environ is this process's environment without NODE_EXTRA_CA_CERTS.
func environ() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "NODE_EXTRA_CA_CERTS=") {
			env = append(env, kv)
		}
	}
	return env
}

// freePort is a loopback address whose port was free a moment ago.
func freePort(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("finding a free port: %v", err)
	}
	defer l.Close()
	return l.Addr().String()
}

type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
