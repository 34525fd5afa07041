package e2e

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"encoding/base32"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/dynamicpb"

	stepupv1 "github.com/stepup/stepup/gen/stepup/v1"
	"github.com/stepup/stepup/server/daemon"
	"github.com/stepup/stepup/server/delivery"
	"github.com/stepup/stepup/server/delivery/deliverytest"
	"github.com/stepup/stepup/store"
	"github.com/stepup/stepup/token"
)

// Known secret values: distinctive, so finding one anywhere means it leaked.
const (
	secretPassword  = "Sekr1t-Passphrase-Alpha"
	secretWrongPass = "Wr0ng-Passphrase-Bravo"
	secretWeakPass  = "Qz7!x"
	secretNewPass   = "N3w-Passphrase-Charlie"
)

// secrets are the secret values a run handled, in the forms they could leak in.
type secrets struct {
	strs  []string // passwords, tokens, base32 seeds, recovery codes
	bytes [][]byte // raw TOTP seeds and keys
	codes []string // six-digit codes: looked for as whole numbers only
}

func (s *secrets) add(vals ...string) {
	for _, v := range vals {
		if v != "" {
			s.strs = append(s.strs, v)
		}
	}
}

// addSeed records a base32 TOTP secret in every encoding it could be written in.
func (s *secrets) addSeed(t *testing.T, b32 string) {
	raw, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(b32)
	if err != nil {
		t.Fatal(err)
	}
	s.addBytes(raw)
	s.add(b32, strings.ToLower(b32), base32.StdEncoding.EncodeToString(raw))
}

// addBytes records raw secret bytes and their text encodings.
func (s *secrets) addBytes(raw []byte) {
	s.bytes = append(s.bytes, raw)
	s.add(hex.EncodeToString(raw), base64.StdEncoding.EncodeToString(raw),
		base64.RawStdEncoding.EncodeToString(raw), base64.RawURLEncoding.EncodeToString(raw))
}

// addRecovery records a recovery code as shown and as normalized.
func (s *secrets) addRecovery(codes ...string) {
	for _, c := range codes {
		s.add(c, strings.ReplaceAll(c, "-", ""), strings.ToUpper(c))
	}
}

// addToken records an access token and its signature, enough to forge a replay.
func (s *secrets) addToken(tok string) { s.add(tok, signature(tok)) }

// find reports the first secret text contains, or "".
func (s *secrets) find(text string) string {
	for _, v := range s.strs {
		if strings.Contains(text, v) {
			return v
		}
	}
	for _, b := range s.bytes {
		if bytes.Contains([]byte(text), b) {
			return hex.EncodeToString(b)
		}
	}
	for _, c := range s.codes {
		if regexp.MustCompile(`(^|[^0-9])` + c + `([^0-9]|$)`).MatchString(text) {
			return c
		}
	}
	return ""
}

// secretsRun is one daemon, driven through every RPC with known secrets.
type secretsRun struct {
	t       *testing.T
	e       *env
	logs    *lockedBuffer
	smtp    *deliverytest.SMTPServer
	sms     *deliverytest.SMSProvider
	called  map[string]bool // full method names the client called
	errs    []error
	secrets secrets

	pub, adm *grpc.ClientConn
	auth     stepupv1.AuthServiceClient
	account  stepupv1.AccountServiceClient
	admin    stepupv1.AdminServiceClient
}

