package nodecell

import (
	"context"
	"crypto/tls"
	"errors"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"

	pb "github.com/nodecell/nodecell/clients/go/nodecellpb"
)

// maxRecvBytes bounds one message from the server: a result and the captured output may each
// be up to 64 MiB (the service's maximum limits).
const maxRecvBytes = 256 << 20

// Client calls one nodecell service. It is safe for concurrent use.
type Client struct {
	conn  *grpc.ClientConn
	rpc   pb.SandboxServiceClient
	retry retryPolicy
}

// Option configures [Dial].
type Option func(*options)

type options struct {
	tls         *tls.Config
	token       string
	dialOptions []grpc.DialOption
	retry       retryPolicy
}

// WithTLS dials with TLS using config (nil: the system's roots). Without it the connection
// is plaintext, which suits a service on loopback.
func WithTLS(config *tls.Config) Option {
	return func(o *options) {
		if config == nil {
			config = &tls.Config{}
		}
		o.tls = config
	}
}

// WithToken sends `authorization: Bearer <token>` with every call (the service's auth_tokens).
// The token is sent over plaintext connections too; use [WithTLS] beyond loopback.
func WithToken(token string) Option {
	return func(o *options) { o.token = token }
}

// WithMaxAttempts sets how many times a call refused with RESOURCE_EXHAUSTED (codes
// overloaded and client_share_exceeded) is tried in all (default 3; 1 disables retries).
func WithMaxAttempts(n int) Option {
	return func(o *options) {
		if n < 1 {
			n = 1
		}
		o.retry.maxAttempts = n
	}
}

// WithMaxRetryDelay caps the wait before a retry (default 10 s), whatever delay the server
// asks for.
func WithMaxRetryDelay(d time.Duration) Option {
	return func(o *options) { o.retry.maxDelay = d }
}

// WithDialOptions adds grpc-go dial options (interceptors, keepalive, a custom dialer, ...).
func WithDialOptions(opts ...grpc.DialOption) Option {
	return func(o *options) { o.dialOptions = append(o.dialOptions, opts...) }
}

// Dial returns a client of the service at target ("127.0.0.1:50051", "dns:///host:port", any
// grpc-go target). Like grpc.NewClient it connects lazily, on the first call.
func Dial(target string, opts ...Option) (*Client, error) {
	o := options{retry: defaultRetryPolicy()}
	for _, opt := range opts {
		opt(&o)
	}
	creds := insecure.NewCredentials()
	if o.tls != nil {
		creds = credentials.NewTLS(o.tls)
	}
	dial := []grpc.DialOption{
		grpc.WithTransportCredentials(creds),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(maxRecvBytes)),
	}
	if o.token != "" {
		dial = append(dial, grpc.WithPerRPCCredentials(bearer{token: o.token, secure: o.tls != nil}))
	}
	dial = append(dial, o.dialOptions...)
	conn, err := grpc.NewClient(target, dial...)
	if err != nil {
		return nil, err
	}
	return &Client{conn: conn, rpc: pb.NewSandboxServiceClient(conn), retry: o.retry}, nil
}

// Close closes the connection; calls in progress fail.
func (c *Client) Close() error {
	if c == nil || c.conn == nil {
		return errors.New("nodecell: nil client")
	}
	return c.conn.Close()
}

// Raw is the generated client on the same connection, for what this package does not wrap.
func (c *Client) Raw() pb.SandboxServiceClient { return c.rpc }

// bearer is the per-call `authorization` metadata of [WithToken].
type bearer struct {
	token  string
	secure bool
}

func (b bearer) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{"authorization": "Bearer " + b.token}, nil
}

func (b bearer) RequireTransportSecurity() bool { return b.secure }
