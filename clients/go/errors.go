package nodecell

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// The stable error codes of the service (README.md, "error codes").
const (
	CodeInvalidRequest      = "invalid_request"
	CodeInvalidLimits       = "invalid_limits"
	CodeUnknownBackend      = "unknown_backend"
	CodeBackendUnavailable  = "backend_unavailable"
	CodeCodeTooLarge        = "code_too_large"
	CodeInputsTooLarge      = "inputs_too_large"
	CodeRequestTooLarge     = "request_too_large"
	CodeRequestTimeout      = "request_timeout"
	CodeOverloaded          = "overloaded"
	CodeClientShareExceeded = "client_share_exceeded"
	CodeDraining            = "draining"
	CodeSandboxUnavailable  = "sandbox_unavailable"
	CodeClientClosed        = "client_closed"
	CodeUnauthenticated     = "unauthenticated"
	CodeNotReady            = "not_ready"
)

// retryableCodes are the codes the service marks retryable, for statuses that carry the
// code only in metadata.
var retryableCodes = map[string]bool{
	CodeRequestTimeout:      true,
	CodeOverloaded:          true,
	CodeClientShareExceeded: true,
	CodeDraining:            true,
	CodeSandboxUnavailable:  true,
	CodeNotReady:            true,
}

// errorDomain is google.rpc.ErrorInfo's domain for nodecell's errors.
const errorDomain = "nodecell"

// Error is an error of the request itself (never a run's outcome): a gRPC status from the
// service or from the transport. Read it with errors.As.
type Error struct {
	// Code is the service's stable code ("invalid_request", "overloaded", "draining", ...);
	// empty when the status carries none (a transport error, or a message gRPC itself
	// refused).
	Code string
	// Message is the status message without its "<code>: " prefix.
	Message string
	// Retryable: the service says a retry may succeed (on this instance or another).
	Retryable bool
	// RetryAfter is the delay the service asks for before a retry (RetryInfo, else the
	// `retry-after` metadata); zero when none is given.
	RetryAfter time.Duration
	// Fields maps each field at fault ("code", "limits.timeout_ms", ...) to its
	// description (google.rpc.BadRequest).
	Fields map[string]string
	// Metadata is google.rpc.ErrorInfo's metadata ("backend", "limit", "retryable", ...).
	Metadata map[string]string
	// GRPCCode is the status code.
	GRPCCode codes.Code
	// RequestID is the id the service knows the call by (its x-request-id metadata); empty
	// when the call never reached it.
	RequestID string

	status *status.Status
	cause  error
}

// Error is "nodecell: <code>: <message>" (or the gRPC code when there is no nodecell code).
func (e *Error) Error() string {
	if e.Code != "" {
		return "nodecell: " + e.Code + ": " + e.Message
	}
	return fmt.Sprintf("nodecell: %s: %s", e.GRPCCode, e.Message)
}

// GRPCStatus is the status as received, so that status.FromError and status.Code work.
func (e *Error) GRPCStatus() *status.Status { return e.status }

// Unwrap is the context's error when the call ended because its context did.
func (e *Error) Unwrap() error { return e.cause }

// decodeError turns a failed call's error into *Error. md is the call's header and trailer
// metadata, for the `nodecell-error-code` and `retry-after` fallbacks; ctx, when done, is
// the cause.
func decodeError(ctx context.Context, err error, md metadata.MD) error {
	if err == nil {
		return nil
	}
	var e *Error
	if errors.As(err, &e) {
		return err
	}
	st, ok := status.FromError(err)
	if !ok {
		if ctx.Err() != nil {
			return fmt.Errorf("nodecell: %w", ctx.Err())
		}
		return err
	}
	e = &Error{GRPCCode: st.Code(), Message: st.Message(), status: st, cause: ctx.Err()}
	for _, d := range st.Details() {
		switch d := d.(type) {
		case *errdetails.ErrorInfo:
			if d.GetDomain() == errorDomain {
				e.Code = d.GetReason()
				e.Metadata = d.GetMetadata()
				if r, ok := d.GetMetadata()["retryable"]; ok {
					e.Retryable = r == "true"
				} else {
					e.Retryable = retryableCodes[e.Code]
				}
			}
		case *errdetails.RetryInfo:
			e.RetryAfter = d.GetRetryDelay().AsDuration()
		case *errdetails.BadRequest:
			for _, v := range d.GetFieldViolations() {
				if e.Fields == nil {
					e.Fields = map[string]string{}
				}
				e.Fields[v.GetField()] = v.GetDescription()
			}
		}
	}
	if e.Code == "" {
		if v := md.Get("nodecell-error-code"); len(v) > 0 {
			e.Code = v[0]
			e.Retryable = retryableCodes[e.Code]
		}
	}
	if e.RetryAfter == 0 {
		if v := md.Get("retry-after"); len(v) > 0 {
			if s, err := strconv.ParseFloat(v[0], 64); err == nil && s > 0 {
				e.RetryAfter = time.Duration(s * float64(time.Second))
			}
		}
	}
	if v := md.Get("x-request-id"); len(v) > 0 {
		e.RequestID = v[0]
	}
	if e.Code != "" {
		e.Message = strings.TrimPrefix(e.Message, e.Code+": ")
	}
	return e
}

// joinMD is the header and trailer metadata of a call together.
func joinMD(header, trailer metadata.MD) metadata.MD {
	return metadata.Join(header, trailer)
}
