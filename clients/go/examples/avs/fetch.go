package avs

import (
	"context"
	"io"
	"net/http"

	"google.golang.org/protobuf/types/known/structpb"
)

// Fetch serves AVS's fetch(url): a synchronous GET (a second argument is ignored, as
// upstream's options are always empty) whose result is an object with exactly the keys
// Status (number), StatusText ("200 OK"), Body (string) and Headers (header name → array of
// values); a request that fails (connection refused, a bad URL) gives null.
func Fetch(client *http.Client) func(context.Context, []*structpb.Value) (*structpb.Value, error) {
	if client == nil {
		client = http.DefaultClient
	}
	return func(ctx context.Context, args []*structpb.Value) (*structpb.Value, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, argString(args, 0), nil)
		if err != nil {
			return structpb.NewNullValue(), nil
		}
		resp, err := client.Do(req)
		if err != nil {
			return structpb.NewNullValue(), nil
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			return structpb.NewNullValue(), nil
		}
		headers := &structpb.Struct{Fields: map[string]*structpb.Value{}}
		for name, values := range resp.Header {
			list := &structpb.ListValue{}
			for _, v := range values {
				list.Values = append(list.Values, structpb.NewStringValue(v))
			}
			headers.Fields[name] = structpb.NewListValue(list)
		}
		return structpb.NewStructValue(&structpb.Struct{Fields: map[string]*structpb.Value{
			"Status":     structpb.NewNumberValue(float64(resp.StatusCode)),
			"StatusText": structpb.NewStringValue(resp.Status),
			"Body":       structpb.NewStringValue(string(body)),
			"Headers":    structpb.NewStructValue(headers),
		}}), nil
	}
}