// newSecretsRun starts a daemon that logs everything at debug level (without
// timestamps, whose digits could pass for a code) and sends email to a real SMTP
// server and SMS to the webhook of a stand-in provider, both in the test.
func newSecretsRun(t *testing.T) *secretsRun {
	r := &secretsRun{t: t, logs: &lockedBuffer{}, called: map[string]bool{},
		smtp: deliverytest.NewSMTPServer(t), sms: deliverytest.NewSMSProvider(t)}
	r.e = &env{t: t, clock: newClock(), dataDir: t.TempDir()}
	r.e.bootWith(func(o *daemon.Options) {
		fastPasswords(o)
		o.Logger = slog.New(slog.NewTextHandler(r.logs, &slog.HandlerOptions{
			Level: slog.LevelDebug,
			ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
				if len(groups) == 0 && a.Key == slog.TimeKey {
					return slog.Attr{}
				}
				return a
			},
		}))
		o.Email = daemon.EmailDelivery{Via: daemon.ViaSMTP, SMTP: delivery.SMTPConfig{
			Addr: r.smtp.Addr, From: "stepup <no-reply@stepup.example>", Username: r.smtp.Username,
			Password: r.smtp.Password, RootCAs: r.smtp.RootCAs(),
		}}
		o.SMS = daemon.SMSDelivery{Via: daemon.ViaWebhook, Webhook: delivery.WebhookConfig{
			URL: r.sms.WebhookURL(), Key: r.sms.Key,
		}}
	})
	record := grpc.WithChainUnaryInterceptor(func(ctx context.Context, method string, req, reply any,
		cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
		r.called[method] = true
		err := invoker(ctx, method, req, reply, cc, opts...)
		if err != nil {
			r.errs = append(r.errs, err)
		}
		return err
	})
	recordStream := grpc.WithChainStreamInterceptor(func(ctx context.Context, desc *grpc.StreamDesc,
		cc *grpc.ClientConn, method string, streamer grpc.Streamer,
		opts ...grpc.CallOption) (grpc.ClientStream, error) {
		r.called[method] = true
		return streamer(ctx, desc, cc, method, opts...)
	})
	r.pub = dialWith(t, r.e.d.Addr(), record, recordStream)
	r.adm = dialWith(t, "unix://"+filepath.Join(r.e.dataDir, daemon.AdminSocket), record, recordStream)
	r.auth = stepupv1.NewAuthServiceClient(r.pub)
	r.account = stepupv1.NewAccountServiceClient(r.pub)
	r.admin = stepupv1.NewAdminServiceClient(r.adm)
	r.secrets.add(secretPassword, secretWrongPass, secretWeakPass, secretNewPass, r.smtp.Password)
	r.secrets.addBytes(r.sms.Key)
	return r
}

