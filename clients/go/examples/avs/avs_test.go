package avs_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/structpb"

	nodecell "github.com/nodecell/nodecell/clients/go"
	"github.com/nodecell/nodecell/clients/go/examples/avs"
	"github.com/nodecell/nodecell/clients/go/internal/testserver"
)

// containerBackends run their sandboxes under the container engine's processes, not the
// server's.
var containerBackends = map[string]bool{"docker": true, "gvisor": true}

// vmBackends boot a VM per sandbox: seconds under QEMU's software emulation (CI's hosts have
// no usable KVM, and so no available firecracker), so timings that must not include a start
// wait for the warm pool first.
var vmBackends = map[string]bool{"qemu": true, "firecracker": true}

// TestAVS runs AVS-shaped custom code through a real `nodecell serve`, once per backend that
// `nodecell check` lists as available. It fails when the binary is missing.
func TestAVS(t *testing.T) {
	bin := testserver.Binary(t)
	for _, backend := range testserver.Backends(t, bin) {
		t.Run(backend, func(t *testing.T) {
			srv := testserver.Start(t, bin, backend)
			client := dial(t, srv)
			t.Run("custom_code", func(t *testing.T) { testCustomCode(t, client, backend) })
			t.Run("state_across_runs", func(t *testing.T) { testState(t, client, backend) })
			t.Run("fetch", func(t *testing.T) { testFetch(t, client, backend) })
			t.Run("chain", func(t *testing.T) { testChain(t, client, backend) })
			t.Run("handler_error", func(t *testing.T) { testHandlerError(t, client, backend) })
			t.Run("slow_host", func(t *testing.T) { testSlowHost(t, client, srv) })
			t.Run("cancel_in_handler", func(t *testing.T) { testCancelInHandler(t, client, srv) })
			t.Run("cancel_busy_loop", func(t *testing.T) { testCancelBusyLoop(t, client, srv) })
			t.Run("draining", func(t *testing.T) { testDraining(t, bin, backend) })
		})
	}
}

