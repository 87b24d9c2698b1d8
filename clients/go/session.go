package nodecell

import (
	"context"
	"errors"
	"fmt"
	"io"

	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/structpb"

	pb "github.com/nodecell/nodecell/clients/go/nodecellpb"
)

// Handler serves one host function. args are the call's arguments as JSON (under profile
// "avs" a Date is its RFC 3339 string). A nil value is undefined in JavaScript; an error
// is thrown in user code as an Error with the error's message. ctx is cancelled when the
// run ends (its outcome arrived, or the session's context was cancelled).
type Handler func(ctx context.Context, args []*structpb.Value) (*structpb.Value, error)

// Handlers maps host function names ("fetch", "state.get", ...) to their handlers: one or
// two JavaScript identifiers joined by a dot, at most 64.
type Handlers map[string]Handler

// Session runs req with host functions the caller serves: every name in handlers is
// declared (see [ReturnsPromise]), each host call the code makes is answered with its
// handler's result, and a call of a name without a handler gets an error reply. Console
// lines and output go to the [OnLog], [OnStdout] and [OnStderr] callbacks as they happen.
// The outcome is returned whatever its status.
//
// Cancelling ctx cancels the stream, and the service kills the sandbox. A session refused
// as overloaded is retried as [Client.Execute] is, but never after one of its host calls
// was answered.
func (c *Client) Session(ctx context.Context, req Request, handlers Handlers, opts ...RunOption) (*Outcome, error) {
	msg, err := req.toPB()
	if err != nil {
		return nil, err
	}
	o := collectRunOptions(opts)
	for _, name := range sortedNames(handlers) {
		msg.HostFunctions = append(msg.HostFunctions, &pb.HostFunction{
			Name:           name,
			ReturnsPromise: o.returnsPromise[name],
		})
	}
	var out *Outcome
	answered := false
	err = c.retry.do(ctx, func() error {
		var err error
		out, err = c.session(ctx, msg, handlers, &o, &answered)
		return err
	}, func() bool { return !answered })
	return out, err
}

type recvResult struct {
	ev  *pb.ExecuteSessionResponse
	err error
}

type handlerResult struct {
	id    uint64
	value *structpb.Value
	err   error
}

// session is one attempt: the stream from start to outcome.
func (c *Client) session(ctx context.Context, start *pb.ExecuteRequest, handlers Handlers, o *runOptions, answered *bool) (*Outcome, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := c.rpc.ExecuteSession(ctx)
	if err != nil {
		return nil, decodeError(ctx, err, nil)
	}
	streamErr := func(err error) error {
		header, _ := stream.Header()
		return decodeError(ctx, err, joinMD(header, stream.Trailer()))
	}
	// A failed Send is io.EOF when the server ended the stream: its status comes with Recv.
	send := func(m *pb.ExecuteSessionRequest) error {
		if err := stream.Send(m); err != nil && !errors.Is(err, io.EOF) {
			return streamErr(err)
		}
		return nil
	}
	if err := send(&pb.ExecuteSessionRequest{Message: &pb.ExecuteSessionRequest_Start{Start: start}}); err != nil {
		return nil, err
	}

	events := make(chan recvResult)
	go func() {
		for {
			ev, err := stream.Recv()
			select {
			case events <- recvResult{ev, err}:
			case <-ctx.Done():
				return
			}
			if err != nil || ev.GetOutcome() != nil {
				return
			}
		}
	}()
	replies := make(chan handlerResult)
	for {
		select {
		case r := <-events:
			if r.err != nil {
				if errors.Is(r.err, io.EOF) {
					return nil, errors.New("nodecell: the session ended without an outcome")
				}
				return nil, streamErr(r.err)
			}
			switch e := r.ev.GetEvent().(type) {
			case *pb.ExecuteSessionResponse_Log:
				if o.onLog != nil {
					o.onLog(logFromPB(e.Log))
				}
			case *pb.ExecuteSessionResponse_Stdout:
				if o.onStdout != nil {
					o.onStdout(e.Stdout)
				}
			case *pb.ExecuteSessionResponse_Stderr:
				if o.onStderr != nil {
					o.onStderr(e.Stderr)
				}
			case *pb.ExecuteSessionResponse_HostCall:
				call := e.HostCall
				h := handlers[call.GetName()]
				if h == nil {
					err := fmt.Errorf("no handler for host function %q", call.GetName())
					if err := send(reply(handlerResult{id: call.GetId(), err: err})); err != nil {
						return nil, err
					}
					*answered = true
					continue
				}
				go func() {
					r := runHandler(ctx, h, call)
					select {
					case replies <- r:
					case <-ctx.Done():
					}
				}()
			case *pb.ExecuteSessionResponse_Outcome:
				_ = stream.CloseSend()
				return outcomeFromPB(e.Outcome), nil
			}
		case r := <-replies:
			if err := send(reply(r)); err != nil {
				return nil, err
			}
			*answered = true
		case <-ctx.Done():
			return nil, decodeError(ctx, status.FromContextError(ctx.Err()).Err(), nil)
		}
	}
}

// runHandler calls h, a panic becoming an error reply.
func runHandler(ctx context.Context, h Handler, call *pb.HostCall) (r handlerResult) {
	r.id = call.GetId()
	defer func() {
		if p := recover(); p != nil {
			r.value, r.err = nil, fmt.Errorf("host function %q panicked: %v", call.GetName(), p)
		}
	}()
	r.value, r.err = h(ctx, call.GetArgs())
	return r
}

func reply(r handlerResult) *pb.ExecuteSessionRequest {
	rep := &pb.HostReply{Id: r.id}
	switch {
	case r.err != nil:
		rep.Reply = &pb.HostReply_Error{Error: &pb.HostError{Message: r.err.Error()}}
	case r.value != nil:
		rep.Reply = &pb.HostReply_Result{Result: r.value}
	}
	return &pb.ExecuteSessionRequest{Message: &pb.ExecuteSessionRequest_Reply{Reply: rep}}
}