func dialWith(t *testing.T, target string, opts ...grpc.DialOption) *grpc.ClientConn {
	t.Helper()
	conn, err := grpc.NewClient(target, append(opts, grpc.WithTransportCredentials(insecure.NewCredentials()))...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// must fails the test on err, which a step of the flow does not expect.
func (r *secretsRun) must(step string, err error) {
	r.t.Helper()
	if err != nil {
		r.t.Fatalf("%s: %v", step, err)
	}
}

// code is the TOTP code of secret now; it is recorded as a secret.
func (r *secretsRun) code(secret string) string {
	c := r.e.code(secret)
	r.secrets.codes = append(r.secrets.codes, c)
	return c
}

// The addresses the codes go to.
const (
	secretsPhone = "+15555550123"
	secretsEmail = "alice@example.com"
)

// smsCode is the code of the last SMS; it is recorded as a secret.
func (r *secretsRun) smsCode() string {
	return r.keepCode(deliverytest.Code(r.sms.LastTo(r.t, secretsPhone).Body))
}

// mailCode is the code of the latest of n mails; it is recorded as a secret.
func (r *secretsRun) mailCode(n int) string {
	mails := r.smtp.WaitMails(r.t, n)
	return r.keepCode(deliverytest.Code(mails[len(mails)-1].Body()))
}

func (r *secretsRun) keepCode(c string) string {
	if c == "" {
		r.t.Fatal("no code in the message")
	}
	r.secrets.codes = append(r.secrets.codes, c)
	return c
}

// wrong is a wrong six-digit code for right, recorded as a secret too: a wrong guess
// is someone's attempt at a secret.
func (r *secretsRun) wrong(right string) string {
	w := wrongCode(right)
	r.secrets.codes = append(r.secrets.codes, w)
	return w
}

// challenge opens a challenge for f as the holder of tok.
func (r *secretsRun) challenge(tok string, f stepupv1.Factor) string {
	r.t.Helper()
	ch, err := r.auth.ChallengeSecondFactor(bearer(r.t, tok), &stepupv1.ChallengeSecondFactorRequest{Factor: f})
	r.must("ChallengeSecondFactor("+f.String()+")", err)
	return ch.GetChallengeId()
}

// verify answers challenge ch with code as the holder of tok.
func (r *secretsRun) verify(tok, ch, code string) (string, error) {
	v, err := r.auth.VerifySecondFactor(bearer(r.t, tok),
		&stepupv1.VerifySecondFactorRequest{ChallengeId: ch, Code: code})
	return v.GetAccessToken(), err
}

// changePassword calls ChangePassword as the holder of tok.
func (r *secretsRun) changePassword(tok, current, next string) error {
	_, err := r.account.ChangePassword(bearer(r.t, tok),
		&stepupv1.ChangePasswordRequest{CurrentPassword: current, NewPassword: next})
	return err
}

// drive calls every RPC of the three services, right and wrong, and records each
// secret the calls carried or returned.
func (r *secretsRun) drive() {
	c := ctx(r.t)
	created, err := r.admin.CreateUser(c, &stepupv1.CreateUserRequest{Username: "alice", Password: secretPassword})
	r.must("CreateUser", err)
	ref := &stepupv1.UserRef{Ref: &stepupv1.UserRef_UserId{UserId: created.GetUserId()}}
	r.admin.CreateUser(c, &stepupv1.CreateUserRequest{Username: "weak", Password: secretWeakPass})
	r.auth.Login(c, &stepupv1.LoginRequest{Username: "alice", Password: secretWrongPass})
	r.auth.Login(c, &stepupv1.LoginRequest{Username: "nobody", Password: secretPassword})
	login, err := r.auth.Login(c, &stepupv1.LoginRequest{Username: "alice", Password: secretPassword})
	r.must("Login", err)
	aal1 := login.GetAccessToken()
	r.secrets.addToken(aal1)
	r.secrets.add(login.GetRefreshToken())

	aal2 := r.contacts(aal1)
	aal2 = r.totp(aal1, aal2)
	r.recovery(aal1, aal2)
	r.tokens(login.GetRefreshToken(), aal1, aal2, ref)
	r.admins(ref, aal1)
}

// contacts adds and confirms a phone (no step-up needed yet), steps up by SMS, then
// adds and confirms an email address and steps up by email. It returns the SMS aal2.
func (r *secretsRun) contacts(aal1 string) string {
	b := bearer(r.t, aal1)
	_, err := r.account.AddPhone(b, &stepupv1.AddPhoneRequest{PhoneNumber: secretsPhone})
	r.must("AddPhone", err)
	code := r.smsCode()
	r.account.ConfirmPhone(b, &stepupv1.ConfirmPhoneRequest{Code: r.wrong(code)})
	_, err = r.account.ConfirmPhone(b, &stepupv1.ConfirmPhoneRequest{Code: code})
	r.must("ConfirmPhone", err)

	ch := r.challenge(aal1, stepupv1.Factor_FACTOR_SMS)
	code = r.smsCode()
	r.verify(aal1, ch, r.wrong(code))
	aal2, err := r.verify(aal1, ch, code)
	r.must("VerifySecondFactor(SMS)", err)
	r.secrets.addToken(aal2)

	b2 := bearer(r.t, aal2)
	_, err = r.account.AddEmail(b2, &stepupv1.AddEmailRequest{Email: secretsEmail})
	r.must("AddEmail", err)
	code = r.mailCode(1)
	r.account.ConfirmEmail(b2, &stepupv1.ConfirmEmailRequest{Code: r.wrong(code)})
	_, err = r.account.ConfirmEmail(b2, &stepupv1.ConfirmEmailRequest{Code: code})
	r.must("ConfirmEmail", err)
	r.e.clock.Advance(time.Minute) // three codes a minute per user
	ch = r.challenge(aal1, stepupv1.Factor_FACTOR_EMAIL)
	emailTok, err := r.verify(aal1, ch, r.mailCode(2))
	r.must("VerifySecondFactor(email)", err)
	r.secrets.addToken(emailTok)
	return aal2
}

// totp enrolls an authenticator (a wrong confirmation first), steps up with it (a
// wrong code first), and leaves a second enrollment pending. It returns the TOTP aal2.
func (r *secretsRun) totp(aal1, aal2 string) string {
	b2 := bearer(r.t, aal2)
	begin, err := r.account.BeginTotpEnrollment(b2, &stepupv1.BeginTotpEnrollmentRequest{})
	r.must("BeginTotpEnrollment", err)
	secret := begin.GetSecret()
	r.secrets.addSeed(r.t, secret)
	r.secrets.add(begin.GetOtpauthUri())
	r.account.ConfirmTotpEnrollment(b2, &stepupv1.ConfirmTotpEnrollmentRequest{Code: r.wrong(r.e.code(secret))})
	_, err = r.account.ConfirmTotpEnrollment(b2, &stepupv1.ConfirmTotpEnrollmentRequest{Code: r.code(secret)})
	r.must("ConfirmTotpEnrollment", err)
	r.e.clock.Advance(30 * time.Second)

	ch := r.challenge(aal1, stepupv1.Factor_FACTOR_TOTP)
	r.verify(aal1, ch, r.wrong(r.e.code(secret)))
	totpAAL2, err := r.verify(aal1, ch, r.code(secret))
	r.must("VerifySecondFactor(TOTP)", err)
	r.secrets.addToken(totpAAL2)

	pending, err := r.account.BeginTotpEnrollment(bearer(r.t, totpAAL2), &stepupv1.BeginTotpEnrollmentRequest{})
	r.must("BeginTotpEnrollment (left pending)", err)
	r.secrets.addSeed(r.t, pending.GetSecret())
	return totpAAL2
}

// recovery creates recovery codes, spends one (a wrong one first), lists and removes
// factors.
func (r *secretsRun) recovery(aal1, aal2 string) {
	b2 := bearer(r.t, aal2)
	rc, err := r.account.CreateRecoveryCodes(b2, &stepupv1.CreateRecoveryCodesRequest{})
	r.must("CreateRecoveryCodes", err)
	r.secrets.addRecovery(rc.GetCodes()...)
	r.secrets.addRecovery("zzzz-zzzz-zzzz")

	b := bearer(r.t, aal1)
	ch := r.challenge(aal1, stepupv1.Factor_FACTOR_RECOVERY_CODE)
	r.verify(aal1, ch, "zzzz-zzzz-zzzz")
	byCode, err := r.verify(aal1, ch, rc.GetCodes()[0])
	r.must("VerifySecondFactor(recovery)", err)
	r.secrets.addToken(byCode)

	_, err = r.account.ListFactors(b, &stepupv1.ListFactorsRequest{})
	r.must("ListFactors", err)
	_, err = r.account.RemoveFactor(b2, &stepupv1.RemoveFactorRequest{Factor: stepupv1.Factor_FACTOR_EMAIL})
	r.must("RemoveFactor", err)
}

// tokens exercises validation, refresh (and its reuse), password changes and logout.
func (r *secretsRun) tokens(refresh, aal1, aal2 string, ref *stepupv1.UserRef) {
	c := ctx(r.t)
	r.auth.ValidateToken(c, &stepupv1.ValidateTokenRequest{Token: aal1, RequiredAcr: token.ACR2})
	r.auth.ValidateToken(c, &stepupv1.ValidateTokenRequest{Token: aal1[:len(aal1)-4] + "AAAA"})
	r.account.ListFactors(bearer(r.t, aal1[:len(aal1)-4]+"AAAA"), &stepupv1.ListFactorsRequest{})
	next, err := r.auth.RefreshToken(c, &stepupv1.RefreshTokenRequest{RefreshToken: refresh})
	r.must("RefreshToken", err)
	r.secrets.addToken(next.GetAccessToken())
	r.secrets.add(next.GetRefreshToken())

	r.changePassword(aal2, secretWrongPass, secretNewPass)
	r.changePassword(aal2, secretPassword, secretWeakPass)
	r.must("ChangePassword", r.changePassword(aal2, secretPassword, secretNewPass))
	r.auth.RefreshToken(c, &stepupv1.RefreshTokenRequest{RefreshToken: refresh}) // reuse

	jwks, err := r.auth.GetJwks(c, &stepupv1.GetJwksRequest{})
	r.must("GetJwks", err)
	if jwks.GetJwks().GetJson() == "" {
		r.t.Fatal("empty JWK Set")
	}
	streams, stop := context.WithCancel(c)
	defer stop() // an open stream would hold up the daemon's graceful stop
	watch, err := r.auth.WatchJwks(streams, &stepupv1.WatchJwksRequest{})
	r.must("WatchJwks", err)
	_, err = watch.Recv()
	r.must("WatchJwks.Recv", err)
	revs, err := r.auth.WatchRevocations(streams, &stepupv1.WatchRevocationsRequest{})
	r.must("WatchRevocations", err)
	_, err = revs.Recv()
	r.must("WatchRevocations.Recv", err)

	// The reuse ended the session; a new one logs out, twice.
	again, err := r.auth.Login(c, &stepupv1.LoginRequest{Username: "alice", Password: secretNewPass})
	r.must("Login with the new password", err)
	r.secrets.addToken(again.GetAccessToken())
	r.secrets.add(again.GetRefreshToken())
	_, err = r.auth.Logout(bearer(r.t, again.GetAccessToken()), &stepupv1.LogoutRequest{})
	r.must("Logout", err)
	r.auth.Logout(bearer(r.t, again.GetAccessToken()), &stepupv1.LogoutRequest{})
}

// admins calls the rest of AdminService.
func (r *secretsRun) admins(ref *stepupv1.UserRef, aal1 string) {
	c := ctx(r.t)
	for name, err := range map[string]error{
		"GetUser":          second(r.admin.GetUser(c, &stepupv1.GetUserRequest{User: ref})),
		"DisableUser":      second(r.admin.DisableUser(c, &stepupv1.DisableUserRequest{User: ref})),
		"EnableUser":       second(r.admin.EnableUser(c, &stepupv1.EnableUserRequest{User: ref})),
		"RevokeUserTokens": second(r.admin.RevokeUserTokens(c, &stepupv1.RevokeUserTokensRequest{User: ref})),
		"RevokeToken": second(r.admin.RevokeToken(c,
			&stepupv1.RevokeTokenRequest{TokenId: claimOf(r.t, aal1, "jti")})),
		"ListSigningKeys":  second(r.admin.ListSigningKeys(c, &stepupv1.ListSigningKeysRequest{})),
		"RotateSigningKey": second(r.admin.RotateSigningKey(c, &stepupv1.RotateSigningKeyRequest{})),
	} {
		r.must(name, err)
	}
	r.admin.GetUser(c, &stepupv1.GetUserRequest{User: &stepupv1.UserRef{
		Ref: &stepupv1.UserRef_Username{Username: secretPassword}}}) // a password typed as a name
}

func second[T any](_ T, err error) error { return err }

// services are the services whose every method the run drives.
var services = []string{"stepup.v1.AuthService", "stepup.v1.AccountService", "stepup.v1.AdminService"}

// everyMethod calls fn with the full name and descriptor of each method of services.
func everyMethod(t *testing.T, fn func(name string, md protoreflect.MethodDescriptor)) {
	for _, svc := range services {
		d, err := protoregistry.GlobalFiles.FindDescriptorByName(protoreflect.FullName(svc))
		if err != nil {
			t.Fatal(err)
		}
		methods := d.(protoreflect.ServiceDescriptor).Methods()
		for i := range methods.Len() {
			fn("/"+svc+"/"+string(methods.Get(i).Name()), methods.Get(i))
		}
	}
}

// driveRest calls each method the scripted flow did not, with a request whose
// secret-looking fields (password, code, token, secret, key) carry known secrets, as
// the user logged in with the new password. So an RPC added later is driven too, if
// only with a request stepup may refuse; its secrets in and out are checked all the
// same. It returns the names it drove.
func (r *secretsRun) driveRest() []string {
	login, err := r.auth.Login(ctx(r.t), &stepupv1.LoginRequest{Username: "alice", Password: secretNewPass})
	r.must("Login for the generic calls", err)
	r.secrets.addToken(login.GetAccessToken())
	r.secrets.add(login.GetRefreshToken())
	var driven []string
	everyMethod(r.t, func(name string, md protoreflect.MethodDescriptor) {
		if r.called[name] {
			return
		}
		req := dynamicpb.NewMessage(md.Input())
		r.fill(req, 0)
		conn := r.pub
		if strings.HasPrefix(name, "/stepup.v1.AdminService/") {
			conn = r.adm
		}
		c, cancel := context.WithTimeout(bearer(r.t, login.GetAccessToken()), 2*time.Second)
		defer cancel()
		resp := dynamicpb.NewMessage(md.Output())
		if md.IsStreamingServer() {
			err = recvOne(c, conn, name, req, resp)
		} else {
			err = conn.Invoke(c, name, req, resp)
		}
		if err == nil {
			r.keepReturned(resp, 0)
		}
		driven = append(driven, name)
	})
	return driven
}

// recvOne opens a server stream, sends req and reads one message into resp.
func recvOne(c context.Context, conn *grpc.ClientConn, name string, req, resp proto.Message) error {
	stream, err := conn.NewStream(c, &grpc.StreamDesc{ServerStreams: true}, name)
	if err != nil {
		return err
	}
	if err := stream.SendMsg(req); err != nil {
		return err
	}
	if err := stream.CloseSend(); err != nil {
		return err
	}
	return stream.RecvMsg(resp)
}

// secretField reports whether a field's name says it carries a secret.
func secretField(fd protoreflect.FieldDescriptor) bool {
	name := string(fd.Name())
	for _, w := range []string{"password", "code", "token", "secret", "key"} {
		if strings.Contains(name, w) && !strings.HasSuffix(name, "_id") {
			return true
		}
	}
	return false
}

// fill sets every field of msg (one per oneof): secret-looking strings to a new known
// secret, other strings to a plain value.
func (r *secretsRun) fill(msg protoreflect.Message, depth int) {
	fields := msg.Descriptor().Fields()
	oneofs := map[protoreflect.FullName]bool{}
	for i := range fields.Len() {
		fd := fields.Get(i)
		if o := fd.ContainingOneof(); o != nil {
			if oneofs[o.FullName()] {
				continue
			}
			oneofs[o.FullName()] = true
		}
		v := "generic-" + string(fd.Name())
		if secretField(fd) {
			v = fmt.Sprintf("Sekr1t-%s-%d", fd.Name(), len(r.secrets.strs))
			r.secrets.add(v)
		}
		switch {
		case fd.IsMap():
		case fd.IsList() && fd.Kind() == protoreflect.StringKind:
			msg.Mutable(fd).List().Append(protoreflect.ValueOfString(v))
		case fd.IsList():
		case fd.Kind() == protoreflect.StringKind:
			msg.Set(fd, protoreflect.ValueOfString(v))
		case fd.Kind() == protoreflect.BytesKind:
			msg.Set(fd, protoreflect.ValueOfBytes([]byte(v)))
		case fd.Kind() == protoreflect.EnumKind && fd.Enum().Values().Len() > 1:
			msg.Set(fd, protoreflect.ValueOfEnum(fd.Enum().Values().Get(1).Number()))
		case fd.Kind() == protoreflect.MessageKind && depth < 2:
			r.fill(msg.Mutable(fd).Message(), depth+1)
		}
	}
}

// keepReturned records the secret-looking strings of a response as secrets: a
// secret stepup hands out must not be logged either.
func (r *secretsRun) keepReturned(msg protoreflect.Message, depth int) {
	msg.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		switch {
		case fd.Kind() == protoreflect.MessageKind && !fd.IsList() && !fd.IsMap() && depth < 3:
			r.keepReturned(v.Message(), depth+1)
		case fd.Kind() == protoreflect.StringKind && !fd.IsList() && secretField(fd) && len(v.String()) >= 8:
			r.secrets.add(v.String())
		}
		return true
	})
}

