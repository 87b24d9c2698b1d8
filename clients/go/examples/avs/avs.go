// Package avs shows EigenLayer-AVS's custom-code step on nodecell: the code runs under
// profile "avs" in a session whose host functions (state.get/set/list, fetch) are served
// here, in Go, as upstream's are (docs/avs.md; AVS's vm_runner_customcode.go).
package avs

import (
	"context"
	"fmt"
	"net/http"

	"google.golang.org/protobuf/types/known/structpb"

	nodecell "github.com/nodecell/nodecell/clients/go"
)

// Option configures [RunCustomCode].
type Option func(*config)

type config struct {
	store    *Store
	http     *http.Client
	req      nodecell.Request
	handlers nodecell.Handlers
}

// WithStore serves state.* from store (shared by the runs given it); by default each run
// has a store of its own.
func WithStore(store *Store) Option { return func(c *config) { c.store = store } }

// WithHTTPClient serves fetch through client (default http.DefaultClient).
func WithHTTPClient(client *http.Client) Option { return func(c *config) { c.http = client } }

// WithBackend runs on the named sandbox backend.
func WithBackend(backend string) Option { return func(c *config) { c.req.Backend = backend } }

// WithLimits overrides the run's limits.
func WithLimits(l nodecell.Limits) Option { return func(c *config) { c.req.Limits = l } }

// WithHostCallLimits bounds the run's host calls (e.g. how long one waits for its reply).
func WithHostCallLimits(l nodecell.HostCallLimits) Option {
	return func(c *config) { c.req.HostCallLimits = l }
}

// WithChain serves readContractData and the Chainlink price helpers (priceChainlink,
// chainlinkPrice, latestRoundDataChainlink) from r, as upstream's macros behave.
func WithChain(r ChainReader) Option {
	return func(c *config) {
		for name, h := range ChainHandlers(r) {
			c.handlers[name] = h
		}
	}
}

// WithHandler serves (or replaces) one host function, e.g. "chainlinkPrice".
func WithHandler(name string, h nodecell.Handler) Option {
	return func(c *config) { c.handlers[name] = h }
}

// ExecutionError is a custom-code run that did not end ok (a throw, its time limit, ...),
// as upstream's Execute returns an error for it.
type ExecutionError struct {
	Outcome *nodecell.Outcome
}

func (e *ExecutionError) Error() string {
	if e.Outcome.Error != nil {
		return fmt.Sprintf("custom code %s: %s: %s", e.Outcome.Status, e.Outcome.Error.Name, e.Outcome.Error.Message)
	}
	return fmt.Sprintf("custom code %s", e.Outcome.Status)
}

// RunCustomCode runs an AVS custom-code step: code with the workflow variables vars (each
// identifier key a global, all of them in `inputs`), under profile "avs", state.* and fetch
// served by this process. It returns the code's result; a run that ends other than ok is an
// [*ExecutionError] carrying its outcome, a refused request a [*nodecell.Error].
func RunCustomCode(ctx context.Context, client *nodecell.Client, code string, vars map[string]any, opts ...Option) (*structpb.Value, error) {
	c := config{handlers: nodecell.Handlers{}}
	for _, opt := range opts {
		opt(&c)
	}
	if c.store == nil {
		c.store = NewStore()
	}
	handlers := nodecell.Handlers{
		"state.get":  c.store.Get,
		"state.set":  c.store.Set,
		"state.list": c.store.List,
		"fetch":      Fetch(c.http),
	}
	for name, h := range c.handlers {
		handlers[name] = h
	}
	req := c.req
	req.Code, req.Inputs, req.Profile, req.Mode = code, vars, nodecell.ProfileAVS, nodecell.ModeCode
	out, err := client.Session(ctx, req, handlers)
	if err != nil {
		return nil, err
	}
	if !out.OK() {
		return nil, &ExecutionError{Outcome: out}
	}
	return out.Result, nil
}
