package deliverytest

import (
	"crypto/subtle"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stepup/stepup/server/delivery"
)

// Credentials the stand-in expects.
const (
	// TwilioAccountSID is the account the Twilio stand-in serves.
	TwilioAccountSID = "AC0123456789abcdef0123456789abcdef"
	// TwilioAuthToken is the token it expects in basic auth.
	TwilioAuthToken = "twilio auth token for tests"
	// TwilioFrom is a sending number for the Twilio transport.
	TwilioFrom = "+15005550006"
)

// SMS is one request the stand-in received.
type SMS struct {
	// API is "webhook" or "twilio".
	API string
	To  string
	// Body is the text of the message.
	Body string
	// Authentic reports a valid HMAC signature (webhook) or basic auth (Twilio).
	Authentic bool
	// Status is what the stand-in answered.
	Status int
	// IdempotencyKey is the webhook's message id header.
	IdempotencyKey string
}

// SMSProvider is an HTTP server on a loopback port standing in for an SMS provider.
// POST /webhook takes the signed JSON of delivery.Webhook; POST
// /2010-04-01/Accounts/{TwilioAccountSID}/Messages.json takes Twilio's form. Each
// request is recorded; failures and delays are set by the test.
type SMSProvider struct {
	*httptest.Server
	// Key is the webhook's HMAC key.
	Key []byte

	mu       sync.Mutex
	received []SMS
	failNext int
	failWith int
	down     bool
	delay    time.Duration
}

// NewSMSProvider starts the stand-in; t's cleanup stops it.
func NewSMSProvider(t testing.TB) *SMSProvider {
	t.Helper()
	p := &SMSProvider{Key: []byte("webhook hmac key for tests, 32+ bytes long")}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /webhook", p.webhook)
	mux.HandleFunc("POST /2010-04-01/Accounts/{sid}/Messages.json", p.twilio)
	p.Server = httptest.NewServer(mux)
	t.Cleanup(p.Server.Close)
	return p
}

// WebhookURL is the URL for delivery.WebhookConfig.
func (p *SMSProvider) WebhookURL() string { return p.URL + "/webhook" }

// FailNext makes the next n requests answer status.
func (p *SMSProvider) FailNext(n, status int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.failNext, p.failWith = n, status
}

// SetDown makes every request answer 503 until it is called with false.
func (p *SMSProvider) SetDown(down bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = down
}

// SetDelay makes every request wait d before it is answered, or until the client
// gives up.
func (p *SMSProvider) SetDelay(d time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.delay = d
}

// Received returns every request so far, failed ones included.
func (p *SMSProvider) Received() []SMS {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]SMS(nil), p.received...)
}

// Delivered returns the requests answered with success.
func (p *SMSProvider) Delivered() []SMS {
	var out []SMS
	for _, m := range p.Received() {
		if m.Status < 300 {
			out = append(out, m)
		}
	}
	return out
}

// LastTo returns the latest delivered message to a number, failing t if none.
func (p *SMSProvider) LastTo(t testing.TB, to string) SMS {
	t.Helper()
	d := p.Delivered()
	for i := len(d) - 1; i >= 0; i-- {
		if d[i].To == to {
			return d[i]
		}
	}
	t.Fatalf("sms: nothing delivered to %s among %d requests", to, len(p.Received()))
	return SMS{}
}

func (p *SMSProvider) webhook(w http.ResponseWriter, r *http.Request) {
	raw, _ := io.ReadAll(io.LimitReader(r.Body, 64<<10))
	var body delivery.WebhookPayload
	_ = json.Unmarshal(raw, &body)
	m := SMS{API: "webhook", To: body.To, Body: body.Body,
		Authentic:      delivery.VerifySignature(p.Key, raw, r.Header.Get(delivery.SignatureHeader)),
		IdempotencyKey: r.Header.Get(delivery.IdempotencyHeader)}
	if !m.Authentic {
		p.answer(w, r, m, http.StatusUnauthorized, `{"error":"bad signature"}`)
		return
	}
	p.answer(w, r, m, http.StatusOK, `{"ok":true}`)
}

func (p *SMSProvider) twilio(w http.ResponseWriter, r *http.Request) {
	_ = r.ParseForm()
	user, pass, _ := r.BasicAuth()
	m := SMS{API: "twilio", To: r.PostForm.Get("To"), Body: r.PostForm.Get("Body"),
		Authentic: r.PathValue("sid") == TwilioAccountSID && user == TwilioAccountSID &&
			subtle.ConstantTimeCompare([]byte(pass), []byte(TwilioAuthToken)) == 1 &&
			(r.PostForm.Get("From") != "" || r.PostForm.Get("MessagingServiceSid") != "")}
	if !m.Authentic {
		p.answer(w, r, m, http.StatusUnauthorized, `{"code":20003,"message":"Authenticate","status":401}`)
		return
	}
	if !strings.HasPrefix(m.To, "+") {
		p.answer(w, r, m, http.StatusBadRequest,
			`{"code":21211,"message":"The 'To' number `+m.To+` is not a valid phone number.","status":400}`)
		return
	}
	p.answer(w, r, m, http.StatusCreated, `{"sid":"SM0123","status":"queued","to":`+quote(m.To)+`}`)
}

// answer applies the configured delay and failures, records the request, and writes
// the response.
func (p *SMSProvider) answer(w http.ResponseWriter, r *http.Request, m SMS, status int, body string) {
	p.mu.Lock()
	delay := p.delay
	switch {
	case p.down:
		status, body = http.StatusServiceUnavailable, `{"error":"down"}`
	case p.failNext > 0:
		p.failNext--
		status, body = p.failWith, `{"error":"injected failure"}`
	}
	m.Status = status
	p.received = append(p.received, m)
	p.mu.Unlock()

	if delay > 0 {
		select {
		case <-time.After(delay):
		case <-r.Context().Done():
			return
		}
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	io.WriteString(w, body)
}

func quote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}
