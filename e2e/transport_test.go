package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	stepupv1 "github.com/stepup/stepup/gen/stepup/v1"
	"github.com/stepup/stepup/server"
)

// The transport tests abuse the public listener the way a hostile client can without
// any credential, and check that each abuse is refused or bounded while a
// well-behaved client on another connection is served as usual.

// bystander checks that a well-behaved caller on its own connection is served
// promptly.
func bystander(t *testing.T, e *env) {
	t.Helper()
	conn := dial(t, e.d.Addr())
	c, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	resp, err := stepupv1.NewAuthServiceClient(conn).ValidateToken(c, &stepupv1.ValidateTokenRequest{Token: "a.b.c"})
	if err != nil || resp.GetReason() != vMalformed {
		t.Fatalf("a well-behaved caller was not served: %v %v", resp, err)
	}
}

// TestTransportOversizedMessage: a request over the 64 KiB message bound is refused
// with RESOURCE_EXHAUSTED before any handler decodes it, on the same connection the
// next call is served, and so are other callers.
func TestTransportOversizedMessage(t *testing.T) {
	e := startFast(t)
	for _, size := range []int{server.MaxRecvMsgSize + 1, 1 << 20, 4 << 20} {
		_, err := e.auth.ValidateToken(ctx(t), &stepupv1.ValidateTokenRequest{Token: strings.Repeat("a", size)})
		wantCode(t, err, codes.ResourceExhausted)
	}
	resp, err := e.auth.ValidateToken(ctx(t), &stepupv1.ValidateTokenRequest{Token: strings.Repeat("a", 60<<10)})
	if err != nil || resp.GetReason() != vMalformed {
		t.Fatalf("60 KiB on the same connection: %v %v", resp, err)
	}
	bystander(t, e)
}

// TestTransportOversizedMetadata: a header list over the 16 KiB bound. grpc-go's own
// client refuses to send it once the server has announced the bound. A raw HTTP/2
// client that sends it anyway never reaches a handler: many headers adding up to more
// get the stream reset with FRAME_SIZE_ERROR, one value longer than the whole bound
// gets the connection closed. Either way only the abuser's connection suffers.
func TestTransportOversizedMetadata(t *testing.T) {
	e := startFast(t)
	big := strings.Repeat("a", server.MaxHeaderListSize+1024)
	e.validate("a.b.c", "", 0) // the client learns the server's SETTINGS
	_, err := e.auth.ValidateToken(bearer(t, big), &stepupv1.ValidateTokenRequest{Token: "a.b.c"})
	if status.Code(err) == codes.OK {
		t.Fatal("a 17 KiB header list was accepted")
	}

	var many []hpack.HeaderField
	for i := range 20 {
		many = append(many, hpack.HeaderField{Name: fmt.Sprintf("x-pad-%d", i), Value: strings.Repeat("p", 1<<10)})
	}
	tests := []struct {
		name    string
		headers []hpack.HeaderField
		want    []string // acceptable outcomes
	}{
		{"20 headers of 1 KiB", many, []string{"reset FRAME_SIZE_ERROR"}},
		{"one 17 KiB value", []hpack.HeaderField{{Name: "authorization", Value: "Bearer " + big}},
			[]string{"reset FRAME_SIZE_ERROR", "connection closed"}},
	}
	for _, tc := range tests {
		got, err := rawCall(e.d.Addr(), tc.headers)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		t.Logf("%s: %s", tc.name, got)
		if !slices.Contains(tc.want, got) {
			t.Fatalf("%s: %s, want one of %q", tc.name, got, tc.want)
		}
		bystander(t, e)
	}
}

