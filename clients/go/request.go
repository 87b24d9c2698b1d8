package nodecell

import (
	"encoding/json"
	"fmt"
	"sort"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/structpb"

	pb "github.com/nodecell/nodecell/clients/go/nodecellpb"
)

// Mode is what a request's code is.
type Mode string

// The modes (docs/avs.md).
const (
	// ModeCode: a program; its `return`, else its completion value (the default).
	ModeCode Mode = "code"
	// ModeExpression: one JavaScript expression (a branch condition under profile "avs").
	ModeExpression Mode = "expression"
	// ModeTemplate: text with `{{ }}` substitutions; the result is the substituted text.
	ModeTemplate Mode = "template"
	// ModeFilter: a predicate over inputs.items; the result is the items it holds for.
	ModeFilter Mode = "filter"
)

// The profiles.
const (
	// ProfileNode: Node's own semantics (the service's usual default).
	ProfileNode = "node"
	// ProfileAVS: EigenLayer-AVS's goja semantics (docs/avs.md).
	ProfileAVS = "avs"
)

// Request is one run. Zero fields take the service's defaults.
type Request struct {
	// Code is the JavaScript source (or expression, template, predicate: see Mode).
	Code string
	// Inputs is the global `inputs` (each identifier key is a global too). Values are
	// JSON-like: nil, bool, numbers, string, []any, map[string]any, *structpb.Value, or
	// anything encoding/json can marshal.
	Inputs map[string]any
	// InputsStruct, when set, is sent as the inputs instead of Inputs.
	InputsStruct *structpb.Struct
	// Limits overrides the service's default limits.
	Limits Limits
	// Backend names the sandbox backend ("native", "nsjail", ...); empty: the service's.
	Backend string
	// Profile is ProfileNode or ProfileAVS; empty: the service's default.
	Profile string
	// Mode is what Code is; empty: ModeCode.
	Mode Mode
	// HostCallLimits bounds a [Client.Session]'s host calls (other calls ignore it).
	HostCallLimits HostCallLimits
}

// Limits overrides the service's default limits; zero keeps a default.
type Limits struct {
	TimeoutMs      uint64
	MemoryMiB      uint64
	MaxOutputBytes uint64
	MaxResultBytes uint64
	MaxProcesses   uint64
}

// HostCallLimits bounds a session's host calls; zero keeps a default (docs/api.md).
type HostCallLimits struct {
	// MaxCalls per run (default 100).
	MaxCalls uint32
	// MaxPayloadBytes of one call's arguments and of one reply, as JSON (default 1 MiB).
	MaxPayloadBytes uint64
	// ReplyTimeoutMs is how long one call waits for its reply (default 10000); past it the
	// run ends with status timeout naming the call.
	ReplyTimeoutMs uint64
}

// BatchRequest runs one code over many items (AVS's loop).
type BatchRequest struct {
	// Request is the code, the inputs every item sees, each item's limits, backend, profile
	// and mode.
	Request Request
	// Items are bound in turn as `value` with its `index`; at most 100. JSON-like values as
	// for Request.Inputs.
	Items []any
	// Parallelism is how many items run at once (1 to 16; 0: one at a time, in order).
	Parallelism uint32
	// Isolation is "item" (each item its own sandbox; empty means this) or "batch".
	Isolation string
}

func (r *Request) toPB() (*pb.ExecuteRequest, error) {
	inputs := r.InputsStruct
	if inputs == nil && r.Inputs != nil {
		inputs = &structpb.Struct{Fields: make(map[string]*structpb.Value, len(r.Inputs))}
		for k, v := range r.Inputs {
			pv, err := ToValue(v)
			if err != nil {
				return nil, fmt.Errorf("nodecell: inputs[%q]: %w", k, err)
			}
			inputs.Fields[k] = pv
		}
	}
	return &pb.ExecuteRequest{
		Code:           r.Code,
		Inputs:         inputs,
		Limits:         r.Limits.toPB(),
		Backend:        r.Backend,
		Profile:        r.Profile,
		Mode:           string(r.Mode),
		HostCallLimits: r.HostCallLimits.toPB(),
	}, nil
}

func (l Limits) toPB() *pb.Limits {
	if l == (Limits{}) {
		return nil
	}
	return &pb.Limits{
		TimeoutMs:      opt(l.TimeoutMs),
		MemoryMib:      opt(l.MemoryMiB),
		MaxOutputBytes: opt(l.MaxOutputBytes),
		MaxResultBytes: opt(l.MaxResultBytes),
		MaxProcesses:   opt(l.MaxProcesses),
	}
}

func (l HostCallLimits) toPB() *pb.HostCallLimits {
	if l == (HostCallLimits{}) {
		return nil
	}
	return &pb.HostCallLimits{
		MaxCalls:        opt(l.MaxCalls),
		MaxPayloadBytes: opt(l.MaxPayloadBytes),
		ReplyTimeoutMs:  opt(l.ReplyTimeoutMs),
	}
}

func (b *BatchRequest) toPB() (*pb.ExecuteBatchRequest, error) {
	req, err := b.Request.toPB()
	if err != nil {
		return nil, err
	}
	items := make([]*structpb.Value, len(b.Items))
	for i, it := range b.Items {
		if items[i], err = ToValue(it); err != nil {
			return nil, fmt.Errorf("nodecell: items[%d]: %w", i, err)
		}
	}
	return &pb.ExecuteBatchRequest{
		Request:     req,
		Items:       items,
		Parallelism: opt(b.Parallelism),
		Isolation:   b.Isolation,
	}, nil
}

// opt is nil for zero (the service's default), else a pointer to v.
func opt[T uint32 | uint64](v T) *T {
	if v == 0 {
		return nil
	}
	return &v
}

// ToValue converts a JSON-like Go value to a protobuf Value: what structpb.NewValue takes,
// *structpb.Value (and Struct, ListValue) as they are, also inside map[string]any and []any,
// and otherwise whatever encoding/json marshals (structs, typed slices and maps).
func ToValue(v any) (*structpb.Value, error) {
	switch x := v.(type) {
	case *structpb.Value:
		if x == nil {
			return structpb.NewNullValue(), nil
		}
		return x, nil
	case *structpb.Struct:
		return structpb.NewStructValue(x), nil
	case *structpb.ListValue:
		return structpb.NewListValue(x), nil
	case map[string]any:
		s := &structpb.Struct{Fields: make(map[string]*structpb.Value, len(x))}
		for k, e := range x {
			pv, err := ToValue(e)
			if err != nil {
				return nil, fmt.Errorf("%q: %w", k, err)
			}
			s.Fields[k] = pv
		}
		return structpb.NewStructValue(s), nil
	case []any:
		l := &structpb.ListValue{Values: make([]*structpb.Value, len(x))}
		for i, e := range x {
			pv, err := ToValue(e)
			if err != nil {
				return nil, fmt.Errorf("[%d]: %w", i, err)
			}
			l.Values[i] = pv
		}
		return structpb.NewListValue(l), nil
	}
	if pv, err := structpb.NewValue(v); err == nil {
		return pv, nil
	}
	raw, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	pv := &structpb.Value{}
	if err := protojson.Unmarshal(raw, pv); err != nil {
		return nil, err
	}
	return pv, nil
}

// sortedNames is the keys of m, sorted.
func sortedNames[V any](m map[string]V) []string {
	names := make([]string, 0, len(m))
	for k := range m {
		names = append(names, k)
	}
	sort.Strings(names)
	return names
}
