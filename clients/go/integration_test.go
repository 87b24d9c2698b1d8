package nodecell_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"

	nodecell "github.com/nodecell/nodecell/clients/go"
	"github.com/nodecell/nodecell/clients/go/internal/testserver"
)

// TestService runs the client against a real `nodecell serve` on the first available
// backend (the AVS example's tests cover every backend). It fails when the binary is missing.
func TestService(t *testing.T) {
	bin := testserver.Binary(t)
	srv := testserver.Start(t, bin, testserver.Backends(t, bin)[0])
	c, err := nodecell.Dial(srv.GRPCAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	t.Run("execute", func(t *testing.T) {
		out, err := c.Execute(ctx, nodecell.Request{Code: "return inputs.n * 2", Inputs: map[string]any{"n": 21}})
		if err != nil {
			t.Fatal(err)
		}
		if !out.OK() || out.Result.GetNumberValue() != 42 || out.Backend != srv.Backend || out.Usage.WallMs <= 0 {
			t.Fatalf("outcome %+v", out)
		}
		if len(out.RequestID) != 36 {
			t.Fatalf("no request id made for the call: %q", out.RequestID)
		}
		traced := metadata.AppendToOutgoingContext(ctx, "x-request-id", "go-client-1")
		if out, err := c.Execute(traced, nodecell.Request{Code: "return 1"}); err != nil || out.RequestID != "go-client-1" {
			t.Fatalf("the caller's request id: %+v %v", out, err)
		}
		out, err = c.Execute(ctx, nodecell.Request{Code: "null.x"})
		if err != nil {
			t.Fatal(err)
		}
		if out.Status != nodecell.StatusError || out.Error.Name != "TypeError" || out.Error.Line != 1 {
			t.Fatalf("a throw: %+v %+v", out, out.Error)
		}
		out, err = c.Execute(ctx, nodecell.Request{Code: "while (true) {}", Limits: nodecell.Limits{TimeoutMs: 300}})
		if err != nil || out.Status != nodecell.StatusTimeout {
			t.Fatalf("a timeout: %+v %v", out, err)
		}
	})
	t.Run("stream", func(t *testing.T) {
		var lines []string
		var stdout string
		out, err := c.Execute(ctx, nodecell.Request{Code: `console.log("a"); process.stdout.write("o"); console.warn("b"); return 1`},
			nodecell.OnLog(func(l nodecell.Log) { lines = append(lines, l.Level+":"+l.Message) }),
			nodecell.OnStdout(func(s string) { stdout += s }))
		if err != nil || !out.OK() {
			t.Fatalf("%+v %v", out, err)
		}
		if fmt.Sprint(lines) != "[log:a warn:b]" || stdout != "o" || len(out.Logs) != 2 {
			t.Fatalf("streamed %v %q; outcome logs %v", lines, stdout, out.Logs)
		}
	})
	t.Run("batch", func(t *testing.T) {
		for _, iso := range []string{"item", "batch"} {
			b, err := c.ExecuteBatch(ctx, nodecell.BatchRequest{
				Request: nodecell.Request{Code: "return value * 2 + index"}, Items: []any{1, 2, 3}, Isolation: iso, Parallelism: 2,
			})
			if err != nil {
				t.Fatal(err)
			}
			var got []float64
			for _, o := range b.Outcomes {
				got = append(got, o.Result.GetNumberValue())
			}
			if fmt.Sprint(got) != "[2 5 8]" {
				t.Fatalf("isolation %s: %v", iso, got)
			}
		}
	})
	t.Run("evaluate", func(t *testing.T) {
		avs := nodecell.ProfileAVS
		ok, _, err := c.EvaluateCondition(ctx, nodecell.Request{Profile: avs, Code: "Number(cod1.data) > 10",
			Inputs: map[string]any{"cod1": map[string]any{"data": 12}}})
		if err != nil || !ok {
			t.Fatalf("condition: %v %v", ok, err)
		}
		ok, out, err := c.EvaluateCondition(ctx, nodecell.Request{Profile: avs, Code: `"yes"`})
		if err != nil || ok || len(out.Logs) != 1 || out.Logs[0].Message != "false (non-boolean result: string)" {
			t.Fatalf("non-boolean condition: %v %+v %v", ok, out, err)
		}
		text, _, err := c.EvaluateTemplate(ctx, nodecell.Request{Profile: avs, Code: "n={{ a.n * 2 }}",
			Inputs: map[string]any{"a": map[string]any{"n": 2.25}}})
		if err != nil || text != "n=4.5" {
			t.Fatalf("template: %q %v", text, err)
		}
		kept, _, err := c.EvaluateFilter(ctx, nodecell.Request{Profile: avs, Code: "value.cost > 5"},
			[]any{map[string]any{"cost": 12}, map[string]any{"cost": 2}})
		if err != nil || len(kept) != 1 || kept[0].GetStructValue().GetFields()["cost"].GetNumberValue() != 12 {
			t.Fatalf("filter: %v %v", kept, err)
		}
	})
	t.Run("request_error", func(t *testing.T) {
		_, err := c.Execute(ctx, nodecell.Request{Code: "1", Limits: nodecell.Limits{TimeoutMs: 999_999_999}})
		var e *nodecell.Error
		if !errors.As(err, &e) {
			t.Fatalf("%v (%T), want *nodecell.Error", err, err)
		}
		if e.Code != nodecell.CodeInvalidLimits || e.GRPCCode != codes.InvalidArgument || e.Retryable || e.Fields["limits.timeout_ms"] == "" {
			t.Fatalf("decoded %+v", e)
		}
		_, err = c.Execute(ctx, nodecell.Request{Code: "1", Backend: "nope"})
		if !errors.As(err, &e) || e.Code != nodecell.CodeUnknownBackend || e.Fields["backend"] == "" || e.RequestID == "" {
			t.Fatalf("unknown backend: %v %+v", err, e)
		}
	})
}
