package avs

import (
	"context"
	"sort"
	"strconv"
	"strings"
	"sync"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/structpb"
)

// KV is where workflow state lives: in AVS, its database under
// WorkflowStateKey(taskID, key), or the in-memory map of its scratch-only mode (simulations).
type KV interface {
	// Get is the value stored under key, if any.
	Get(key string) ([]byte, bool)
	Set(key string, value []byte) error
	// Keys is every key that starts with prefix, in any order.
	Keys(prefix string) ([]string, error)
}

// Store serves state.get/set/list over a KV with upstream's semantics (installStateBinding
// in vm_runner_customcode.go), values kept as JSON. It is safe for concurrent use when its
// KV is.
type Store struct {
	kv KV
}

// NewStore returns a store over an empty in-memory KV (AVS's scratch-only mode: a map
// shared by the steps of a run).
func NewStore() *Store { return NewStoreOn(&MemoryKV{values: map[string][]byte{}}) }

// NewStoreOn returns a store over kv (AVS: its database, keyed by task).
func NewStoreOn(kv KV) *Store { return &Store{kv: kv} }

// MemoryKV is an in-memory KV, safe for concurrent use.
type MemoryKV struct {
	mu     sync.Mutex
	values map[string][]byte
}

func (m *MemoryKV) Get(key string) ([]byte, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	v, ok := m.values[key]
	return v, ok
}

func (m *MemoryKV) Set(key string, value []byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.values == nil {
		m.values = map[string][]byte{}
	}
	m.values[key] = value
	return nil
}

func (m *MemoryKV) Keys(prefix string) ([]string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var keys []string
	for k := range m.values {
		if strings.HasPrefix(k, prefix) {
			keys = append(keys, k)
		}
	}
	return keys, nil
}

// Get is state.get(key): the stored value, or nil (undefined) for an empty key, a missing
// key or data that does not decode.
func (s *Store) Get(_ context.Context, args []*structpb.Value) (*structpb.Value, error) {
	key := argString(args, 0)
	if key == "" {
		return nil, nil
	}
	raw, ok := s.kv.Get(key)
	if !ok {
		return nil, nil
	}
	v := &structpb.Value{}
	if err := protojson.Unmarshal(raw, v); err != nil {
		return nil, nil
	}
	return v, nil
}

// Set is state.set(key, value): the value stored as JSON (undefined as null); an empty key
// is a no-op, and a failed write is not an error in user code (upstream logs a warning). It
// returns undefined.
func (s *Store) Set(_ context.Context, args []*structpb.Value) (*structpb.Value, error) {
	key := argString(args, 0)
	if key == "" {
		return nil, nil
	}
	v := structpb.NewNullValue()
	if len(args) > 1 && args[1] != nil {
		v = args[1]
	}
	raw, err := protojson.Marshal(v)
	if err != nil {
		return nil, nil // upstream: not stored, a warning logged
	}
	_ = s.kv.Set(key, raw)
	return nil, nil
}

// List is state.list(prefix): the keys starting with prefix, sorted; a failed listing is
// an empty list.
func (s *Store) List(_ context.Context, args []*structpb.Value) (*structpb.Value, error) {
	keys, err := s.kv.Keys(argString(args, 0))
	if err != nil {
		keys = nil
	}
	sort.Strings(keys)
	list := &structpb.ListValue{Values: make([]*structpb.Value, len(keys))}
	for i, k := range keys {
		list.Values[i] = structpb.NewStringValue(k)
	}
	return structpb.NewListValue(list), nil
}

// argString is argument i as goja converts it to a Go string parameter: String(x), with a
// missing argument as "".
func argString(args []*structpb.Value, i int) string {
	if i >= len(args) || args[i] == nil {
		return ""
	}
	switch k := args[i].GetKind().(type) {
	case *structpb.Value_StringValue:
		return k.StringValue
	case *structpb.Value_NumberValue:
		return strconv.FormatFloat(k.NumberValue, 'f', -1, 64)
	case *structpb.Value_BoolValue:
		return strconv.FormatBool(k.BoolValue)
	case *structpb.Value_NullValue:
		return "null"
	case *structpb.Value_StructValue:
		return "[object Object]"
	case *structpb.Value_ListValue:
		parts := make([]string, len(k.ListValue.GetValues()))
		for j := range parts {
			parts[j] = argString(k.ListValue.GetValues(), j)
		}
		return strings.Join(parts, ",")
	}
	return ""
}
