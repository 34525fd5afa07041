package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"

	stepupv1 "github.com/stepup/stepup/gen/stepup/v1"
)

// serviceUsage documents the service commands.
const serviceUsage = `service add NAME [--jwks FILE] [--no-secret]
service list
service remove NAME
service rotate-secret NAME`

// serviceCommand runs "service add|list|remove|rotate-secret". A secret is printed
// once, on stdout, and never again: stepupd keeps only its SHA-256.
func serviceCommand(ctx context.Context, c stepupv1.AdminServiceClient, verb string, args []string, e env) error {
	switch verb {
	case "add":
		return plain(addService(ctx, c, args, e))
	case "list":
		return plain(listServices(ctx, c, e))
	case "remove":
		if len(args) != 1 {
			return errors.New("expected: service remove NAME")
		}
		_, err := c.RemoveService(ctx, &stepupv1.RemoveServiceRequest{Name: args[0]})
		report(err, e, "removed service "+args[0])
		return plain(err)
	case "rotate-secret":
		if len(args) != 1 {
			return errors.New("expected: service rotate-secret NAME")
		}
		resp, err := c.RotateServiceSecret(ctx, &stepupv1.RotateServiceSecretRequest{Name: args[0]})
		if err != nil {
			return plain(err)
		}
		fmt.Fprintln(e.stdout, resp.GetSecret())
		return nil
	default:
		return fmt.Errorf("unknown command: service %s; expected one of:\n%s", verb, serviceUsage)
	}
}

func addService(ctx context.Context, c stepupv1.AdminServiceClient, args []string, e env) error {
	fs := flag.NewFlagSet("service add", flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	jwksFile := fs.String("jwks", "", "JWK Set file of the public keys that verify the service's assertions")
	noSecret := fs.Bool("no-secret", false, "register no secret; the service uses assertions only")
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		return errors.New("expected: " + strings.SplitN(serviceUsage, "\n", 2)[0])
	}
	name := args[0]
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	req := &stepupv1.AddServiceRequest{Name: name, WithoutSecret: *noSecret}
	if *jwksFile != "" {
		b, err := readSmall(*jwksFile)
		if err != nil {
			return err
		}
		req.Jwks = string(b)
	}
	resp, err := c.AddService(ctx, req)
	if err != nil {
		return err
	}
	if resp.GetSecret() != "" {
		fmt.Fprintln(e.stderr, "secret (shown once; store it now):")
		fmt.Fprintln(e.stdout, resp.GetSecret())
	} else {
		fmt.Fprintln(e.stdout, "added service", name)
	}
	return nil
}

// readSmall reads a JWKS file of at most 64 KiB, the limit stepupd applies.
func readSmall(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, 64<<10+1))
}

func listServices(ctx context.Context, c stepupv1.AdminServiceClient, e env) error {
	resp, err := c.ListServices(ctx, &stepupv1.ListServicesRequest{})
	if err != nil {
		return err
	}
	w := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "NAME\tCREATED\tSECRET\tSECRET_ROTATED\tKEYS")
	for _, s := range resp.GetServices() {
		keys := strings.Join(s.GetKeyIds(), ",")
		if keys == "" {
			keys = "-"
		}
		fmt.Fprintf(w, "%s\t%s\t%t\t%s\t%s\n", s.GetName(), stamp(s.GetCreatedAt()),
			s.GetHasSecret(), stamp(s.GetSecretRotatedAt()), keys)
	}
	return w.Flush()
}
