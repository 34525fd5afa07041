package client

import (
	"context"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/keepalive"

	stepupv1 "github.com/stepup/stepup/gen/stepup/v1"
)

// Client is a connection to stepup with typed clients for its public services. It is
// safe for concurrent use.
type Client struct {
	conn      *grpc.ClientConn
	auth      stepupv1.AuthServiceClient
	account   stepupv1.AccountServiceClient
	plaintext bool
}

// keepaliveParams make a dead connection show up within about 40 seconds even while
// a watch stream sits idle, so the verifier's staleness clock starts. 30s stays above
// the 10s minimum that stepup's server enforces.
var keepaliveParams = keepalive.ClientParameters{Time: 30 * time.Second, Timeout: 10 * time.Second}

// Dial creates a client for the stepup server at target (grpc.NewClient syntax; the
// connection is made lazily). Pass transport credentials, normally
// grpc.WithTransportCredentials(credentials.NewTLS(...)); without any, Dial fails, as
// grpc.NewClient does. Plaintext() is the explicit opt-in for loopback and
// development. Client keepalive pings are on by default; opts can override them.
func Dial(target string, opts ...grpc.DialOption) (*Client, error) {
	plain := false
	for _, o := range opts {
		if _, ok := o.(plaintextOption); ok {
			plain = true
		}
	}
	all := []grpc.DialOption{grpc.WithKeepaliveParams(keepaliveParams)}
	if plain {
		all = append(all, grpc.WithTransportCredentials(insecure.NewCredentials()))
	}
	conn, err := grpc.NewClient(target, append(all, opts...)...)
	if err != nil {
		return nil, err
	}
	return &Client{
		conn:      conn,
		auth:      stepupv1.NewAuthServiceClient(conn),
		account:   stepupv1.NewAccountServiceClient(conn),
		plaintext: plain,
	}, nil
}

// plaintextOption marks a Dial that may send tokens without transport security.
type plaintextOption struct{ grpc.EmptyDialOption }

// Plaintext is a Dial option that connects without TLS and lets the client's
// Sessions send tokens over that connection. Bearer tokens in clear text can be
// replayed by anyone on the path: use it only on loopback, a Unix socket, or in tests.
func Plaintext() grpc.DialOption { return plaintextOption{} }

// Conn returns the underlying connection, for example for Config.Conn.
func (c *Client) Conn() *grpc.ClientConn { return c.conn }

// Auth returns the AuthService client.
func (c *Client) Auth() stepupv1.AuthServiceClient { return c.auth }

// Account returns the AccountService client. Its RPCs need a user's token: pass a
// Session or Bearer with grpc.PerRPCCredentials.
func (c *Client) Account() stepupv1.AccountServiceClient { return c.account }

// Close closes the connection.
func (c *Client) Close() error { return c.conn.Close() }

// Login checks a username and password and returns a Session holding the aal1
// access token and the refresh token.
func (c *Client) Login(ctx context.Context, username, password string) (*Session, error) {
	resp, err := c.auth.Login(ctx, &stepupv1.LoginRequest{Username: username, Password: password})
	if err != nil {
		return nil, err
	}
	s := c.NewSession(resp.GetAccessToken(), resp.GetRefreshToken())
	s.factors = resp.GetFactors()
	s.accessExp = resp.GetExpiresAt().AsTime()
	return s, nil
}

// NewSession returns a Session holding tokens obtained elsewhere. refreshToken may be
// empty, in which case Refresh fails.
func (c *Client) NewSession(accessToken, refreshToken string) *Session {
	return &Session{client: c, access: accessToken, refresh: refreshToken}
}

// bearer is a static token as per-RPC credentials.
type bearer struct {
	value  string // "Bearer <token>"
	secure bool
}

// Bearer returns per-RPC credentials that send token as "authorization: Bearer
// <token>". They demand a secure transport: grpc-go refuses to send them over a
// plaintext connection.
func Bearer(token string) credentials.PerRPCCredentials { return newBearer(token, true) }

// InsecureBearer is Bearer for connections without transport security, on loopback
// or in tests. Anyone who can read the connection can replay the token.
func InsecureBearer(token string) credentials.PerRPCCredentials { return newBearer(token, false) }

func newBearer(token string, secure bool) bearer {
	return bearer{value: "Bearer " + token, secure: secure}
}

// GetRequestMetadata implements credentials.PerRPCCredentials.
func (b bearer) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{"authorization": b.value}, nil
}

// RequireTransportSecurity implements credentials.PerRPCCredentials.
func (b bearer) RequireTransportSecurity() bool { return b.secure }