// rawCall opens an HTTP/2 connection by hand, sends the headers of a ValidateToken
// request with extra added, and reports how the server refused it: "reset <code>" or
// "connection closed". An answer is an error: the request must not get that far.
func rawCall(addr string, extra []hpack.HeaderField) (string, error) {
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return "", err
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(conn, http2.ClientPreface); err != nil {
		return "", err
	}
	fr := http2.NewFramer(conn, conn)
	if err := fr.WriteSettings(); err != nil {
		return "", err
	}
	var block bytes.Buffer
	enc := hpack.NewEncoder(&block)
	fields := append([]hpack.HeaderField{
		{Name: ":method", Value: "POST"}, {Name: ":scheme", Value: "http"},
		{Name: ":path", Value: stepupv1.AuthService_ValidateToken_FullMethodName},
		{Name: ":authority", Value: addr}, {Name: "content-type", Value: "application/grpc"},
		{Name: "te", Value: "trailers"},
	}, extra...)
	for _, f := range fields {
		if err := enc.WriteField(f); err != nil {
			return "", err
		}
	}
	if err := writeHeaderBlock(fr, 1, block.Bytes()); err != nil {
		return "", err
	}
	for {
		f, err := fr.ReadFrame()
		if errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET) {
			return "connection closed", nil
		}
		if err != nil {
			return "", err
		}
		switch f := f.(type) {
		case *http2.SettingsFrame:
			if !f.IsAck() {
				if err := fr.WriteSettingsAck(); err != nil {
					return "", err
				}
			}
		case *http2.RSTStreamFrame:
			return "reset " + f.ErrCode.String(), nil
		case *http2.GoAwayFrame:
			return "connection closed", nil
		case *http2.HeadersFrame:
			return "", errors.New("the server answered a request it should have refused")
		}
	}
}

// writeHeaderBlock sends a header block as HEADERS and CONTINUATION frames of the
// default maximum frame size.
func writeHeaderBlock(fr *http2.Framer, stream uint32, block []byte) error {
	const maxFrame = 16384
	first := block[:min(len(block), maxFrame)]
	rest := block[len(first):]
	err := fr.WriteHeaders(http2.HeadersFrameParam{
		StreamID: stream, BlockFragment: first, EndHeaders: len(rest) == 0})
	for err == nil && len(rest) > 0 {
		chunk := rest[:min(len(rest), maxFrame)]
		rest = rest[len(chunk):]
		err = fr.WriteContinuation(stream, len(rest) == 0, chunk)
	}
	return err
}