// checkEveryRPC fails unless every method of the three services was called, so a new
// RPC cannot join without being driven.
func (r *secretsRun) checkEveryRPC() {
	everyMethod(r.t, func(name string, _ protoreflect.MethodDescriptor) {
		if !r.called[name] {
			r.t.Errorf("%s was not driven", name)
		}
	})
}

// selfCheck makes sure find sees each kind of secret, so a quiet run means no leak
// rather than a blind detector.
func (s *secrets) selfCheck(t *testing.T) {
	t.Helper()
	samples := []string{"x " + s.strs[0] + " y", "k=" + string(s.bytes[0]) + ";"}
	if len(s.codes) > 0 {
		samples = append(samples, "code="+s.codes[0]+" ")
	}
	for _, text := range samples {
		if s.find(text) == "" {
			t.Fatalf("the detector misses a secret in %q", text)
		}
	}
}

// TestSecretsNotInLogsOrErrors drives every RPC with known secrets, right and wrong,
// with the daemon logging at debug level, and looks for each secret in the log and in
// every error status (message and details) the calls returned.
func TestSecretsNotInLogsOrErrors(t *testing.T) {
	r := newSecretsRun(t)
	r.drive()
	if rest := r.driveRest(); len(rest) > 0 {
		t.Logf("driven with generic requests only: %v", rest)
	}
	r.checkEveryRPC()

	r.secrets.selfCheck(t)
	logs := r.logs.String()
	for _, want := range []string{"login failed", "second factor rejected", "rejected access token",
		"refresh token reused", "address confirmation rejected"} {
		if !strings.Contains(logs, want) {
			t.Errorf("the log lacks %q: the flow did not run as intended", want)
		}
	}
	if len(r.errs) < 12 {
		t.Fatalf("only %d errors: the wrong cases did not run", len(r.errs))
	}
	if s := r.secrets.find(logs); s != "" {
		t.Errorf("the log contains secret %.16q...:\n%s", s, lineWith(logs, s))
	}
	for _, err := range r.errs {
		if s := r.secrets.find(status.Convert(err).Proto().String()); s != "" {
			t.Errorf("error %v contains secret %.16q...", err, s)
		}
	}
	t.Logf("%d secret values, %d codes, %d errors, %d log bytes checked",
		len(r.secrets.strs)+len(r.secrets.bytes), len(r.secrets.codes), len(r.errs), len(logs))
}

