package token_test

import (
	"crypto/rand"
	"fmt"
	"log"
	"time"

	"github.com/stepup/stepup/token"
)

// A server signs an access token after password and TOTP; a service verifies it and
// checks that the call's step-up requirement is met.
func Example() {
	now := time.Date(2030, 1, 1, 12, 0, 0, 0, time.UTC)

	key, err := token.GenerateKey(token.AlgEdDSA, rand.Reader)
	if err != nil {
		log.Fatal(err)
	}
	signer, err := token.NewSigner(key)
	if err != nil {
		log.Fatal(err)
	}
	raw, err := signer.Sign(&token.Claims{
		Issuer: "https://auth.example", Subject: "u-42", ClientID: "web",
		ID: "t-1", SessionID: "s-1", ACR: token.ACR2,
		Audience: []string{"billing"},
		AMR:      []string{token.AMRPassword, token.AMROTP, token.AMRMFA},
		IssuedAt: now, NotBefore: now, Expiry: now.Add(5 * time.Minute),
		AuthTime: now,
	})
	if err != nil {
		log.Fatal(err)
	}

	// The service gets the public keys, for example from the server's JWKS.
	keys, err := token.NewKeySet(key.PublicKey())
	if err != nil {
		log.Fatal(err)
	}
	verifier, err := token.NewVerifier(token.VerifierConfig{
		Issuer: "https://auth.example", Audience: "billing",
		Now:  func() time.Time { return now.Add(time.Minute) },
		Keys: func() *token.KeySet { return keys },
	})
	if err != nil {
		log.Fatal(err)
	}
	claims, err := verifier.Verify(raw)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(claims.Subject, claims.ACR, claims.AMR)

	refund := token.Requirement{ACR: token.ACR2, MaxAge: 30 * time.Second}
	if err := claims.Satisfies(refund, now.Add(time.Minute)); err != nil {
		fmt.Println(err)
		fmt.Println(token.StepUpError(refund))
	}
	// Output:
	// u-42 aal2 [pwd otp mfa]
	// token: authentication too old
	// rpc error: code = Unauthenticated desc = step-up authentication required
}
