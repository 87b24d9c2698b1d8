package nodecell

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/test/bufconn"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/structpb"

	pb "github.com/nodecell/nodecell/clients/go/nodecellpb"
)

// fakeServer implements the generated SandboxServiceServer in process.
type fakeServer struct {
	pb.UnimplementedSandboxServiceServer
	// refuse is how many calls are refused as overloaded before one is answered.
	refuse atomic.Int32
	// draining: refused calls are refused as draining (UNAVAILABLE) instead.
	draining bool
	calls    atomic.Int32
	// session serves ExecuteSession when set.
	session func(grpc.BidiStreamingServer[pb.ExecuteSessionRequest, pb.ExecuteSessionResponse]) error
	mu      sync.Mutex
	auth    []string
}

func overloaded() error {
	st, _ := status.New(codes.ResourceExhausted, "overloaded: the queue is full").WithDetails(
		&errdetails.ErrorInfo{Reason: CodeOverloaded, Domain: "nodecell", Metadata: map[string]string{"retryable": "true"}},
		&errdetails.RetryInfo{RetryDelay: durationpb.New(time.Second)},
	)
	return st.Err()
}

func drainingErr() error {
	st, _ := status.New(codes.Unavailable, "draining: the service is shutting down").WithDetails(
		&errdetails.ErrorInfo{Reason: CodeDraining, Domain: "nodecell", Metadata: map[string]string{"retryable": "true"}},
	)
	return st.Err()
}

func (f *fakeServer) record(ctx context.Context) {
	md, _ := metadata.FromIncomingContext(ctx)
	f.mu.Lock()
	f.auth = append(f.auth, md.Get("authorization")...)
	f.mu.Unlock()
}

func (f *fakeServer) Execute(ctx context.Context, req *pb.ExecuteRequest) (*pb.ExecuteResponse, error) {
	f.record(ctx)
	f.calls.Add(1)
	if f.refuse.Add(-1) >= 0 {
		if f.draining {
			return nil, drainingErr()
		}
		return nil, overloaded()
	}
	return &pb.ExecuteResponse{Status: pb.Status_STATUS_OK, Result: structpb.NewStringValue(req.GetCode()),
		Usage: &pb.Usage{WallMs: 2, HostCalls: 0}}, nil
}

func (f *fakeServer) ExecuteSession(s grpc.BidiStreamingServer[pb.ExecuteSessionRequest, pb.ExecuteSessionResponse]) error {
	f.record(s.Context())
	f.calls.Add(1)
	return f.session(s)
}

// start serves f over an in-memory connection and returns a client of it whose retry
// waits are recorded instead of slept.
func start(t *testing.T, f *fakeServer, opts ...Option) (*Client, *[]time.Duration) {
	t.Helper()
	lis := bufconn.Listen(1 << 20)
	srv := grpc.NewServer()
	pb.RegisterSandboxServiceServer(srv, f)
	go srv.Serve(lis)
	t.Cleanup(srv.Stop)
	opts = append(opts, WithDialOptions(grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) {
		return lis.DialContext(ctx)
	})))
	c, err := Dial("passthrough:///bufnet", opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	var waits []time.Duration
	c.retry.jitter = func(time.Duration) time.Duration { return 0 }
	c.retry.sleep = func(_ context.Context, d time.Duration) error {
		waits = append(waits, d)
		return nil
	}
	return c, &waits
}

func TestRetryOverloadedThenOK(t *testing.T) {
	f := &fakeServer{}
	f.refuse.Store(2)
	c, waits := start(t, f)
	out, err := c.Execute(context.Background(), Request{Code: "return 1"})
	if err != nil {
		t.Fatal(err)
	}
	if !out.OK() || out.Result.GetStringValue() != "return 1" || f.calls.Load() != 3 {
		t.Fatalf("outcome %+v after %d calls", out, f.calls.Load())
	}
	if len(*waits) != 2 || (*waits)[0] != time.Second || (*waits)[1] != time.Second {
		t.Fatalf("waits %v, want the server's 1 s twice", *waits)
	}
}