// TestTransportConcurrentStreams: one connection gets at most MaxConcurrentStreams
// streams at once; a further one waits for a free slot instead of costing the server
// anything, and other connections are served meanwhile.
func TestTransportConcurrentStreams(t *testing.T) {
	e := startFast(t)
	conn := dial(t, e.d.Addr())
	auth := stepupv1.NewAuthServiceClient(conn)
	streamCtx, cancel := context.WithCancel(context.Background())
	defer cancel()
	for i := range server.MaxConcurrentStreams {
		s, err := auth.WatchJwks(streamCtx, &stepupv1.WatchJwksRequest{})
		if err == nil {
			_, err = s.Recv()
		}
		if err != nil {
			t.Fatalf("stream %d: %v", i, err)
		}
	}

	extra, extraCancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer extraCancel()
	_, err := auth.GetJwks(extra, &stepupv1.GetJwksRequest{})
	wantCode(t, err, codes.DeadlineExceeded)
	bystander(t, e)

	cancel() // the slots free up, and the connection is usable again
	deadline := time.Now().Add(5 * time.Second)
	for {
		_, err := auth.GetJwks(ctx(t), &stepupv1.GetJwksRequest{})
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the connection stayed full after its streams ended: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestTransportSlowRevocationWatcher: a WatchRevocations subscriber that stops reading
// fills its flow-control window and then its buffer of revocationBuffer batches; it is
// cut off with UNAVAILABLE so that it resubscribes, while revocations keep committing
// at full speed and a subscriber that reads gets every one.
func TestTransportSlowRevocationWatcher(t *testing.T) {
	if testing.Short() {
		t.Skip("sends 3000 revocations")
	}
	e := startFast(t)
	// A static 64 KiB window, so the slow subscriber's stream blocks early.
	slowConn, err := grpc.NewClient(e.d.Addr(), grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithInitialWindowSize(64<<10), grpc.WithInitialConnWindowSize(64<<10))
	if err != nil {
		t.Fatal(err)
	}
	defer slowConn.Close()
	// Streams end before the daemon stops, which would otherwise wait out its grace.
	streams, stop := context.WithCancel(ctx(t))
	defer stop()
	slow, err := stepupv1.NewAuthServiceClient(slowConn).WatchRevocations(streams,
		&stepupv1.WatchRevocationsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := slow.Recv(); err != nil { // the snapshot; then it stops reading
		t.Fatal(err)
	}
	fast, err := e.auth.WatchRevocations(streams, &stepupv1.WatchRevocationsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	seen := countRevocations(fast)

	// Enough to fill the window, grpc-go's 64 KiB write quota and revocationBuffer.
	const n = 3000
	start := time.Now()
	for i := range n {
		id := fmt.Sprintf("%03d-%s", i, strings.Repeat("j", 56))
		if _, err := e.admin.RevokeToken(ctx(t), &stepupv1.RevokeTokenRequest{TokenId: id}); err != nil {
			t.Fatalf("revocation %d: %v", i, err)
		}
	}
	took := time.Since(start)

	if got := seen(n); got != n {
		t.Fatalf("the reading subscriber saw %d of %d revocations", got, n)
	}
	var slowErr error
	slowGot := 0
	for slowErr == nil {
		var msg *stepupv1.WatchRevocationsResponse
		msg, slowErr = slow.Recv()
		slowGot += len(msg.GetRevokedTokens())
	}
	wantCode(t, slowErr, codes.Unavailable)
	if slowGot >= n {
		t.Fatalf("the stalled subscriber still got all %d revocations: it was never held back", n)
	}
	t.Logf("%d revocations in %v with a stalled subscriber, which was cut off", n, took)
}

// countRevocations reads stream in the background; the returned function waits up to
// ten seconds for want revoked tokens and returns how many arrived.
func countRevocations(stream stepupv1.AuthService_WatchRevocationsClient) func(want int) int {
	var mu sync.Mutex
	n := 0
	go func() {
		for {
			msg, err := stream.Recv()
			if err != nil {
				return
			}
			mu.Lock()
			n += len(msg.GetRevokedTokens())
			mu.Unlock()
		}
	}()
	return func(want int) int {
		deadline := time.Now().Add(10 * time.Second)
		for {
			mu.Lock()
			got := n
			mu.Unlock()
			if got >= want || time.Now().After(deadline) {
				return got
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
}

// TestTransportIdleConnections: connections that never complete the HTTP/2 handshake
// (slowloris) are closed by the server after its 10 s connection timeout, and do not
// keep others from being served meanwhile.
func TestTransportIdleConnections(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for the 10 s handshake timeout")
	}
	t.Parallel()
	e := startFast(t)
	var idle []net.Conn
	for range 100 {
		c, err := net.Dial("tcp", e.d.Addr())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.Write([]byte("PRI * HTTP/2.0\r\n")) // half a preface, then nothing
		idle = append(idle, c)
	}
	bystander(t, e)

	start := time.Now()
	for i, c := range idle {
		c.SetReadDeadline(start.Add(20 * time.Second))
		// EOF or a reset both mean closed; only the read deadline means open.
		if _, err := io.Copy(io.Discard, c); errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("idle connection %d still open after %v", i, time.Since(start))
		}
	}
	t.Logf("100 idle connections closed by the server within %v", time.Since(start))
	bystander(t, e)
}

// startFast starts a daemon with cheap password hashing.
func startFast(t *testing.T) *env {
	e := &env{t: t, clock: newClock(), dataDir: t.TempDir()}
	e.bootWith(fastPasswords)
	return e
}
