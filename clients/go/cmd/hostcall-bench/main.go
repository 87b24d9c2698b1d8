// Command hostcall-bench measures what host calls cost: the wall latency, seen by the
// client, of session runs under profile "avs" making 0, 1 and 10 `state.get` calls
// (`for (let i = 0; i < N; i++) state.get("k" + i); return 1`, state.get declared and served
// from memory), back to back against a running server, with p50/p99 and their ratios to the
// 0-call run of the same invocation.
//
//	go run ./cmd/hostcall-bench -addr 127.0.0.1:50051 -runs 200
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"slices"
	"time"

	"google.golang.org/protobuf/types/known/structpb"

	nodecell "github.com/nodecell/nodecell/clients/go"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:50051", "the server's gRPC address")
	runs := flag.Int("runs", 200, "runs per case")
	warmup := flag.Int("warmup", 10, "unmeasured runs before each case")
	backend := flag.String("backend", "", "sandbox backend (empty: the server's default)")
	token := flag.String("token", "", "bearer token, if the server requires one")
	flag.Parse()

	var opts []nodecell.Option
	if *token != "" {
		opts = append(opts, nodecell.WithToken(*token))
	}
	c, err := nodecell.Dial(*addr, opts...)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	defer c.Close()

	get := func(context.Context, []*structpb.Value) (*structpb.Value, error) {
		return structpb.NewNumberValue(1), nil
	}
	handlers := nodecell.Handlers{"state.get": get}
	fmt.Printf("%d runs per case against %s (backend %q), back to back\n", *runs, *addr, *backend)
	fmt.Printf("%-8s %10s %10s %10s %10s %12s\n", "calls", "p50 ms", "p99 ms", "p50 ÷ 0", "p99 ÷ 0", "host wait")
	// For reference: the same 0-call code as a unary Execute (no session stream).
	unary := measure(*warmup, *runs, func(ctx context.Context) (*nodecell.Outcome, error) {
		return c.Execute(ctx, nodecell.Request{Code: "return 1", Profile: nodecell.ProfileAVS, Backend: *backend})
	}, 0)
	var base [2]float64
	for _, n := range []int{0, 1, 10} {
		req := nodecell.Request{
			Code:    fmt.Sprintf(`for (let i = 0; i < %d; i++) state.get("k" + i); return 1`, n),
			Profile: nodecell.ProfileAVS,
			Backend: *backend,
		}
		m := measure(*warmup, *runs, func(ctx context.Context) (*nodecell.Outcome, error) {
			return c.Session(ctx, req, handlers)
		}, n)
		wall, hostWait := m.wall, m.hostWait
		p50, p99 := percentile(wall, 50), percentile(wall, 99)
		if n == 0 {
			base = [2]float64{p50, p99}
		}
		fmt.Printf("%-8d %10.2f %10.2f %10.2f %10.2f %9.3f ms\n", n, p50, p99, p50/base[0], p99/base[1], hostWait)
	}
	up50, up99 := percentile(unary.wall, 50), percentile(unary.wall, 99)
	fmt.Printf("%-8s %10.2f %10.2f %10.2f %10.2f %12s\n", "unary", up50, up99, up50/base[0], up99/base[1], "(Execute)")
}

type sample struct {
	wall     []float64
	hostWait float64
}

// measure runs call warmup+runs times back to back and returns the wall times (ms) of the
// last runs and their mean host wait; any failure, or a run without exactly calls host
// calls, ends the program.
func measure(warmup, runs int, call func(context.Context) (*nodecell.Outcome, error), calls int) sample {
	var s sample
	for i := 0; i < warmup+runs; i++ {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		t0 := time.Now()
		out, err := call(ctx)
		elapsed := time.Since(t0)
		cancel()
		if err != nil {
			fmt.Fprintf(os.Stderr, "%d calls, run %d: %v\n", calls, i, err)
			os.Exit(1)
		}
		if !out.OK() || int(out.Usage.HostCalls) != calls {
			fmt.Fprintf(os.Stderr, "%d calls, run %d: status %s, %d host calls, error %+v\n", calls, i, out.Status, out.Usage.HostCalls, out.Error)
			os.Exit(1)
		}
		if i >= warmup {
			s.wall = append(s.wall, float64(elapsed.Microseconds())/1000)
			s.hostWait += out.Usage.HostWaitMs
		}
	}
	s.hostWait /= float64(runs)
	return s
}

// percentile is the p-th percentile of xs (nearest rank).
func percentile(xs []float64, p float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	i := int(p/100*float64(len(s))+0.5) - 1
	return s[max(0, min(i, len(s)-1))]
}
