package delivery

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"time"
)

// Webhook request headers.
const (
	// SignatureHeader carries "sha256=" and the hex HMAC-SHA256 of the request body
	// under the shared key.
	SignatureHeader = "X-Stepup-Signature"
	// IdempotencyHeader carries the message id, the same on every retry, so a
	// receiver can drop a duplicate.
	IdempotencyHeader = "Idempotency-Key"
)

// minWebhookKey is the shortest HMAC key accepted: the hash size, as RFC 7518 section
// 3.2 asks.
const minWebhookKey = sha256.Size

// WebhookConfig configures the webhook transport.
type WebhookConfig struct {
	// URL receives the POSTs: https, or http to a loopback address. Required.
	URL string
	// Key signs each body with HMAC-SHA256; at least 32 bytes. Required.
	Key []byte
	// Timeout bounds one attempt. Default 5 seconds.
	Timeout time.Duration
	// Retry governs retries after a 5xx answer.
	Retry RetryPolicy
	// Client, if set, replaces the default HTTP client (for tests).
	Client *http.Client
}

// WebhookPayload is the JSON body the webhook posts. A receiver should check the
// signature over the raw bytes before parsing them, and may drop a repeated ID or a
// SentAt far from its own clock.
type WebhookPayload struct {
	ID      string    `json:"id"`
	Kind    Kind      `json:"kind"`
	To      string    `json:"to"`
	Body    string    `json:"body"`
	SentAt  time.Time `json:"sent_at"`
	Channel Channel   `json:"channel"`
}

// Webhook delivers SMS by posting signed JSON to a URL the operator runs, which hands
// the text to their SMS gateway.
type Webhook struct {
	cfg    WebhookConfig
	url    *url.URL
	client *http.Client
}

// NewWebhook checks cfg and returns the transport.
func NewWebhook(cfg WebhookConfig) (*Webhook, error) {
	u, err := checkURL(cfg.URL, "webhook")
	if err != nil {
		return nil, err
	}
	if len(cfg.Key) < minWebhookKey {
		return nil, fmt.Errorf("%w: webhook key: want at least %d bytes", ErrConfig, minWebhookKey)
	}
	cfg.Retry = cfg.Retry.withDefaults()
	return &Webhook{cfg: cfg, url: u, client: httpClient(cfg.Client, cfg.Timeout)}, nil
}

// Deliver posts one message, retrying on 5xx.
func (w *Webhook) Deliver(ctx context.Context, m Message) error {
	id, err := randomID("msg_")
	if err != nil {
		return err
	}
	body, err := json.Marshal(WebhookPayload{
		ID: id, Kind: m.Kind, To: m.To, Body: m.Body, SentAt: time.Now().UTC(), Channel: m.Channel,
	})
	if err != nil {
		return err
	}
	sig := "sha256=" + Sign(w.cfg.Key, body)
	status, _, err := post(ctx, w.client, w.cfg.Retry, "webhook", func(ctx context.Context) (*http.Request, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.url.String(), bytes.NewReader(body))
		if err != nil {
			return nil, err
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set(SignatureHeader, sig)
		req.Header.Set(IdempotencyHeader, id)
		return req, nil
	})
	if err != nil {
		return err
	}
	return statusError("webhook", status, "")
}

// Sign returns the hex HMAC-SHA256 of body under key, as SignatureHeader carries it
// after "sha256=".
func Sign(key, body []byte) string {
	m := hmac.New(sha256.New, key)
	m.Write(body)
	return hex.EncodeToString(m.Sum(nil))
}

// VerifySignature checks a SignatureHeader value against body in constant time, for
// receivers written in Go.
func VerifySignature(key, body []byte, header string) bool {
	want := "sha256=" + Sign(key, body)
	return hmac.Equal([]byte(header), []byte(want))
}

func randomID(prefix string) (string, error) {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return prefix + hex.EncodeToString(b), nil
}
