package nodecell

import (
	"context"
	"errors"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"
)

func withDetails(t *testing.T, c codes.Code, msg string, details ...*errdetails.ErrorInfo) *status.Status {
	t.Helper()
	st := status.New(c, msg)
	for _, d := range details {
		var err error
		if st, err = st.WithDetails(d); err != nil {
			t.Fatal(err)
		}
	}
	return st
}

func TestDecodeErrorDetails(t *testing.T) {
	st, err := status.New(codes.InvalidArgument, "invalid_limits: timeout_ms 999999999 is above the maximum 300000").WithDetails(
		&errdetails.ErrorInfo{Reason: "invalid_limits", Domain: "nodecell", Metadata: map[string]string{"limit": "timeout_ms", "max": "300000", "retryable": "false"}},
		&errdetails.BadRequest{FieldViolations: []*errdetails.BadRequest_FieldViolation{{Field: "limits.timeout_ms", Description: "above the maximum 300000"}}},
	)
	if err != nil {
		t.Fatal(err)
	}
	got := decodeError(context.Background(), st.Err(), nil)
	var e *Error
	if !errors.As(got, &e) {
		t.Fatalf("%T, want *Error", got)
	}
	if e.Code != CodeInvalidLimits || e.GRPCCode != codes.InvalidArgument || e.Retryable || e.RetryAfter != 0 {
		t.Fatalf("decoded %+v", e)
	}
	if e.Message != "timeout_ms 999999999 is above the maximum 300000" {
		t.Fatalf("message %q", e.Message)
	}
	if e.Fields["limits.timeout_ms"] != "above the maximum 300000" || e.Metadata["limit"] != "timeout_ms" {
		t.Fatalf("fields %v metadata %v", e.Fields, e.Metadata)
	}
	if status.Code(got) != codes.InvalidArgument {
		t.Fatalf("status.Code of the decoded error: %v", status.Code(got))
	}
	if e.Error() != "nodecell: invalid_limits: timeout_ms 999999999 is above the maximum 300000" {
		t.Fatalf("Error() = %q", e.Error())
	}
}

func TestDecodeErrorRetryInfo(t *testing.T) {
	st, err := status.New(codes.ResourceExhausted, "overloaded: the queue is full").WithDetails(
		&errdetails.ErrorInfo{Reason: "overloaded", Domain: "nodecell", Metadata: map[string]string{"retryable": "true"}},
		&errdetails.RetryInfo{RetryDelay: durationpb.New(1500 * time.Millisecond)},
	)
	if err != nil {
		t.Fatal(err)
	}
	var e *Error
	if !errors.As(decodeError(context.Background(), st.Err(), nil), &e) {
		t.Fatal("not an *Error")
	}
	if e.Code != CodeOverloaded || !e.Retryable || e.RetryAfter != 1500*time.Millisecond || !retryable(e) {
		t.Fatalf("decoded %+v", e)
	}
}

// A status without details: the code and delay from the metadata.
func TestDecodeErrorMetadataFallback(t *testing.T) {
	st := status.New(codes.ResourceExhausted, "client_share_exceeded: this client holds its share")
	md := metadata.Pairs("nodecell-error-code", "client_share_exceeded", "retry-after", "2")
	var e *Error
	if !errors.As(decodeError(context.Background(), st.Err(), md), &e) {
		t.Fatal("not an *Error")
	}
	if e.Code != CodeClientShareExceeded || !e.Retryable || e.RetryAfter != 2*time.Second || e.Message != "this client holds its share" {
		t.Fatalf("decoded %+v", e)
	}
}

// A status from gRPC itself (no nodecell code), and one from a cancelled context.
func TestDecodeErrorTransport(t *testing.T) {
	var e *Error
	if !errors.As(decodeError(context.Background(), status.Error(codes.Unavailable, "connection refused"), nil), &e) {
		t.Fatal("not an *Error")
	}
	if e.Code != "" || e.GRPCCode != codes.Unavailable || e.Retryable {
		t.Fatalf("decoded %+v", e)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := decodeError(ctx, status.Error(codes.Canceled, "context canceled"), nil)
	if !errors.Is(err, context.Canceled) || !errors.As(err, &e) || e.GRPCCode != codes.Canceled {
		t.Fatalf("cancelled: %v", err)
	}
}

// An ErrorInfo of another domain is not nodecell's code.
func TestDecodeErrorOtherDomain(t *testing.T) {
	st := withDetails(t, codes.Internal, "boom", &errdetails.ErrorInfo{Reason: "X", Domain: "proxy.example"})
	var e *Error
	if !errors.As(decodeError(context.Background(), st.Err(), nil), &e) || e.Code != "" {
		t.Fatalf("decoded %+v", e)
	}
}

func TestRetryPolicyDelays(t *testing.T) {
	p := defaultRetryPolicy()
	p.jitter = func(d time.Duration) time.Duration { return d / 5 }
	p.maxDelay = 3 * time.Second
	if d := p.delay(&Error{RetryAfter: time.Second}, 1); d != 1200*time.Millisecond {
		t.Fatalf("delay %s", d)
	}
	if d := p.delay(&Error{RetryAfter: 10 * time.Second}, 1); d != 3*time.Second {
		t.Fatalf("capped delay %s", d)
	}
	if d := p.delay(&Error{}, 3); d != 480*time.Millisecond {
		t.Fatalf("delay without RetryInfo, attempt 3: %s", d)
	}
}
