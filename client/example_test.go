package client_test

import (
	"context"
	"fmt"
	"log"
	"log/slog"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/stepup/stepup/client"
	"github.com/stepup/stepup/client/internal/fakestepup"
	stepupv1 "github.com/stepup/stepup/gen/stepup/v1"
	"github.com/stepup/stepup/token"
)

// The examples talk to an in-memory fake of stepup. Against the real one, dial its
// address with TLS instead:
//
//	c, err := client.Dial("stepup.internal:8443",
//		grpc.WithTransportCredentials(credentials.NewTLS(&tls.Config{MinVersion: tls.VersionTLS13})))
func ExampleDial() {
	_, stepup := fakestepup.Start(fakestepup.NewClock())
	defer stepup.Stop()

	// Plaintext is for loopback and tests only; it lets tokens travel unencrypted.
	c, err := client.Dial(stepup.Target(), stepup.Dialer(), client.Plaintext())
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()

	ctx := context.Background()
	login, err := c.Auth().Login(ctx, &stepupv1.LoginRequest{Username: "ann", Password: fakestepup.Password})
	if err != nil {
		log.Fatal(err)
	}

	// Bearer credentials demand TLS: over this plaintext connection grpc-go refuses to
	// send them, and the call fails before reaching stepup.
	_, err = c.Account().ListFactors(ctx, &stepupv1.ListFactorsRequest{},
		grpc.PerRPCCredentials(client.Bearer(login.GetAccessToken())))
	fmt.Println("Bearer over plaintext:", status.Code(err))

	// InsecureBearer is the explicit opt-out, for loopback and tests.
	resp, err := c.Account().ListFactors(ctx, &stepupv1.ListFactorsRequest{},
		grpc.PerRPCCredentials(client.InsecureBearer(login.GetAccessToken())))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("enrolled:", resp.GetFactors()[0].GetFactor())
	// Output:
	// Bearer over plaintext: Unauthenticated
	// enrolled: FACTOR_TOTP
}

// A service checks stepup tokens locally: most methods need any valid token, a
// transfer needs a second factor proven in the last five minutes, and health checks
// need nothing.
func ExampleVerifier_UnaryServerInterceptor() {
	clock := fakestepup.NewClock()
	fake, stepup := fakestepup.Start(clock)
	defer stepup.Stop()
	conn, err := stepup.Dial() // in production: the Conn of a TLS client.Dial
	if err != nil {
		log.Fatal(err)
	}
	defer conn.Close()

	ctx := context.Background()
	v, err := client.NewVerifier(ctx, client.Config{
		Conn: conn, Issuer: fakestepup.Issuer, Audience: fakestepup.DemoAud,
		Now: clock.Now, Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		log.Fatal(err)
	}
	defer v.Close()
	if err := v.Ready(ctx); err != nil { // wait for keys and revocations before serving
		log.Fatal(err)
	}

	policy := client.Policy{
		Public:  []string{"/grpc.health.v1.Health/Check", fakestepup.DemoPublic},
		Methods: map[string]client.Rule{fakestepup.DemoTransfer: {ACR: token.ACR2, MaxAge: 5 * time.Minute}},
	}
	app := fakestepup.Serve(func() *grpc.Server {
		srv := grpc.NewServer(
			grpc.ChainUnaryInterceptor(v.UnaryServerInterceptor(policy)),
			grpc.ChainStreamInterceptor(v.StreamServerInterceptor(policy)),
		)
		fakestepup.RegisterDemo(srv, fakestepup.DemoFunc(func(context.Context, string) (string, error) {
			return "done", nil
		}))
		return srv
	})
	defer app.Stop()
	appConn, err := app.Dial()
	if err != nil {
		log.Fatal(err)
	}
	defer appConn.Close()

	try := func(label, method, tok string) {
		callCtx := ctx
		if tok != "" {
			callCtx = metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+tok)
		}
		_, err := fakestepup.CallDemo(callCtx, appConn, method)
		if req, ok := token.ParseStepUpError(err); ok {
			fmt.Printf("%s: step up to %s within %v\n", label, req.ACR, req.MaxAge)
			return
		}
		fmt.Printf("%s: %v\n", label, status.Code(err))
	}
	try("Read without a token", fakestepup.DemoRead, "")
	try("Read with aal1", fakestepup.DemoRead, fake.Token("u_ann", token.ACR1))
	try("Transfer with aal1", fakestepup.DemoTransfer, fake.Token("u_ann", token.ACR1))
	try("Transfer with aal2", fakestepup.DemoTransfer, fake.Token("u_ann", token.ACR2))
	// Output:
	// Read without a token: Unauthenticated
	// Read with aal1: OK
	// Transfer with aal1: step up to aal2 within 5m0s
	// Transfer with aal2: OK
}

