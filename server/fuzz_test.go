package server

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/test/bufconn"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/dynamicpb"

	stepupv1 "github.com/stepup/stepup/gen/stepup/v1"
	"github.com/stepup/stepup/server/internal/password"
	"github.com/stepup/stepup/server/internal/throttle"
	"github.com/stepup/stepup/store"
	"github.com/stepup/stepup/token"
)

// FuzzHandlers sends arbitrary bytes as the request of every RPC, through the real
// gRPC servers with their interceptors (auth, panic recovery, message bounds), over
// bufconn. Whatever the bytes, the call must end with a status a client can act on: no
// panic (which the recovery interceptor would hide behind INTERNAL, so the log is
// checked too), no storage or unknown error, and INTERNAL only for a request that does
// not unmarshal. The seed corpus has a well-formed request per method; more are in
// testdata/fuzz/FuzzHandlers. A longer run:
//
//	go test ./server -run '^$' -fuzz '^FuzzHandlers$' -fuzztime 5m
func FuzzHandlers(f *testing.F) {
	fs := newFuzzServer(f)
	for i, m := range fs.methods {
		req := sampleRequest(f, m.input, fs)
		for auth := range uint8(4) {
			f.Add(uint8(i), auth, req)
		}
		f.Add(uint8(i), uint8(2), []byte{0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f})
	}
	f.Fuzz(func(t *testing.T, sel, auth uint8, payload []byte) {
		fs.ensureTokens(t)
		m := fs.methods[int(sel)%len(fs.methods)]
		err := fs.call(m, auth, payload)
		if reason := insane(err); reason != "" {
			t.Fatalf("%s with %d bytes (auth %d): %v: %s", m.name, len(payload), auth%4, err, reason)
		}
		if logs := fs.logs.String(); strings.Contains(logs, "handler panic") {
			t.Fatalf("%s panicked:\n%s", m.name, logs)
		}
	})
}

// insane explains why err is not an acceptable end of a call with arbitrary input, or
// returns "".
func insane(err error) string {
	st := status.Convert(err)
	switch st.Code() {
	case codes.OK, codes.InvalidArgument, codes.NotFound, codes.AlreadyExists,
		codes.PermissionDenied, codes.ResourceExhausted, codes.FailedPrecondition,
		codes.Unauthenticated, codes.Unimplemented:
		return ""
	case codes.Internal:
		if strings.HasPrefix(st.Message(), "grpc: failed to unmarshal the received message") {
			return ""
		}
		return "INTERNAL for a request that unmarshals"
	}
	return "unexpected code"
}

// fuzzMethod is one RPC of the services.
type fuzzMethod struct {
	name   string // full method name
	admin  bool   // served on the admin listener
	stream bool   // server-streaming
	input  protoreflect.MessageDescriptor
}

// fuzzServer is a server on a real bbolt file behind both of its gRPC servers, with
// an enrolled user whose tokens the fuzz target presents.
type fuzzServer struct {
	tb      testing.TB
	now     *clock
	logs    *lockedBuffer
	srv     *Server
	public  *grpc.ClientConn
	admin   *grpc.ClientConn
	methods []fuzzMethod

	mu       sync.Mutex
	users    int
	aal1     string
	aal2     string
	refresh  string
	userID   string
	username string
}

