// Command lbload drives a mixed load at nodecell replicas behind a load balancer, over HTTP
// (net/http, POST /v1/execute) and gRPC (this module's client), and checks every outcome.
//
// Each worker sends, one after another, a random mix of runs, each over HTTP or gRPC at random:
//
//	quick    `return inputs.n*2`                       status ok, result 2n
//	busy     a 200-400 ms busy loop, returns its ms    status ok, result ms
//	log      console.log("line", n), returns "logged"  status ok, the log line
//	error    throw new Error("boom " + n)              status error, that message
//	timeout  an endless loop, limits.timeout_ms 100    status timeout
//
// Answers that say the request was refused before it ran are retried, with backoff (and the
// Retry-After asked for, capped): HTTP 429 and 503 (a replica's overloaded or draining, or the
// balancer's own 503 when no replica is up), and gRPC errors the service marks retryable
// (overloaded, client_share_exceeded, draining, not_ready, sandbox_unavailable) or the
// balancer's HTTP 503. (The Go client retries RESOURCE_EXHAUSTED itself; lbload retries the
// rest.) Everything else is a failure: HTTP 502/504, connection errors, a gRPC status, a wrong
// status or result, an answer that came after its deadline.
//
// With -phase kill, a failure is "clean" when it is what an in-flight request on a killed
// replica may get: HTTP 502, 503 or 504 from the balancer, or gRPC UNAVAILABLE or INTERNAL,
// before its deadline. Anything else (a wrong result, another error, a hang) is "unclean".
//
// It runs for -duration, or until -stop-file exists, then prints one JSON object on stdout.
//
//	go run ./cmd/lbload -http http://127.0.0.1:8000 -grpc 127.0.0.1:8001 -stop-file /tmp/stop
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"

	nodecell "github.com/nodecell/nodecell/clients/go"
)

type kind struct {
	name   string
	weight int
}

var kinds = []kind{{"quick", 40}, {"busy", 15}, {"log", 20}, {"error", 15}, {"timeout", 10}}

// job is one run to make and what its outcome must be.
type job struct {
	kind      string
	code      string
	inputs    map[string]any
	timeoutMs uint64
	n         int
}

func newJob(r *rand.Rand) job {
	w := r.IntN(100)
	k := kinds[len(kinds)-1].name
	for _, c := range kinds {
		if w < c.weight {
			k = c.name
			break
		}
		w -= c.weight
	}
	n := r.IntN(1_000_000)
	switch k {
	case "quick":
		return job{kind: k, code: "return inputs.n*2", inputs: map[string]any{"n": n}, n: n}
	case "busy":
		ms := 200 + r.IntN(201)
		return job{kind: k, code: "const end = Date.now() + inputs.ms; let x = 0; while (Date.now() < end) { x++ } return inputs.ms", inputs: map[string]any{"ms": ms}, n: ms}
	case "log":
		return job{kind: k, code: `console.log("line", inputs.n); return "logged"`, inputs: map[string]any{"n": n}, n: n}
	case "error":
		return job{kind: k, code: `throw new Error("boom " + inputs.n)`, inputs: map[string]any{"n": n}, n: n}
	default:
		return job{kind: "timeout", code: "while (true) {}", inputs: map[string]any{}, timeoutMs: 100}
	}
}

// outcome is what is checked, from either transport.
type outcome struct {
	status    string
	number    *float64
	str       *string
	errMsg    string
	logs      []string
	requestID string
}

func (j job) check(o outcome) error {
	if o.requestID == "" {
		return errors.New("no request_id")
	}
	switch j.kind {
	case "quick", "busy":
		want := float64(j.n)
		if j.kind == "quick" {
			want = float64(2 * j.n)
		}
		if o.status != "ok" || o.number == nil || *o.number != want {
			return fmt.Errorf("%s: want ok %v, got %s %v (%s)", j.kind, want, o.status, deref(o.number), o.errMsg)
		}
	case "log":
		want := fmt.Sprintf("line %d", j.n)
		if o.status != "ok" || o.str == nil || *o.str != "logged" || len(o.logs) != 1 || o.logs[0] != want {
			return fmt.Errorf("log: want ok \"logged\" with log %q, got %s %v %q (%s)", want, o.status, o.str, o.logs, o.errMsg)
		}
	case "error":
		want := fmt.Sprintf("boom %d", j.n)
		if o.status != "error" || o.errMsg != want {
			return fmt.Errorf("error: want error %q, got %s %q", want, o.status, o.errMsg)
		}
	case "timeout":
		if o.status != "timeout" {
			return fmt.Errorf("timeout: want status timeout, got %s (%s)", o.status, o.errMsg)
		}
	}
	return nil
}