// A replica that is draining refused the call before running it: it is sent again (through
// a load balancer, to another replica), after the client's own backoff.
func TestRetryAfterDraining(t *testing.T) {
	f := &fakeServer{draining: true}
	f.refuse.Store(1)
	c, waits := start(t, f)
	out, err := c.Execute(context.Background(), Request{Code: "return 1"})
	if err != nil || !out.OK() || f.calls.Load() != 2 {
		t.Fatalf("outcome %+v, %v after %d calls", out, err, f.calls.Load())
	}
	if len(*waits) != 1 || (*waits)[0] != 100*time.Millisecond {
		t.Fatalf("waits %v, want the client's first backoff", *waits)
	}
}

func TestRetryGivesUpAfterMaxAttempts(t *testing.T) {
	f := &fakeServer{}
	f.refuse.Store(10)
	c, waits := start(t, f, WithMaxAttempts(4))
	_, err := c.Execute(context.Background(), Request{Code: "return 1"})
	var e *Error
	if !errors.As(err, &e) || e.Code != CodeOverloaded || e.RetryAfter != time.Second {
		t.Fatalf("error %v", err)
	}
	if f.calls.Load() != 4 || len(*waits) != 3 {
		t.Fatalf("%d calls, waits %v; want 4 calls", f.calls.Load(), *waits)
	}
}

// A retry whose wait would pass the context's deadline is not made.
func TestRetryNeverPastDeadline(t *testing.T) {
	f := &fakeServer{}
	f.refuse.Store(10)
	c, waits := start(t, f)
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	_, err := c.Execute(ctx, Request{Code: "return 1"})
	var e *Error
	if !errors.As(err, &e) || e.Code != CodeOverloaded {
		t.Fatalf("error %v", err)
	}
	if f.calls.Load() != 1 || len(*waits) != 0 {
		t.Fatalf("%d calls, waits %v; want 1 call, no wait", f.calls.Load(), *waits)
	}
}

func TestToken(t *testing.T) {
	f := &fakeServer{}
	c, _ := start(t, f, WithToken("s3cret"))
	if _, err := c.Execute(context.Background(), Request{Code: "1"}); err != nil {
		t.Fatal(err)
	}
	if len(f.auth) != 1 || f.auth[0] != "Bearer s3cret" {
		t.Fatalf("authorization %v", f.auth)
	}
}

// The fake session: checks the start, makes host calls in turn and reports the replies it
// got as the result.
func scriptedSession(t *testing.T, calls []*pb.HostCall) func(grpc.BidiStreamingServer[pb.ExecuteSessionRequest, pb.ExecuteSessionResponse]) error {
	return func(s grpc.BidiStreamingServer[pb.ExecuteSessionRequest, pb.ExecuteSessionResponse]) error {
		first, err := s.Recv()
		if err != nil {
			return err
		}
		start := first.GetStart()
		var declared []string
		for _, h := range start.GetHostFunctions() {
			declared = append(declared, fmt.Sprintf("%s/%v", h.GetName(), h.GetReturnsPromise()))
		}
		_ = s.Send(&pb.ExecuteSessionResponse{Event: &pb.ExecuteSessionResponse_Log{Log: &pb.Log{Level: "log", Message: "hello"}}})
		_ = s.Send(&pb.ExecuteSessionResponse{Event: &pb.ExecuteSessionResponse_Stdout{Stdout: "out"}})
		var replies []any
		for _, call := range calls {
			if err := s.Send(&pb.ExecuteSessionResponse{Event: &pb.ExecuteSessionResponse_HostCall{HostCall: call}}); err != nil {
				return err
			}
			m, err := s.Recv()
			if err != nil {
				return err
			}
			r := m.GetReply()
			if r.GetId() != call.GetId() {
				t.Errorf("reply id %d to call %d", r.GetId(), call.GetId())
			}
			switch x := r.GetReply().(type) {
			case *pb.HostReply_Result:
				replies = append(replies, x.Result.AsInterface())
			case *pb.HostReply_Error:
				replies = append(replies, "error: "+x.Error.GetMessage())
			default:
				replies = append(replies, "undefined")
			}
		}
		result, err := ToValue(map[string]any{"declared": toAny(declared), "replies": replies,
			"limits": start.GetHostCallLimits().GetReplyTimeoutMs()})
		if err != nil {
			return err
		}
		return s.Send(&pb.ExecuteSessionResponse{Event: &pb.ExecuteSessionResponse_Outcome{Outcome: &pb.ExecuteResponse{
			Status: pb.Status_STATUS_OK, Result: result, Usage: &pb.Usage{HostCalls: uint32(len(calls)), HostWaitMs: 1.5},
		}}})
	}
}

