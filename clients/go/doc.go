// Package nodecell is the Go client of nodecell, a service that runs untrusted JavaScript in
// sandboxed Node.js (proto/nodecell/v1/nodecell.proto, README.md).
//
// A run's outcome, whatever its status (ok, error, timeout, ...), is an [Outcome], never a Go
// error. Errors of the request itself (invalid, overloaded, draining, ...) are [*Error],
// readable with errors.As; RESOURCE_EXHAUSTED answers are retried after the server's delay.
//
//	c, err := nodecell.Dial("127.0.0.1:50051")
//	out, err := c.Execute(ctx, nodecell.Request{Code: "return inputs.n * 2", Inputs: map[string]any{"n": 21}})
//
// [Client.Session] runs code that calls functions the caller serves (host calls).
package nodecell