func deref(p *float64) any {
	if p == nil {
		return nil
	}
	return *p
}

// result of one attempt: ok, retry (refused before it ran), or fail (clean or not).
type attempt struct {
	retry      bool
	retryWhy   string
	retryAfter time.Duration
	err        error
	clean      bool // a failure an in-flight request on a killed replica may get
}

type httpDriver struct {
	base   string
	client *http.Client
}

func (h *httpDriver) do(ctx context.Context, j job) attempt {
	body := map[string]any{"code": j.code, "inputs": j.inputs}
	if j.timeoutMs > 0 {
		body["limits"] = map[string]any{"timeout_ms": j.timeoutMs}
	}
	b, _ := json.Marshal(body)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, h.base+"/v1/execute", bytes.NewReader(b))
	if err != nil {
		return attempt{err: err}
	}
	req.Header.Set("content-type", "application/json")
	resp, err := h.client.Do(req)
	if err != nil {
		// A connection error to the balancer, or our deadline: never retried. The balancer
		// closing the connection without an answer, when the replica died under the request
		// (HAProxy does that rather than a 502 when it may not retry), is a clean failure:
		// at once, and never a wrong result.
		closed := errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNRESET)
		return attempt{err: fmt.Errorf("http: %w", err), clean: ctx.Err() == nil && closed}
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return attempt{err: fmt.Errorf("http %d: reading the body: %w", resp.StatusCode, err)}
	}
	switch resp.StatusCode {
	case http.StatusOK:
	case http.StatusTooManyRequests, http.StatusServiceUnavailable:
		var ra time.Duration
		if s, err := strconv.ParseFloat(resp.Header.Get("retry-after"), 64); err == nil && s > 0 {
			ra = time.Duration(s * float64(time.Second))
		}
		return attempt{retry: true, retryWhy: fmt.Sprintf("http %d %s", resp.StatusCode, errCode(data)), retryAfter: ra,
			err: fmt.Errorf("http %d: %s", resp.StatusCode, snippet(data)), clean: true}
	default:
		clean := resp.StatusCode == http.StatusBadGateway || resp.StatusCode == http.StatusGatewayTimeout
		return attempt{err: fmt.Errorf("http %d: %s", resp.StatusCode, snippet(data)), clean: clean}
	}
	var r struct {
		Status string          `json:"status"`
		Result json.RawMessage `json:"result"`
		Error  *struct {
			Message string `json:"message"`
		} `json:"error"`
		Logs []struct {
			Message string `json:"message"`
		} `json:"logs"`
		RequestID string `json:"request_id"`
	}
	if err := json.Unmarshal(data, &r); err != nil {
		return attempt{err: fmt.Errorf("http 200: bad JSON %v: %s", err, snippet(data))}
	}
	o := outcome{status: r.Status, requestID: r.RequestID}
	if r.Error != nil {
		o.errMsg = r.Error.Message
	}
	for _, l := range r.Logs {
		o.logs = append(o.logs, l.Message)
	}
	var v any
	if len(r.Result) > 0 && json.Unmarshal(r.Result, &v) == nil {
		switch v := v.(type) {
		case float64:
			o.number = &v
		case string:
			o.str = &v
		}
	}
	if err := j.check(o); err != nil {
		return attempt{err: fmt.Errorf("http: wrong outcome: %w", err)}
	}
	return attempt{}
}

func errCode(data []byte) string {
	var e struct {
		Error struct {
			Code string `json:"code"`
		} `json:"error"`
	}
	if json.Unmarshal(data, &e) == nil && e.Error.Code != "" {
		return e.Error.Code
	}
	return "(balancer)"
}