func toAny(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}

func TestSessionDispatch(t *testing.T) {
	f := &fakeServer{}
	f.session = scriptedSession(t, []*pb.HostCall{
		{Id: 1, Name: "state.get", Args: []*structpb.Value{structpb.NewStringValue("k")}},
		{Id: 2, Name: "nope"},
		{Id: 3, Name: "fail"},
		{Id: 4, Name: "undef"},
	})
	c, _ := start(t, f)
	var logs []Log
	var stdout string
	handlers := Handlers{
		"state.get": func(_ context.Context, args []*structpb.Value) (*structpb.Value, error) {
			return structpb.NewStringValue("v:" + args[0].GetStringValue()), nil
		},
		"fail": func(context.Context, []*structpb.Value) (*structpb.Value, error) {
			return nil, errors.New("it failed")
		},
		"undef": func(context.Context, []*structpb.Value) (*structpb.Value, error) { return nil, nil },
	}
	out, err := c.Session(context.Background(), Request{Code: "x", HostCallLimits: HostCallLimits{ReplyTimeoutMs: 300}}, handlers,
		OnLog(func(l Log) { logs = append(logs, l) }), OnStdout(func(s string) { stdout += s }), ReturnsPromise("fail"))
	if err != nil {
		t.Fatal(err)
	}
	got := out.Result.GetStructValue().AsMap()
	want := map[string]any{
		"declared": []any{"fail/true", "state.get/false", "undef/false"},
		"replies":  []any{"v:k", `error: no handler for host function "nope"`, "error: it failed", "undefined"},
		"limits":   float64(300),
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("session saw %v\nwant %v", got, want)
	}
	if len(logs) != 1 || logs[0].Message != "hello" || stdout != "out" {
		t.Fatalf("callbacks: logs %v stdout %q", logs, stdout)
	}
	if out.Usage.HostCalls != 4 || out.Usage.HostWaitMs != 1.5 {
		t.Fatalf("usage %+v", out.Usage)
	}
}

// A session refused before it started is retried; one refused after a host call was
// answered is not.
func TestSessionRetry(t *testing.T) {
	f := &fakeServer{}
	f.refuse.Store(1)
	ok := scriptedSession(t, nil)
	f.session = func(s grpc.BidiStreamingServer[pb.ExecuteSessionRequest, pb.ExecuteSessionResponse]) error {
		if f.refuse.Add(-1) >= 0 {
			return overloaded()
		}
		return ok(s)
	}
	c, waits := start(t, f)
	if _, err := c.Session(context.Background(), Request{Code: "x"}, nil); err != nil {
		t.Fatal(err)
	}
	if f.calls.Load() != 2 || len(*waits) != 1 {
		t.Fatalf("%d calls, waits %v; want a retry", f.calls.Load(), *waits)
	}

	f2 := &fakeServer{}
	f2.session = func(s grpc.BidiStreamingServer[pb.ExecuteSessionRequest, pb.ExecuteSessionResponse]) error {
		if _, err := s.Recv(); err != nil {
			return err
		}
		_ = s.Send(&pb.ExecuteSessionResponse{Event: &pb.ExecuteSessionResponse_HostCall{HostCall: &pb.HostCall{Id: 1, Name: "state.set"}}})
		if _, err := s.Recv(); err != nil {
			return err
		}
		return overloaded()
	}
	c2, waits2 := start(t, f2)
	set := Handlers{"state.set": func(context.Context, []*structpb.Value) (*structpb.Value, error) { return nil, nil }}
	_, err := c2.Session(context.Background(), Request{Code: "x"}, set)
	var e *Error
	if !errors.As(err, &e) || e.Code != CodeOverloaded {
		t.Fatalf("error %v", err)
	}
	if f2.calls.Load() != 1 || len(*waits2) != 0 {
		t.Fatalf("%d calls, waits %v; want no retry after an answered host call", f2.calls.Load(), *waits2)
	}
}