func dial(t *testing.T, srv *testserver.Server) *nodecell.Client {
	t.Helper()
	c, err := nodecell.Dial(srv.GRPCAddr)
	if err != nil {
		t.Fatalf("dial %s: %v", srv.GRPCAddr, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// runsCtx is the deadline of a subtest that makes n runs on backend: 30 s, and on a VM backend
// a minute more per run, since each run there may wait for a VM to boot (under TCG that takes
// seconds on an idle host and tens of them on a loaded one: CI saw six runs outlast 30 s).
// It guards against a hang; it does not measure speed.
func runsCtx(t *testing.T, backend string, n int) context.Context {
	d := 30 * time.Second
	if vmBackends[backend] {
		d += time.Duration(n) * time.Minute
	}
	return ctxFor(t, d)
}

func ctxFor(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// equalJSON fails the test unless got, as JSON, equals want (a JSON text).
func equalJSON(t *testing.T, got *structpb.Value, want string) {
	t.Helper()
	var w any
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatalf("bad expectation %s: %v", want, err)
	}
	if g := got.AsInterface(); !reflect.DeepEqual(g, w) {
		gj, _ := json.Marshal(g)
		t.Fatalf("result %s, want %s", gj, want)
	}
}

func execErr(t *testing.T, err error) *avs.ExecutionError {
	t.Helper()
	var e *avs.ExecutionError
	if !errors.As(err, &e) {
		t.Fatalf("error %v (%T), want *avs.ExecutionError", err, err)
	}
	return e
}

func testCustomCode(t *testing.T, c *nodecell.Client, backend string) {
	ctx := runsCtx(t, backend, 6)
	cases := []struct {
		code string
		vars map[string]any
		want string
	}{
		{"return trigger.data.value * 2", map[string]any{"trigger": map[string]any{"data": map[string]any{"value": 21}}}, `42`},
		{`if (x > 5) { "high" } else { "low" }`, map[string]any{"x": 7}, `"high"`},
		{"return new Date(Date.UTC(2026, 0, 15, 10, 30, 0))", nil, `"2026-01-15T10:30:00Z"`},
		{"const _ = require('lodash'); return _.sum(inputs.xs)", map[string]any{"xs": []any{1, 2, 3}}, `6`},
		{"return toBigInt('0x10')", nil, `"16"`},
	}
	for _, tc := range cases {
		got, err := avs.RunCustomCode(ctx, c, tc.code, tc.vars)
		if err != nil {
			t.Fatalf("%s: %v", tc.code, err)
		}
		equalJSON(t, got, tc.want)
	}
	_, err := avs.RunCustomCode(ctx, c, `throw new Error("boom")`, nil)
	e := execErr(t, err)
	if e.Outcome.Status != nodecell.StatusError || e.Outcome.Error.Message != "boom" {
		t.Fatalf("outcome %s %+v, want error boom", e.Outcome.Status, e.Outcome.Error)
	}
}

// chain answers readContractData and latestRoundData as a node would; rounds are updated
// `age` before now.
type chain struct{ age time.Duration }

func (chain) ReadContract(_ context.Context, _, _, method, _ string) ([]any, error) {
	if method != "retrieve" {
		return nil, fmt.Errorf("method %q not found", method)
	}
	return []any{big.NewInt(2621)}, nil
}

func (c chain) LatestRoundData(context.Context, string) ([]any, error) {
	at := big.NewInt(time.Now().Add(-c.age).Unix())
	return []any{big.NewInt(7), big.NewInt(262199000000), at, at, big.NewInt(7)}, nil
}

// testChain: upstream's TestExpressionDynamic shapes (readContractData and chainlinkPrice
// compared with bigCmp), a failed read as null, and a stale feed's error in user code.
func testChain(t *testing.T, c *nodecell.Client, backend string) {
	ctx := runsCtx(t, backend, 2)
	code := `return [
		bigCmp(readContractData("0x9aCb42Ac07C72cFc29Cd95d9DEaC807E93ada1F6", "0x2e64cec1", "retrieve", "[]")[0], toBigInt("2000")) > 0,
		bigCmp(priceChainlink("0x694AA1769357215DE4FAC081bf1f309aDC325306"), toBigInt("2000")) > 0,
		bigCmp(chainlinkPrice("0x694AA1769357215DE4FAC081bf1f309aDC325306"), toBigInt("9262391230023")) > 0,
		typeof latestRoundDataChainlink("0x694AA1769357215DE4FAC081bf1f309aDC325306"),
		readContractData("0x9aCb42Ac07C72cFc29Cd95d9DEaC807E93ada1F6", "0x", "missing", "[]"),
	]`
	got, err := avs.RunCustomCode(ctx, c, code, nil, avs.WithChain(chain{age: time.Minute}))
	if err != nil {
		t.Fatal(err)
	}
	equalJSON(t, got, `[true, true, false, "bigint", null]`)
	got, err = avs.RunCustomCode(ctx, c, `try { chainlinkPrice("0xfeed", 3600) } catch (e) { return e.message }`, nil,
		avs.WithChain(chain{age: 2 * time.Hour}))
	if err != nil {
		t.Fatal(err)
	}
	equalJSON(t, got, `"chainlink feed 0xfeed: stale price: last updated 2h0m0s ago, exceeds max age 1h0m0s"`)
}

func testState(t *testing.T, c *nodecell.Client, backend string) {
	ctx := runsCtx(t, backend, 3)
	store := avs.NewStore()
	got, err := avs.RunCustomCode(ctx, c, `
		state.set("ntfy:a", {x: 1});
		state.set("seen:b", {y: 2});
		state.set("", 5);
		state.set("u");
		state.set(123, "x");
		return state.list("ntfy:")`, nil, avs.WithStore(store))
	if err != nil {
		t.Fatal(err)
	}
	equalJSON(t, got, `["ntfy:a"]`)
	got, err = avs.RunCustomCode(ctx, c, `
		return [state.get("ntfy:a").x, typeof state.get("missing"), typeof state.get(""),
		        state.get("u"), state.get("123"), state.list(""), state.list("seen:")]`,
		nil, avs.WithStore(store))
	if err != nil {
		t.Fatal(err)
	}
	equalJSON(t, got, `[1, "undefined", "undefined", null, "x", ["123", "ntfy:a", "seen:b", "u"], ["seen:b"]]`)
	// Another store is another workflow: nothing there.
	got, err = avs.RunCustomCode(ctx, c, `return state.list("")`, nil)
	if err != nil {
		t.Fatal(err)
	}
	equalJSON(t, got, `[]`)
}

func testFetch(t *testing.T, c *nodecell.Client, backend string) {
	ctx := runsCtx(t, backend, 1)
	web := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/ok":
			w.Header().Set("Content-Type", "application/json")
			w.Header().Add("X-Multi", "a")
			w.Header().Add("X-Multi", "b")
			fmt.Fprint(w, `{"a":1}`)
		case "/method":
			fmt.Fprint(w, r.Method)
		default:
			http.Error(w, "nope", http.StatusNotFound)
		}
	}))
	t.Cleanup(web.Close)
	dead := deadURL(t)
	got, err := avs.RunCustomCode(ctx, c, `
		const r = fetch(base + "/ok");
		const nf = fetch(base + "/missing");
		const p = fetch(base + "/method", {method: "POST"});
		return {keys: Object.keys(r).sort(), status: r.Status, text: r.StatusText,
		        body: JSON.parse(r.Body), ct: r.Headers["Content-Type"], multi: r.Headers["X-Multi"],
		        lower: [typeof r.status, typeof r.ok, typeof r.json],
		        nf: [nf.Status, nf.StatusText, nf.Body], method: p.Body, dead: fetch(dead)}`,
		map[string]any{"base": web.URL, "dead": dead})
	if err != nil {
		t.Fatal(err)
	}
	equalJSON(t, got, `{"keys": ["Body", "Headers", "Status", "StatusText"], "status": 200, "text": "200 OK",
		"body": {"a": 1}, "ct": ["application/json"], "multi": ["a", "b"],
		"lower": ["undefined", "undefined", "undefined"],
		"nf": [404, "404 Not Found", "nope\n"], "method": "GET", "dead": null}`)
}

