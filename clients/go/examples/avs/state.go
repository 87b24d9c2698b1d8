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

// Store is an in-memory workflow state (AVS's scratch-only mode: a map shared by the steps
// of a run), values kept as JSON. It is safe for concurrent use.
type Store struct {
	mu     sync.Mutex
	values map[string][]byte
}

// NewStore returns an empty store.
func NewStore() *Store { return &Store{values: map[string][]byte{}} }

// Get is state.get(key): the stored value, or nil (undefined) for an empty key, a missing
// key or data that does not decode.
func (s *Store) Get(_ context.Context, args []*structpb.Value) (*structpb.Value, error) {
	key := argString(args, 0)
	if key == "" {
		return nil, nil
	}
	s.mu.Lock()
	raw, ok := s.values[key]
	s.mu.Unlock()
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
// is a no-op. It returns undefined.
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
	s.mu.Lock()
	s.values[key] = raw
	s.mu.Unlock()
	return nil, nil
}

// List is state.list(prefix): the keys starting with prefix, sorted.
func (s *Store) List(_ context.Context, args []*structpb.Value) (*structpb.Value, error) {
	prefix := argString(args, 0)
	s.mu.Lock()
	var keys []string
	for k := range s.values {
		if strings.HasPrefix(k, prefix) {
			keys = append(keys, k)
		}
	}
	s.mu.Unlock()
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
