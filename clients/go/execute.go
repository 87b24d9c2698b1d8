package nodecell

import (
	"context"
	"errors"
	"io"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"

	pb "github.com/nodecell/nodecell/clients/go/nodecellpb"
)

// RunOption configures one call of [Client.Execute] or [Client.Session].
type RunOption func(*runOptions)

type runOptions struct {
	onLog          func(Log)
	onStdout       func(string)
	onStderr       func(string)
	returnsPromise map[string]bool
}

// OnLog is called with each console line as it happens. With any of OnLog, OnStdout and
// OnStderr, Execute streams the run (ExecuteStream); the outcome still carries them all.
func OnLog(f func(Log)) RunOption { return func(o *runOptions) { o.onLog = f } }

// OnStdout is called with each chunk the code writes to process.stdout, as it happens.
func OnStdout(f func(string)) RunOption { return func(o *runOptions) { o.onStdout = f } }

// OnStderr is called with each chunk the code writes to process.stderr, as it happens.
func OnStderr(f func(string)) RunOption { return func(o *runOptions) { o.onStderr = f } }

// ReturnsPromise declares the named host functions of a session as returning a promise of
// their reply (the default is to return the reply's value, as AVS's functions do).
func ReturnsPromise(names ...string) RunOption {
	return func(o *runOptions) {
		if o.returnsPromise == nil {
			o.returnsPromise = map[string]bool{}
		}
		for _, n := range names {
			o.returnsPromise[n] = true
		}
	}
}

func collectRunOptions(opts []RunOption) runOptions {
	var o runOptions
	for _, opt := range opts {
		opt(&o)
	}
	return o
}

func (o *runOptions) streamed() bool {
	return o.onLog != nil || o.onStdout != nil || o.onStderr != nil
}

// Execute runs req and returns its outcome, whatever its status; the error is an error of
// the request ([*Error]) or of the context.
func (c *Client) Execute(ctx context.Context, req Request, opts ...RunOption) (*Outcome, error) {
	msg, err := req.toPB()
	if err != nil {
		return nil, err
	}
	o := collectRunOptions(opts)
	var out *Outcome
	err = c.retry.do(ctx, func() error {
		var err error
		if o.streamed() {
			out, err = c.executeStream(ctx, msg, &o)
			return err
		}
		var header, trailer metadata.MD
		resp, err := c.rpc.Execute(ctx, msg, grpc.Header(&header), grpc.Trailer(&trailer))
		if err != nil {
			return decodeError(ctx, err, joinMD(header, trailer))
		}
		out = outcomeFromPB(resp)
		return nil
	}, nil)
	return out, err
}

func (c *Client) executeStream(ctx context.Context, msg *pb.ExecuteRequest, o *runOptions) (*Outcome, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := c.rpc.ExecuteStream(ctx, &pb.ExecuteStreamRequest{Request: msg})
	if err != nil {
		return nil, decodeError(ctx, err, nil)
	}
	for {
		ev, err := stream.Recv()
		if err != nil {
			if errors.Is(err, io.EOF) {
				return nil, errors.New("nodecell: the stream ended without an outcome")
			}
			header, _ := stream.Header()
			return nil, decodeError(ctx, err, joinMD(header, stream.Trailer()))
		}
		switch e := ev.GetEvent().(type) {
		case *pb.ExecuteStreamResponse_Log:
			if o.onLog != nil {
				o.onLog(logFromPB(e.Log))
			}
		case *pb.ExecuteStreamResponse_Stdout:
			if o.onStdout != nil {
				o.onStdout(e.Stdout)
			}
		case *pb.ExecuteStreamResponse_Stderr:
			if o.onStderr != nil {
				o.onStderr(e.Stderr)
			}
		case *pb.ExecuteStreamResponse_Outcome:
			return outcomeFromPB(e.Outcome), nil
		}
	}
}

// ExecuteBatch runs one code over many items; the outcomes are in item order.
func (c *Client) ExecuteBatch(ctx context.Context, req BatchRequest) (*BatchOutcome, error) {
	msg, err := req.toPB()
	if err != nil {
		return nil, err
	}
	var out *BatchOutcome
	err = c.retry.do(ctx, func() error {
		var header, trailer metadata.MD
		resp, err := c.rpc.ExecuteBatch(ctx, msg, grpc.Header(&header), grpc.Trailer(&trailer))
		if err != nil {
			return decodeError(ctx, err, joinMD(header, trailer))
		}
		out = batchOutcomeFromPB(resp)
		return nil
	}, nil)
	return out, err
}