// deadURL is a loopback URL on which nothing listens.
func deadURL(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return "http://" + addr + "/"
}

func testHandlerError(t *testing.T, c *nodecell.Client, backend string) {
	ctx := runsCtx(t, backend, 2)
	const msg = "chainlink feed 0xabc: stale price: last updated 2h0m0s ago, exceeds max age 1h0m0s"
	failing := avs.WithHandler("chainlinkPrice", func(context.Context, []*structpb.Value) (*structpb.Value, error) {
		return nil, errors.New(msg)
	})
	got, err := avs.RunCustomCode(ctx, c, `try { chainlinkPrice("0xabc", 3600) } catch (e) { return [e instanceof Error, e.message] }`, nil, failing)
	if err != nil {
		t.Fatal(err)
	}
	equalJSON(t, got, fmt.Sprintf(`[true, %q]`, msg))
	_, err = avs.RunCustomCode(ctx, c, `return chainlinkPrice("0xabc", 3600)`, nil, failing)
	e := execErr(t, err)
	if e.Outcome.Status != nodecell.StatusError || e.Outcome.Error == nil || !strings.Contains(e.Outcome.Error.Message, msg) {
		t.Fatalf("uncaught handler error: outcome %s %+v, want status error with %q", e.Outcome.Status, e.Outcome.Error, msg)
	}
}

func testSlowHost(t *testing.T, c *nodecell.Client, srv *testserver.Server) {
	if vmBackends[srv.Backend] {
		srv.WaitWarm(t, 1, 3*time.Minute)
	}
	ctx := ctxFor(t, 30*time.Second)
	web := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-time.After(2 * time.Second):
		case <-r.Context().Done():
		}
		fmt.Fprint(w, "late")
	}))
	t.Cleanup(web.Close)
	t0 := time.Now()
	_, err := avs.RunCustomCode(ctx, c, `return fetch(inputs.url)`, map[string]any{"url": web.URL},
		avs.WithHostCallLimits(nodecell.HostCallLimits{ReplyTimeoutMs: 300}))
	elapsed := time.Since(t0)
	e := execErr(t, err)
	if e.Outcome.Status != nodecell.StatusTimeout || e.Outcome.Error == nil || !strings.Contains(e.Outcome.Error.Message, "fetch") {
		t.Fatalf("slow host: outcome %s %+v, want status timeout naming fetch", e.Outcome.Status, e.Outcome.Error)
	}
	if elapsed > 1500*time.Millisecond {
		t.Fatalf("the timeout outcome came after %s (the reply timeout is 300 ms)", elapsed)
	}
	t.Logf("timeout after %s: %s", elapsed.Round(time.Millisecond), e.Outcome.Error.Message)
}

// gone is how long after the cancel the sandbox's processes must all have ended.
const gone = 100 * time.Millisecond