func newFuzzServer(tb testing.TB) *fuzzServer {
	tb.Helper()
	fs := &fuzzServer{tb: tb, now: &clock{now: epoch}, logs: &lockedBuffer{}}
	st, err := store.Open(filepath.Join(tb.TempDir(), "stepup.db"),
		store.Options{MasterKey: bytes.Repeat([]byte{0x5a}, 32)})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { st.Close() })
	fs.srv, err = New(st, Config{
		Now: fs.now.Now,
		// Cheap hashing, and no throttling or lockout in the way of refreshing the
		// fuzz user's tokens: the target is about input handling.
		Password:      password.Config{Params: password.Params{Memory: 64, Time: 1, Threads: 1}, AllowWeak: true},
		LoginThrottle: throttle.Config{Free: 1 << 30},
		SecondFactor:  LockoutConfig{Free: 99, Limit: 100},
		Logger:        slog.New(slog.NewTextHandler(fs.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	})
	if err != nil {
		tb.Fatal(err)
	}
	fs.public = fuzzListen(tb, fs.srv.NewPublicServer())
	fs.admin = fuzzListen(tb, fs.srv.NewAdminServer())
	fs.methods = append(methodsOf(tb, stepupv1.AuthService_ServiceDesc, false),
		methodsOf(tb, stepupv1.AccountService_ServiceDesc, false)...)
	fs.methods = append(fs.methods, methodsOf(tb, stepupv1.AdminService_ServiceDesc, true)...)
	fs.ensureTokens(tb)
	return fs
}

// fuzzListen serves g on bufconn and returns a client connection to it.
func fuzzListen(tb testing.TB, g *grpc.Server) *grpc.ClientConn {
	lis := bufconn.Listen(1 << 20)
	go g.Serve(lis)
	tb.Cleanup(g.Stop)
	conn, err := grpc.NewClient("passthrough:///bufnet",
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { conn.Close() })
	return conn
}

// methodsOf lists the methods of a service with their request types, from the
// generated descriptors, so an RPC added later is fuzzed without a change here.
func methodsOf(tb testing.TB, sd grpc.ServiceDesc, admin bool) []fuzzMethod {
	d, err := protoregistry.GlobalFiles.FindDescriptorByName(protoreflect.FullName(sd.ServiceName))
	if err != nil {
		tb.Fatal(err)
	}
	svc := d.(protoreflect.ServiceDescriptor)
	var out []fuzzMethod
	for i := range svc.Methods().Len() {
		md := svc.Methods().Get(i)
		out = append(out, fuzzMethod{
			name:   "/" + sd.ServiceName + "/" + string(md.Name()),
			admin:  admin,
			stream: md.IsStreamingServer(),
			input:  md.Input(),
		})
	}
	return out
}

// ensureTokens makes sure the fuzz user's aal1 and fresh aal2 tokens still work. A
// fuzzed call may have disabled the user, revoked its tokens, changed its password or
// removed its authenticator; then a new user takes over.
func (fs *fuzzServer) ensureTokens(tb testing.TB) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if fs.aal2 != "" && fs.valid(fs.aal1) && fs.valid(fs.aal2) && fs.fresh(fs.aal2) {
		return
	}
	if err := fs.newUser(); err != nil {
		tb.Fatalf("set up the fuzz user: %v", err)
	}
}

func (fs *fuzzServer) valid(tok string) bool {
	return fs.srv.check(tok).reason == stepupv1.ValidationReason_VALIDATION_REASON_OK
}

// fresh reports whether an aal2 token still satisfies the step-up max age with a
// minute to spare.
func (fs *fuzzServer) fresh(tok string) bool {
	c, err := fs.srv.verifier.Verify(tok)
	return err == nil && fs.now.Now().Sub(c.AuthTime) < fs.srv.cfg.StepUpMaxAge-time.Minute
}

// newUser creates a user with TOTP and stores its tokens.
func (fs *fuzzServer) newUser() error {
	fs.users++
	fs.username = fmt.Sprintf("fuzz-%d", fs.users)
	ctx := context.Background()
	admin := stepupv1.NewAdminServiceClient(fs.admin)
	auth := stepupv1.NewAuthServiceClient(fs.public)
	account := stepupv1.NewAccountServiceClient(fs.public)
	created, err := admin.CreateUser(ctx, &stepupv1.CreateUserRequest{Username: fs.username, Password: testPassword})
	if err != nil {
		return err
	}
	fs.userID = created.GetUserId()
	login, err := auth.Login(ctx, &stepupv1.LoginRequest{Username: fs.username, Password: testPassword})
	if err != nil {
		return err
	}
	fs.aal1, fs.refresh = login.GetAccessToken(), login.GetRefreshToken()
	withTok := bearerCtx(ctx, fs.aal1)
	begin, err := account.BeginTotpEnrollment(withTok, &stepupv1.BeginTotpEnrollmentRequest{})
	if err != nil {
		return err
	}
	if _, err := account.ConfirmTotpEnrollment(withTok,
		&stepupv1.ConfirmTotpEnrollmentRequest{Code: fs.totp(begin.GetSecret())}); err != nil {
		return err
	}
	fs.now.Advance(30 * time.Second) // the confirmation spent this step
	ch, err := auth.ChallengeSecondFactor(withTok,
		&stepupv1.ChallengeSecondFactorRequest{Factor: stepupv1.Factor_FACTOR_TOTP})
	if err != nil {
		return err
	}
	stepped, err := auth.VerifySecondFactor(withTok,
		&stepupv1.VerifySecondFactorRequest{ChallengeId: ch.GetChallengeId(), Code: fs.totp(begin.GetSecret())})
	if err != nil {
		return err
	}
	fs.aal2 = stepped.GetAccessToken()
	return nil
}