// Cancelling the context cancels the stream: the server sees it, Session returns the
// context's error.
func TestSessionCancel(t *testing.T) {
	f := &fakeServer{}
	serverSaw := make(chan error, 1)
	f.session = func(s grpc.BidiStreamingServer[pb.ExecuteSessionRequest, pb.ExecuteSessionResponse]) error {
		if _, err := s.Recv(); err != nil {
			return err
		}
		_ = s.Send(&pb.ExecuteSessionResponse{Event: &pb.ExecuteSessionResponse_HostCall{HostCall: &pb.HostCall{Id: 1, Name: "block"}}})
		<-s.Context().Done()
		serverSaw <- s.Context().Err()
		return nil
	}
	c, _ := start(t, f)
	ctx, cancel := context.WithCancel(context.Background())
	block := Handlers{"block": func(ctx context.Context, _ []*structpb.Value) (*structpb.Value, error) {
		cancel()
		<-ctx.Done()
		return nil, ctx.Err()
	}}
	_, err := c.Session(ctx, Request{Code: "x"}, block)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("error %v, want context.Canceled", err)
	}
	select {
	case err := <-serverSaw:
		if err == nil {
			t.Fatal("the server's stream context was not done")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the server did not see the cancel")
	}
}

// The outcome ends a session even while a handler is still running (a reply timeout); the
// handler's context is cancelled.
func TestSessionOutcomeWhileHandlerRuns(t *testing.T) {
	f := &fakeServer{}
	f.session = func(s grpc.BidiStreamingServer[pb.ExecuteSessionRequest, pb.ExecuteSessionResponse]) error {
		if _, err := s.Recv(); err != nil {
			return err
		}
		_ = s.Send(&pb.ExecuteSessionResponse{Event: &pb.ExecuteSessionResponse_HostCall{HostCall: &pb.HostCall{Id: 1, Name: "slow"}}})
		time.Sleep(50 * time.Millisecond)
		return s.Send(&pb.ExecuteSessionResponse{Event: &pb.ExecuteSessionResponse_Outcome{Outcome: &pb.ExecuteResponse{
			Status: pb.Status_STATUS_TIMEOUT, Error: &pb.Error{Name: "TimeoutError", Message: "host call slow: no reply within 50 ms"},
		}}})
	}
	c, _ := start(t, f)
	handlerDone := make(chan error, 1)
	slow := Handlers{"slow": func(ctx context.Context, _ []*structpb.Value) (*structpb.Value, error) {
		select {
		case <-ctx.Done():
			handlerDone <- ctx.Err()
		case <-time.After(5 * time.Second):
			handlerDone <- nil
		}
		return nil, nil
	}}
	out, err := c.Session(context.Background(), Request{Code: "x"}, slow)
	if err != nil {
		t.Fatal(err)
	}
	if out.Status != StatusTimeout || out.Error.Message != "host call slow: no reply within 50 ms" {
		t.Fatalf("outcome %+v", out)
	}
	if err := <-handlerDone; err == nil {
		t.Fatal("the handler's context was not cancelled when the outcome came")
	}
}

func TestStatusNames(t *testing.T) {
	for s, want := range map[pb.Status]Status{
		pb.Status_STATUS_OK: StatusOK, pb.Status_STATUS_MEMORY_LIMIT: StatusMemoryLimit,
		pb.Status_STATUS_OUTPUT_LIMIT: StatusOutputLimit, pb.Status_STATUS_UNSPECIFIED: StatusUnspecified,
		pb.Status(99): StatusUnspecified,
	} {
		if got := statusFromPB(s); got != want {
			t.Errorf("%v: %q, want %q", s, got, want)
		}
	}
}

func TestToValue(t *testing.T) {
	type point struct {
		X int `json:"x"`
	}
	v, err := ToValue(map[string]any{"a": []string{"x"}, "p": point{3}, "v": structpb.NewBoolValue(true), "l": []any{1, nil}})
	if err != nil {
		t.Fatal(err)
	}
	got := fmt.Sprint(v.AsInterface())
	if got != "map[a:[x] l:[1 <nil>] p:map[x:3] v:true]" {
		t.Fatalf("ToValue: %s", got)
	}
}
