package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"
	"google.golang.org/protobuf/types/known/timestamppb"

	stepupv1 "github.com/stepup/stepup/gen/stepup/v1"
)

func tokenCommand(ctx context.Context, c stepupv1.AdminServiceClient, verb string, args []string, e env) error {
	if verb != "revoke" || len(args) != 1 {
		return errors.New("expected: token revoke JTI")
	}
	if _, err := c.RevokeToken(ctx, &stepupv1.RevokeTokenRequest{TokenId: args[0]}); err != nil {
		return plain(err)
	}
	fmt.Fprintln(e.stdout, "revoked token", args[0])
	return nil
}

func keysCommand(ctx context.Context, c stepupv1.AdminServiceClient, verb string, e env) error {
	switch verb {
	case "list":
		resp, err := c.ListSigningKeys(ctx, &stepupv1.ListSigningKeysRequest{})
		if err != nil {
			return err
		}
		w := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(w, "KID\tALG\tSTATE\tCREATED\tACTIVATE_AT\tREMOVE_AT")
		for _, k := range resp.GetKeys() {
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\n", k.GetKid(), k.GetAlg(), k.GetState(),
				stamp(k.GetCreatedAt()), stamp(k.GetActivateAt()), stamp(k.GetRemoveAt()))
		}
		return w.Flush()
	case "rotate":
		resp, err := c.RotateSigningKey(ctx, &stepupv1.RotateSigningKeyRequest{})
		if err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "key %s signs from %s\n", resp.GetNextKid(), stamp(resp.GetActivateAt()))
		return nil
	default:
		return fmt.Errorf("unknown command: keys %s (want list or rotate)", verb)
	}
}

func stamp(ts *timestamppb.Timestamp) string {
	if ts == nil {
		return "-"
	}
	return ts.AsTime().UTC().Format(time.RFC3339)
}

// totpCommand prints the current code for a secret read from stdin, so a quickstart or a
// test can step up without an authenticator app. The secret never goes on the command
// line, where other users could read it from the process list.
func totpCommand(verb string, e env) error {
	if verb != "code" {
		return fmt.Errorf("unknown command: totp %s (want code)", verb)
	}
	line, err := bufio.NewReader(io.LimitReader(e.stdin, 1024)).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return err
	}
	secret := strings.ToUpper(strings.TrimSpace(line))
	code, err := totp.GenerateCodeCustom(secret, time.Now(), totp.ValidateOpts{
		Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1,
	})
	if err != nil {
		return errors.New("totp code: stdin does not hold a base32 secret")
	}
	fmt.Fprintln(e.stdout, code)
	return nil
}