// A handler behind the interceptor reads who is calling, and how they authenticated.
func ExampleClaimsFromContext() {
	clock := fakestepup.NewClock()
	fake, stepup := fakestepup.Start(clock)
	defer stepup.Stop()
	conn, err := stepup.Dial()
	if err != nil {
		log.Fatal(err)
	}
	defer conn.Close()
	ctx := context.Background()
	v, err := client.NewVerifier(ctx, client.Config{
		Conn: conn, Issuer: fakestepup.Issuer, Audience: fakestepup.DemoAud,
		Now: clock.Now, Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		log.Fatal(err)
	}
	defer v.Close()
	if err := v.Ready(ctx); err != nil {
		log.Fatal(err)
	}

	handler := func(ctx context.Context, _ string) (string, error) {
		claims, ok := client.ClaimsFromContext(ctx)
		if !ok {
			return "", status.Error(codes.Internal, "no caller") // not behind the interceptor
		}
		return fmt.Sprintf("user %s, %s via %v, session %s",
			claims.Subject, claims.ACR, claims.AMR, claims.SessionID), nil
	}
	app := fakestepup.Serve(func() *grpc.Server {
		srv := grpc.NewServer(grpc.ChainUnaryInterceptor(v.UnaryServerInterceptor(client.Policy{})))
		fakestepup.RegisterDemo(srv, fakestepup.DemoFunc(handler))
		return srv
	})
	defer app.Stop()
	appConn, err := app.Dial()
	if err != nil {
		log.Fatal(err)
	}
	defer appConn.Close()

	callCtx := metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+fake.Token("u_ann", token.ACR2))
	out, err := fakestepup.CallDemo(callCtx, appConn, fakestepup.DemoRead)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(out)
	// Output:
	// user u_ann, aal2 via [pwd otp mfa], session sid-u_ann
}

// Removing a factor needs a recent second factor. CallWithStepUp tries the call with
// the session's aal1 token, gets the step-up error, proves TOTP with the code the
// user types, and tries again with the aal2 token.
func ExampleSession_CallWithStepUp() {
	_, stepup := fakestepup.Start(fakestepup.NewClock())
	defer stepup.Stop()
	c, err := client.Dial(stepup.Target(), stepup.Dialer(), client.Plaintext())
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()

	ctx := context.Background()
	sess, err := c.Login(ctx, "ann", fakestepup.Password)
	if err != nil {
		log.Fatal(err)
	}

	askUser := func(_ context.Context, ch *stepupv1.ChallengeSecondFactorResponse) (string, error) {
		fmt.Println("asking the user for a TOTP code")
		return fakestepup.Code, nil // in real life: read it from the user
	}
	attempt := 0
	err = sess.CallWithStepUp(ctx, stepupv1.Factor_FACTOR_TOTP, askUser, func(ctx context.Context) error {
		attempt++
		_, err := c.Account().RemoveFactor(ctx,
			&stepupv1.RemoveFactorRequest{Factor: stepupv1.Factor_FACTOR_TOTP}, grpc.PerRPCCredentials(sess))
		fmt.Printf("attempt %d: %v\n", attempt, status.Code(err))
		return err
	})
	if err != nil {
		log.Fatal(err)
	}
	// Output:
	// attempt 1: Unauthenticated
	// asking the user for a TOTP code
	// attempt 2: OK
}