// testCancelInHandler: the handler of a host call cancels the run's context; the session
// ends with the context's error and the sandbox's processes are gone within 100 ms.
func testCancelInHandler(t *testing.T, c *nodecell.Client, srv *testserver.Server) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var (
		before   map[int][]int
		canceled time.Time
	)
	hang := func(context.Context, []*structpb.Value) (*structpb.Value, error) {
		if containerBackends[srv.Backend] {
			// The sandbox is one of the engine's containers (the others are warm and stay).
			before = map[int][]int{}
			i := 0
			for _, pids := range testserver.Containers() {
				before[i] = pids
				i++
			}
		} else {
			before = testserver.NodeDescendants(srv.PID())
		}
		canceled = time.Now()
		cancel()
		return nil, nil
	}
	_, err := avs.RunCustomCode(ctx, c, `fetch("x"); while (true) {}`, nil,
		avs.WithHandler("fetch", hang), avs.WithLimits(nodecell.Limits{TimeoutMs: 20000}))
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("error %v, want context.Canceled", err)
	}
	if len(before) == 0 {
		t.Fatalf("no sandbox process (a node under the server, or a container's) during the host call (server pid %d)", srv.PID())
	}
	// The sandbox of the run is one of the node processes seen during the call (the others
	// are warm and stay): one of them, with its launcher chain, must be gone in time.
	waitGone(t, canceled, func() bool {
		for _, chain := range before {
			if testserver.AllGone(chain) {
				return true
			}
		}
		return false
	}, fmt.Sprintf("node processes under the server during the call: %v", before))
}

// testCancelBusyLoop: the code spins; the caller cancels; the spinning sandbox (found by
// its CPU use) and its launcher chain are gone within 100 ms.
func testCancelBusyLoop(t *testing.T, c *nodecell.Client, srv *testserver.Server) {
	// The loop must outlast the wait below: on a VM backend that is a boot, and under TCG on a
	// loaded host that took over 15 s.
	spin := 20 * time.Second
	if vmBackends[srv.Backend] {
		spin = 3 * time.Minute
	}
	ctx, cancel := context.WithTimeout(context.Background(), spin+10*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		_, err := avs.RunCustomCode(ctx, c, `while (true) {}`, nil,
			avs.WithLimits(nodecell.Limits{TimeoutMs: uint64(spin.Milliseconds())}))
		done <- err
	}()
	// Let the pool's replacement sandbox finish starting, then find the busy one.
	if vmBackends[srv.Backend] {
		// A booting VM is busy too: wait until the pool is full again.
		srv.WaitWarm(t, 2, spin-30*time.Second)
	} else {
		time.Sleep(1500 * time.Millisecond)
	}
	select {
	case err := <-done:
		t.Fatalf("the spinning run ended before the cancel: %v", err)
	default:
	}
	var chain []int
	if containerBackends[srv.Backend] {
		// Every process of the spinning container (gVisor's Sentry and gofer, or node).
		var ticks uint64
		chain, ticks = testserver.BusiestContainer(300 * time.Millisecond)
		if ticks < 15 {
			t.Fatalf("no container is spinning (CPU ticks over 300 ms: best %d)", ticks)
		}
	} else {
		chain = busiestNode(t, srv.PID())
	}
	canceled := time.Now()
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("error %v, want context.Canceled", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the session did not return within 5 s of the cancel")
	}
	waitGone(t, canceled, func() bool { return testserver.AllGone(chain) }, fmt.Sprintf("the spinning sandbox's processes %v", chain))
}

// busiestNode is the chain (launcher ... node) of the node process under root that uses the
// most CPU over 300 ms; it must be spinning.
func busiestNode(t *testing.T, root int) []int {
	t.Helper()
	first := testserver.NodeDescendants(root)
	ticks := map[int]uint64{}
	for pid := range first {
		p, _ := testserver.ReadProc(pid)
		ticks[pid] = p.CPUTicks
	}
	time.Sleep(300 * time.Millisecond)
	best, bestDelta := 0, uint64(0)
	for pid := range first {
		p, ok := testserver.ReadProc(pid)
		if ok && p.CPUTicks-ticks[pid] > bestDelta {
			best, bestDelta = pid, p.CPUTicks-ticks[pid]
		}
	}
	// 100 ticks a second: a spinning sandbox uses at least half of the 300 ms.
	if bestDelta < 15 {
		t.Fatalf("no node process under the server (pid %d) is spinning: %v (CPU ticks over 300 ms: best %d)", root, first, bestDelta)
	}
	return first[best]
}

