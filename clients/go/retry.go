package nodecell

import (
	"context"
	"errors"
	"math/rand/v2"
	"time"

	"google.golang.org/grpc/codes"
)

// retryPolicy retries calls the service refused before running them: RESOURCE_EXHAUSTED
// (overloaded, client_share_exceeded) after the delay it asks for, and UNAVAILABLE draining
// (a replica shutting down; through a load balancer the retry reaches another) after its own
// backoff; capped and with jitter, never past the context's deadline.
type retryPolicy struct {
	// maxAttempts is the number of tries in all (1: no retry).
	maxAttempts int
	// maxDelay caps one wait.
	maxDelay time.Duration
	// baseDelay is the first wait when the server gives none (doubled each attempt).
	baseDelay time.Duration
	// now, sleep and jitter are the clock and randomness (replaced in tests).
	now    func() time.Time
	sleep  func(ctx context.Context, d time.Duration) error
	jitter func(d time.Duration) time.Duration
}

func defaultRetryPolicy() retryPolicy {
	return retryPolicy{
		maxAttempts: 3,
		maxDelay:    10 * time.Second,
		baseDelay:   100 * time.Millisecond,
		now:         time.Now,
		sleep:       sleepCtx,
		// Up to a fifth more than asked: clients refused together do not return together.
		jitter: func(d time.Duration) time.Duration {
			if d <= 0 {
				return 0
			}
			return rand.N(d/5 + 1)
		},
	}
}

// retryable reports whether the policy retries e.
func retryable(e *Error) bool {
	switch e.GRPCCode {
	case codes.ResourceExhausted:
		return e.Code == CodeOverloaded || e.Code == CodeClientShareExceeded
	case codes.Unavailable:
		return e.Code == CodeDraining
	}
	return false
}

// delay is the wait before the retry that follows attempt (1-based).
func (p retryPolicy) delay(e *Error, attempt int) time.Duration {
	d := e.RetryAfter
	if d <= 0 {
		d = p.baseDelay << (attempt - 1)
	}
	d += p.jitter(d)
	if p.maxDelay > 0 && d > p.maxDelay {
		d = p.maxDelay
	}
	return d
}

// do calls call until it succeeds, fails with an error the policy does not retry, the
// attempts are spent, or mayRetry (nil: always) says the call had effects that forbid a
// retry. The wait never goes past ctx's deadline: then the last error is returned at once.
func (p retryPolicy) do(ctx context.Context, call func() error, mayRetry func() bool) error {
	for attempt := 1; ; attempt++ {
		err := call()
		if err == nil {
			return nil
		}
		var e *Error
		if !errors.As(err, &e) || !retryable(e) || attempt >= p.maxAttempts {
			return err
		}
		if mayRetry != nil && !mayRetry() {
			return err
		}
		d := p.delay(e, attempt)
		if deadline, ok := ctx.Deadline(); ok && p.now().Add(d).After(deadline) {
			return err
		}
		if p.sleep(ctx, d) != nil {
			return err
		}
	}
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
