package server

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"google.golang.org/grpc/status"

	stepupv1 "github.com/stepup/stepup/gen/stepup/v1"
)

// GetJwks returns the published keys.
func (s *Server) GetJwks(ctx context.Context, _ *stepupv1.GetJwksRequest) (*stepupv1.GetJwksResponse, error) {
	set, err := jwkSetProto(s.keys.current())
	if err != nil {
		return nil, s.toStatus(ctx, "get_jwks", err)
	}
	return &stepupv1.GetJwksResponse{Jwks: set}, nil
}

// WatchJwks sends the key set now and after every change.
func (s *Server) WatchJwks(_ *stepupv1.WatchJwksRequest, stream stepupv1.AuthService_WatchJwksServer) error {
	for {
		snap, changed := s.keys.watch()
		set, err := jwkSetProto(snap)
		if err != nil {
			return s.toStatus(stream.Context(), "watch_jwks", err)
		}
		if err := stream.Send(&stepupv1.WatchJwksResponse{Jwks: set}); err != nil {
			return err
		}
		select {
		case <-stream.Context().Done():
			return status.FromContextError(stream.Context().Err()).Err()
		case <-changed:
		}
	}
}

func jwkSetProto(snap *keySnapshot) (*stepupv1.JwkSet, error) {
	var doc struct {
		Keys []struct {
			Kid, Kty, Alg, Use, Crv, X, Y string
		} `json:"keys"`
	}
	if err := json.Unmarshal(snap.json, &doc); err != nil {
		return nil, fmt.Errorf("key set: %w", err)
	}
	set := &stepupv1.JwkSet{Json: string(snap.json)}
	for _, k := range doc.Keys {
		set.Keys = append(set.Keys, &stepupv1.Jwk{
			Kid: k.Kid, Kty: k.Kty, Alg: k.Alg, Use: k.Use, Crv: k.Crv, X: k.X, Y: k.Y})
	}
	return set, nil
}

// JWKSPath is where the HTTP handler serves the key set.
const JWKSPath = "/.well-known/jwks.json"

// JWKSHandler serves the key set over plain HTTP for relying parties without a gRPC
// client (Envoy's jwt_authn, Kong, Traefik, JWT libraries). Responses may be cached for
// JWKSCacheTTL: keys are published at least that long before they sign.
func (s *Server) JWKSHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+JWKSPath, func(w http.ResponseWriter, r *http.Request) {
		snap := s.keys.current()
		sum := sha256.Sum256(snap.json)
		etag := `"` + base64.RawURLEncoding.EncodeToString(sum[:16]) + `"`
		h := w.Header()
		h.Set("Content-Type", "application/jwk-set+json")
		h.Set("Cache-Control", fmt.Sprintf("public, max-age=%d", int(s.cfg.JWKSCacheTTL/time.Second)))
		h.Set("ETag", etag)
		h.Set("X-Content-Type-Options", "nosniff")
		if r.Header.Get("If-None-Match") == etag {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		w.Write(snap.json)
	})
	return mux
}