func snippet(b []byte) string {
	s := strings.Join(strings.Fields(string(b)), " ")
	if len(s) > 160 {
		s = s[:160] + "..."
	}
	return s
}

type grpcDriver struct{ c *nodecell.Client }

func (g *grpcDriver) do(ctx context.Context, j job) attempt {
	out, err := g.c.Execute(ctx, nodecell.Request{Code: j.code, Inputs: j.inputs, Limits: nodecell.Limits{TimeoutMs: j.timeoutMs}})
	if err != nil {
		var e *nodecell.Error
		if errors.As(err, &e) {
			if e.Retryable && e.Code != "" && e.Code != nodecell.CodeRequestTimeout {
				return attempt{retry: true, retryWhy: "grpc " + e.Code, retryAfter: e.RetryAfter, err: err, clean: true}
			}
			// The balancer's own 503 (no replica up): grpc-go reads the HTTP status as
			// UNAVAILABLE; the request never reached a replica.
			if e.Code == "" && e.GRPCCode == codes.Unavailable && strings.Contains(e.Message, "status code received from server: 503") {
				return attempt{retry: true, retryWhy: "grpc balancer 503", err: err, clean: true}
			}
			clean := ctx.Err() == nil && e.Code == "" && (e.GRPCCode == codes.Unavailable || e.GRPCCode == codes.Internal)
			return attempt{err: fmt.Errorf("grpc %s: %w", e.GRPCCode, err), clean: clean}
		}
		return attempt{err: fmt.Errorf("grpc: %w", err)}
	}
	o := outcome{status: string(out.Status), requestID: out.RequestID}
	if out.Error != nil {
		o.errMsg = out.Error.Message
	}
	for _, l := range out.Logs {
		o.logs = append(o.logs, l.Message)
	}
	if out.Result != nil {
		if v, ok := out.Result.AsInterface().(float64); ok {
			o.number = &v
		} else if s, ok := out.Result.AsInterface().(string); ok {
			o.str = &s
		}
	}
	if err := j.check(o); err != nil {
		return attempt{err: fmt.Errorf("grpc: wrong outcome: %w", err)}
	}
	return attempt{}
}

type transportStats struct {
	Requests       int `json:"requests"`
	OK             int `json:"ok"`
	Retries        int `json:"retries"`
	Failures       int `json:"failures"`
	CleanFailures  int `json:"clean_failures"`
	UncleanFailure int `json:"unclean_failures"`
}

type stats struct {
	mu           sync.Mutex
	Phase        string                     `json:"phase"`
	Seconds      float64                    `json:"seconds"`
	Concurrency  int                        `json:"concurrency"`
	Requests     int                        `json:"requests"`
	OK           int                        `json:"ok"`
	Retries      int                        `json:"retries"`
	RetryReasons map[string]int             `json:"retry_reasons"`
	Failures     int                        `json:"failures"`
	Clean        int                        `json:"clean_failures"`
	Unclean      int                        `json:"unclean_failures"`
	Reasons      []string                   `json:"failure_reasons"`
	ByTransport  map[string]*transportStats `json:"by_transport"`
	ByKind       map[string]int             `json:"by_kind"`
	MaxLatencyMs float64                    `json:"max_latency_ms"`
}

func (s *stats) add(transport string, j job, ok bool, retries int, why []string, fail attempt, lat time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.ByTransport[transport]
	s.Requests++
	t.Requests++
	s.ByKind[j.kind]++
	s.Retries += retries
	t.Retries += retries
	for _, w := range why {
		s.RetryReasons[w]++
	}
	if ms := float64(lat.Microseconds()) / 1000; ms > s.MaxLatencyMs {
		s.MaxLatencyMs = ms
	}
	if ok {
		s.OK++
		t.OK++
		return
	}
	s.Failures++
	t.Failures++
	if fail.clean {
		s.Clean++
		t.CleanFailures++
	} else {
		s.Unclean++
		t.UncleanFailure++
	}
	if len(s.Reasons) < 10 {
		tag := "unclean"
		if fail.clean {
			tag = "clean"
		}
		s.Reasons = append(s.Reasons, fmt.Sprintf("%s %s %s after %d retries, %.0f ms: %v", tag, transport, j.kind, retries, float64(lat.Milliseconds()), fail.err))
	}
}