func lineWith(text, s string) string {
	for _, line := range strings.Split(text, "\n") {
		if strings.Contains(line, s) {
			return line
		}
	}
	return ""
}

// TestSecretsNotInDatabaseFile drives the same flow, stops the daemon and reads the
// raw bbolt file, free pages included: no TOTP seed (raw, base32, base64, hex), no
// signing key (PKCS #8 or raw), no recovery code, password, refresh token or master
// key may be there in the clear. Six-digit codes are left out: random bytes match six
// ASCII digits too often to tell.
func TestSecretsNotInDatabaseFile(t *testing.T) {
	r := newSecretsRun(t)
	r.drive()
	r.driveRest()
	r.e.stop()

	keys := signingKeys(t, r.e.dataDir)
	for _, k := range keys {
		r.secrets.addBytes(k)
	}
	mk, _, err := store.LoadOrCreateMasterKey(filepath.Join(r.e.dataDir, daemon.MasterKeyFile), nil)
	if err != nil {
		t.Fatal(err)
	}
	r.secrets.addBytes(mk)
	r.secrets.codes = nil

	raw, err := os.ReadFile(filepath.Join(r.e.dataDir, daemon.DBFile))
	if err != nil {
		t.Fatal(err)
	}
	r.secrets.selfCheck(t)
	if !bytes.Contains(raw, []byte("alice")) {
		t.Fatal("the file does not even hold the username: wrong file?")
	}
	if s := r.secrets.find(string(raw)); s != "" {
		t.Fatalf("the database file holds secret %.16q... in the clear", s)
	}
	t.Logf("%d secret values (%d signing keys) absent from %d bytes", len(r.secrets.strs)+len(r.secrets.bytes),
		len(keys)/2, len(raw))
}

// signingKeys returns, for each signing key in the stopped daemon's store, its PKCS #8
// DER and its raw private scalar or seed.
func signingKeys(t *testing.T, dataDir string) [][]byte {
	st := openStore(t, dataDir)
	defer st.Close()
	var out [][]byte
	err := st.View(func(tx *store.Tx) error {
		keys, err := tx.Keys()
		for _, k := range keys {
			priv, err := token.ParsePrivateKey(k.ID, k.Alg, k.Private)
			if err != nil {
				return err
			}
			out = append(out, k.Private)
			switch s := priv.Signer.(type) {
			case ed25519.PrivateKey:
				out = append(out, s.Seed())
			case *ecdsa.PrivateKey:
				out = append(out, s.D.FillBytes(make([]byte, 32)))
			}
		}
		return err
	})
	if err != nil || len(out) < 4 {
		t.Fatalf("signing keys: %d, %v", len(out)/2, err)
	}
	return out
}

// lockedBuffer collects log output written from many goroutines.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