// waitGone polls every 5 ms until cond holds, failing if that takes more than 100 ms from
// since.
func waitGone(t *testing.T, since time.Time, cond func() bool, what string) {
	t.Helper()
	for {
		if cond() {
			t.Logf("sandbox processes gone %s after the cancel", time.Since(since).Round(time.Millisecond))
			return
		}
		if time.Since(since) > gone {
			t.Fatalf("%s: still there %s after the cancel", what, time.Since(since).Round(time.Millisecond))
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// testDraining: SIGTERM while a run is in progress: that run completes, a new call gets
// *nodecell.Error "draining"; once the server has exited, a call gets a connection error.
func testDraining(t *testing.T, bin, backend string) {
	srv := testserver.Start(t, bin, backend)
	if vmBackends[backend] {
		// Both runs below (the one in flight and a probe taken in the signal's first moment)
		// get a warm VM: one left waiting for a boot (tens of seconds under TCG on a loaded
		// host) could outlast the run in flight, and the server would be gone before a probe
		// is refused, as CI saw.
		srv.WaitWarm(t, 2, 3*time.Minute)
	}
	c := dial(t, srv)
	ctx := ctxFor(t, 60*time.Second)
	var once sync.Once
	started := make(chan struct{})
	type result struct {
		out *nodecell.Outcome
		err error
	}
	first := make(chan result, 1)
	// The run in flight outlasts the probing below, so the server is still up (draining)
	// when the refusal comes; a call taken by a VM backend may wait seconds for a boot.
	hold := 1500
	if vmBackends[backend] {
		hold = 8000
	}
	go func() {
		out, err := c.Execute(ctx, nodecell.Request{
			Code:   fmt.Sprintf(`console.log("started"); await new Promise(r => setTimeout(r, %d)); return "done"`, hold),
			Limits: nodecell.Limits{TimeoutMs: uint64(hold) + 10000},
		}, nodecell.OnLog(func(nodecell.Log) { once.Do(func() { close(started) }) }))
		first <- result{out, err}
	}()
	select {
	case <-started:
	case r := <-first:
		t.Fatalf("the first run ended before it logged: %+v %v", r.out, r.err)
	case <-time.After(20 * time.Second):
		t.Fatal("the first run did not start within 20 s")
	}
	if err := srv.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	// The signal is handled asynchronously: a call sent in the first moment may still be
	// taken, and on a slow backend (qemu under TCG boots a VM for it) that call may take
	// seconds. What must not happen is a call *sent* 1 s after SIGTERM being taken.
	var refused *nodecell.Error
	signalled := time.Now()
	for refused == nil {
		sent := time.Now()
		_, err := c.Execute(ctx, nodecell.Request{Code: "return 1"})
		if err != nil && !errors.As(err, &refused) {
			t.Fatalf("a call while draining: %v (%T), want *nodecell.Error", err, err)
		}
		if refused == nil && sent.Sub(signalled) > time.Second {
			t.Fatalf("a call sent %s after SIGTERM was still taken", sent.Sub(signalled).Round(time.Millisecond))
		}
	}
	if refused.Code != nodecell.CodeDraining || refused.GRPCCode != codes.Unavailable || !refused.Retryable {
		t.Fatalf("a call while draining: %+v, want code draining (UNAVAILABLE, retryable)", refused)
	}
	r := <-first
	if r.err != nil || !r.out.OK() || r.out.Result.GetStringValue() != "done" {
		t.Fatalf("the run in flight at SIGTERM: %+v %v, want ok \"done\"", r.out, r.err)
	}
	exited, err := srv.Wait(15 * time.Second)
	if !exited {
		t.Fatal("the server did not exit within 15 s of SIGTERM")
	}
	if err != nil {
		t.Fatalf("the server exited with %v after SIGTERM\n%s", err, srv.Output())
	}
	_, err = c.Execute(ctxFor(t, 5*time.Second), nodecell.Request{Code: "return 1"})
	var after *nodecell.Error
	if !errors.As(err, &after) || after.Code != "" || after.GRPCCode != codes.Unavailable {
		t.Fatalf("a call after the server exited: %v, want a connection error (UNAVAILABLE, no nodecell code)", err)
	}
}
