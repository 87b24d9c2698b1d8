package nodecell

import (
	"strings"

	"google.golang.org/protobuf/types/known/structpb"

	pb "github.com/nodecell/nodecell/clients/go/nodecellpb"
)

// Status is how a run ended.
type Status string

// The statuses of an outcome (README.md, "What the code sees").
const (
	StatusOK          Status = "ok"
	StatusError       Status = "error"
	StatusTimeout     Status = "timeout"
	StatusMemoryLimit Status = "memory_limit"
	StatusOutputLimit Status = "output_limit"
	StatusCrashed     Status = "crashed"
	// StatusUnspecified: the server sent no status (a newer server's status this client
	// does not know reads as its lower-case proto name instead).
	StatusUnspecified Status = "unspecified"
)

func statusFromPB(s pb.Status) Status {
	name, ok := pb.Status_name[int32(s)]
	if !ok {
		return StatusUnspecified
	}
	return Status(strings.ToLower(strings.TrimPrefix(name, "STATUS_")))
}

// Outcome is what a run gave: any status, ok or not. It is never a Go error.
type Outcome struct {
	Status Status
	// Result is the code's result as JSON; set when Status is StatusOK.
	Result *structpb.Value
	// Error is set for every status but StatusOK.
	Error *RunError
	// Logs are the console lines.
	Logs      []Log
	Stdout    string
	Stderr    string
	Truncated bool
	Usage     Usage
	Backend   string
	// RequestID is the request's id: the x-request-id metadata the call carried, or one the
	// service made (also in the response's x-request-id metadata).
	RequestID string
	// Raw is the response as received.
	Raw *pb.ExecuteResponse
}

// OK reports whether the run ended with status ok.
func (o *Outcome) OK() bool { return o != nil && o.Status == StatusOK }

// RunError is what a run that did not end ok reports (a throw, the time limit, ...).
type RunError struct {
	Name    string
	Message string
	Stack   string
	// Line and Column are 1-based in the code as written; 0 when unknown.
	Line   uint32
	Column uint32
}

// Log is one console line.
type Log struct {
	// Level is log, info, warn, error or debug.
	Level   string
	Message string
}

// Usage is what a run used, measured by the host.
type Usage struct {
	WallMs          float64
	CPUMs           float64
	MemoryPeakBytes uint64
	// HostWaitMs is the part of WallMs spent waiting for host replies (sessions).
	HostWaitMs float64
	// HostCalls is how many host calls the run made.
	HostCalls uint32
}

// BatchOutcome is what [Client.ExecuteBatch] gives: one outcome per item, in item order.
type BatchOutcome struct {
	Outcomes []*Outcome
	// Usage of the whole batch.
	Usage Usage
	// Stdout and Stderr written directly by the items under isolation "batch" (shared).
	Stdout string
	Stderr string
	// RequestID is the request's id (as on each outcome).
	RequestID string
	Raw       *pb.ExecuteBatchResponse
}

func outcomeFromPB(r *pb.ExecuteResponse) *Outcome {
	if r == nil {
		return nil
	}
	o := &Outcome{
		Status:    statusFromPB(r.GetStatus()),
		Result:    r.GetResult(),
		Stdout:    r.GetStdout(),
		Stderr:    r.GetStderr(),
		Truncated: r.GetTruncated(),
		Usage:     usageFromPB(r.GetUsage()),
		Backend:   r.GetBackend(),
		RequestID: r.GetRequestId(),
		Raw:       r,
	}
	if e := r.GetError(); e != nil {
		o.Error = &RunError{
			Name:    e.GetName(),
			Message: e.GetMessage(),
			Stack:   e.GetStack(),
			Line:    e.GetLine(),
			Column:  e.GetColumn(),
		}
	}
	for _, l := range r.GetLogs() {
		o.Logs = append(o.Logs, logFromPB(l))
	}
	return o
}

func logFromPB(l *pb.Log) Log { return Log{Level: l.GetLevel(), Message: l.GetMessage()} }

func usageFromPB(u *pb.Usage) Usage {
	return Usage{
		WallMs:          u.GetWallMs(),
		CPUMs:           u.GetCpuMs(),
		MemoryPeakBytes: u.GetMemoryPeakBytes(),
		HostWaitMs:      u.GetHostWaitMs(),
		HostCalls:       u.GetHostCalls(),
	}
}

func batchOutcomeFromPB(r *pb.ExecuteBatchResponse) *BatchOutcome {
	b := &BatchOutcome{
		Usage:     usageFromPB(r.GetUsage()),
		Stdout:    r.GetStdout(),
		Stderr:    r.GetStderr(),
		RequestID: r.GetRequestId(),
		Raw:       r,
	}
	for _, o := range r.GetOutcomes() {
		b.Outcomes = append(b.Outcomes, outcomeFromPB(o))
	}
	return b
}