func (fs *fuzzServer) totp(secret string) string {
	c, _ := totp.GenerateCodeCustom(secret, fs.now.Now(), totp.ValidateOpts{
		Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	return c
}

// bearer returns the token that auth selects: none, aal1, aal2 or a forged one.
func (fs *fuzzServer) bearer(auth uint8) string {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	switch auth % 4 {
	case 1:
		return fs.aal1
	case 2:
		return fs.aal2
	case 3:
		return fs.aal2[:len(fs.aal2)-4] + "AAAA"
	}
	return ""
}

// call sends payload, unparsed, as the request of m.
func (fs *fuzzServer) call(m fuzzMethod, auth uint8, payload []byte) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if tok := fs.bearer(auth); tok != "" {
		ctx = metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+tok)
	}
	conn := fs.public
	if m.admin {
		conn = fs.admin
	}
	opt := grpc.ForceCodec(rawCodec{})
	in := payload
	if !m.stream {
		var out []byte
		return conn.Invoke(ctx, m.name, &in, &out, opt)
	}
	stream, err := conn.NewStream(ctx, &grpc.StreamDesc{ServerStreams: true}, m.name, opt)
	if err != nil {
		return err
	}
	if err := stream.SendMsg(&in); err != nil {
		return err
	}
	if err := stream.CloseSend(); err != nil {
		return err
	}
	var out []byte
	return stream.RecvMsg(&out)
}

// rawCodec sends and receives message bytes as they are, under the proto codec's
// name, so the server decodes them as the method's request type.
type rawCodec struct{}

func (rawCodec) Marshal(v any) ([]byte, error) { return *v.(*[]byte), nil }

func (rawCodec) Unmarshal(data []byte, v any) error {
	*v.(*[]byte) = append([]byte(nil), data...)
	return nil
}

func (rawCodec) Name() string { return "proto" }

// sampleRequest is a plausible request of type md in wire form: every field set, from
// the fuzz user's real values where a field name calls for one.
func sampleRequest(tb testing.TB, md protoreflect.MessageDescriptor, fs *fuzzServer) []byte {
	msg := dynamicpb.NewMessage(md)
	fillSample(msg, fs, 0)
	b, err := proto.Marshal(msg)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// fillSample sets each field of msg (one per oneof) to a sample value.
func fillSample(msg protoreflect.Message, fs *fuzzServer, depth int) {
	fields := msg.Descriptor().Fields()
	seen := map[protoreflect.FullName]bool{}
	for i := range fields.Len() {
		fd := fields.Get(i)
		if o := fd.ContainingOneof(); o != nil {
			if seen[o.FullName()] {
				continue
			}
			seen[o.FullName()] = true
		}
		switch {
		case fd.IsList() && fd.Kind() == protoreflect.StringKind:
			msg.Mutable(fd).List().Append(protoreflect.ValueOfString(sampleString(fd, fs)))
		case fd.IsList() || fd.IsMap():
		case fd.Kind() == protoreflect.MessageKind:
			if depth < 3 {
				fillSample(msg.Mutable(fd).Message(), fs, depth+1)
			}
		default:
			if v, ok := sampleScalar(fd, fs); ok {
				msg.Set(fd, v)
			}
		}
	}
}

func sampleScalar(fd protoreflect.FieldDescriptor, fs *fuzzServer) (protoreflect.Value, bool) {
	switch fd.Kind() {
	case protoreflect.StringKind:
		return protoreflect.ValueOfString(sampleString(fd, fs)), true
	case protoreflect.EnumKind:
		if vals := fd.Enum().Values(); vals.Len() > 1 {
			return protoreflect.ValueOfEnum(vals.Get(1).Number()), true
		}
	case protoreflect.Int64Kind:
		return protoreflect.ValueOfInt64(300), true
	case protoreflect.Int32Kind:
		return protoreflect.ValueOfInt32(1), true
	case protoreflect.BoolKind:
		return protoreflect.ValueOfBool(true), true
	case protoreflect.BytesKind:
		return protoreflect.ValueOfBytes([]byte("x")), true
	}
	return protoreflect.Value{}, false
}

// sampleString picks a value by field name.
func sampleString(fd protoreflect.FieldDescriptor, fs *fuzzServer) string {
	switch name := string(fd.Name()); {
	case name == "username":
		return fs.username
	case name == "user_id":
		return fs.userID
	case name == "new_password":
		return "another long passphrase"
	case strings.Contains(name, "password"):
		return testPassword
	case name == "refresh_token":
		return fs.refresh
	case name == "token":
		return fs.aal2
	case name == "required_acr":
		return token.ACR2
	case name == "code":
		return "123456"
	case name == "email":
		return "alice@example.com"
	case name == "phone_number":
		return "+15555550100"
	}
	return "ch_x"
}