func main() {
	httpBase := flag.String("http", "", "the balancer's HTTP base URL (http://127.0.0.1:PORT)")
	grpcAddr := flag.String("grpc", "", "the balancer's gRPC address (127.0.0.1:PORT)")
	duration := flag.Duration("duration", 0, "how long to run (0: until -stop-file exists)")
	stopFile := flag.String("stop-file", "", "stop once this file exists")
	concurrency := flag.Int("concurrency", 8, "workers, each with one request at a time")
	phase := flag.String("phase", "load", "the phase's name in the report (kill: failures are judged clean or not)")
	deadline := flag.Duration("deadline", 15*time.Second, "one attempt's deadline")
	budget := flag.Duration("retry-budget", 30*time.Second, "how long one request may keep being retried")
	flag.Parse()
	if *httpBase == "" || *grpcAddr == "" || (*duration == 0 && *stopFile == "") {
		fmt.Fprintln(os.Stderr, "lbload: -http, -grpc and -duration or -stop-file are required")
		os.Exit(2)
	}

	h := &httpDriver{base: strings.TrimRight(*httpBase, "/"), client: &http.Client{Transport: &http.Transport{
		Proxy:               nil,
		MaxIdleConnsPerHost: *concurrency,
		IdleConnTimeout:     30 * time.Second,
	}}}
	c, err := nodecell.Dial(*grpcAddr, nodecell.WithDialOptions(grpc.WithNoProxy()))
	if err != nil {
		fmt.Fprintln(os.Stderr, "lbload:", err)
		os.Exit(1)
	}
	defer c.Close()
	g := &grpcDriver{c: c}

	s := &stats{Phase: *phase, Concurrency: *concurrency, RetryReasons: map[string]int{}, ByKind: map[string]int{},
		ByTransport: map[string]*transportStats{"http": {}, "grpc": {}}}
	start := time.Now()
	stop := make(chan struct{})
	go func() {
		t := time.NewTicker(50 * time.Millisecond)
		defer t.Stop()
		for range t.C {
			if *duration > 0 && time.Since(start) >= *duration {
				break
			}
			if *stopFile != "" {
				if _, err := os.Stat(*stopFile); err == nil {
					break
				}
			}
		}
		close(stop)
	}()

	var wg sync.WaitGroup
	for w := 0; w < *concurrency; w++ {
		wg.Add(1)
		go func(seed uint64) {
			defer wg.Done()
			r := rand.New(rand.NewPCG(seed, uint64(time.Now().UnixNano())))
			for {
				select {
				case <-stop:
					return
				default:
				}
				j := newJob(r)
				transport := "http"
				if r.IntN(2) == 1 {
					transport = "grpc"
				}
				t0 := time.Now()
				retries := 0
				var why []string
				var last attempt
				ok := false
				for {
					ctx, cancel := context.WithTimeout(context.Background(), *deadline)
					a0 := time.Now()
					if transport == "http" {
						last = h.do(ctx, j)
					} else {
						last = g.do(ctx, j)
					}
					late := time.Since(a0) > *deadline
					cancel()
					if last.err == nil {
						ok = !late
						if late {
							last = attempt{err: fmt.Errorf("answered after its deadline (%v)", time.Since(a0))}
						}
						break
					}
					if late {
						last.clean = false
						last.err = fmt.Errorf("past its deadline: %w", last.err)
					}
					if !last.retry || time.Since(t0) > *budget {
						break
					}
					retries++
					why = append(why, last.retryWhy)
					d := last.retryAfter
					if d <= 0 || d > time.Second {
						// Capped: the balancer sends the next try to another replica.
						d = min(50*time.Millisecond<<min(retries-1, 4), time.Second)
					}
					time.Sleep(d + time.Duration(r.Int64N(int64(d)/4+1)))
				}
				s.add(transport, j, ok, retries, why, last, time.Since(t0))
			}
		}(uint64(w))
	}
	wg.Wait()
	s.Seconds = float64(time.Since(start).Milliseconds()) / 1000
	s.mu.Lock()
	out, _ := json.MarshalIndent(s, "", "  ")
	s.mu.Unlock()
	fmt.Println(string(out))
}
