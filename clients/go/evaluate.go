package nodecell

import (
	"context"

	"google.golang.org/protobuf/types/known/structpb"
)

// The helpers below run one request in a given mode and read its result. Like Execute they
// return the outcome whatever its status, and an error only for the request itself: the
// value they read is meaningful only when the outcome is ok.

// EvaluateExpression runs req.Code as one JavaScript expression (mode "expression") and
// returns its value. Under profile "avs" the value is AVS's branch decision (see
// [Client.EvaluateCondition]).
func (c *Client) EvaluateExpression(ctx context.Context, req Request) (*structpb.Value, *Outcome, error) {
	req.Mode = ModeExpression
	out, err := c.Execute(ctx, req)
	if err != nil {
		return nil, nil, err
	}
	return out.Result, out, nil
}

// EvaluateCondition evaluates a branch condition (mode "expression"): true only when the
// run is ok and its value is the boolean true. Under profile "avs" a non-boolean value, an
// exception, a syntax error or an empty expression give false, with upstream's reason as
// the outcome's one log line (docs/avs.md, "Branch conditions").
func (c *Client) EvaluateCondition(ctx context.Context, req Request) (bool, *Outcome, error) {
	v, out, err := c.EvaluateExpression(ctx, req)
	if err != nil {
		return false, nil, err
	}
	b, ok := v.GetKind().(*structpb.Value_BoolValue)
	return out.OK() && ok && b.BoolValue, out, nil
}

// EvaluateTemplate substitutes the `{{ }}` expressions of req.Code (mode "template") over
// req.Inputs and returns the text, by AVS's rules in both profiles.
func (c *Client) EvaluateTemplate(ctx context.Context, req Request) (string, *Outcome, error) {
	req.Mode = ModeTemplate
	out, err := c.Execute(ctx, req)
	if err != nil {
		return "", nil, err
	}
	return out.Result.GetStringValue(), out, nil
}

// EvaluateFilter keeps the items for which the predicate req.Code holds (mode "filter"):
// items are sent as inputs.items (replacing any), each bound as `value` with its `index`;
// the kept items are returned in order. An item whose predicate throws is skipped, with
// upstream's log line.
func (c *Client) EvaluateFilter(ctx context.Context, req Request, items []any) ([]*structpb.Value, *Outcome, error) {
	req.Mode = ModeFilter
	list, err := ToValue(items)
	if err != nil {
		return nil, nil, err
	}
	if req.InputsStruct != nil {
		s := &structpb.Struct{Fields: map[string]*structpb.Value{}}
		for k, v := range req.InputsStruct.GetFields() {
			s.Fields[k] = v
		}
		s.Fields["items"] = list
		req.InputsStruct = s
	} else {
		inputs := make(map[string]any, len(req.Inputs)+1)
		for k, v := range req.Inputs {
			inputs[k] = v
		}
		inputs["items"] = list
		req.Inputs = inputs
	}
	out, err := c.Execute(ctx, req)
	if err != nil {
		return nil, nil, err
	}
	return out.Result.GetListValue().GetValues(), out, nil
}
