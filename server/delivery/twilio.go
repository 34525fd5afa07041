package delivery

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"
)

// DefaultTwilioBaseURL is Twilio's REST API.
const DefaultTwilioBaseURL = "https://api.twilio.com"

// twilioSID matches an account or messaging service id: two letters and 32 hex digits.
var twilioSID = regexp.MustCompile(`^(AC|MG)[0-9a-fA-F]{32}$`)

// TwilioConfig configures the Twilio transport.
type TwilioConfig struct {
	// AccountSID ("AC" and 32 hex digits) names the account. Required.
	AccountSID string
	// AuthToken authenticates as the account (HTTP basic auth). Required.
	AuthToken string
	// From is the sending number in E.164, or MessagingServiceSID ("MG...") a
	// messaging service; exactly one is required.
	From                string
	MessagingServiceSID string
	// BaseURL is the API's root. Default DefaultTwilioBaseURL; tests point it at a
	// local server.
	BaseURL string
	// Timeout bounds one attempt. Default 5 seconds.
	Timeout time.Duration
	// Retry governs retries after a 5xx answer.
	Retry RetryPolicy
	// Client, if set, replaces the default HTTP client.
	Client *http.Client
}

// Twilio delivers SMS with Twilio's Messages API: a form POST to
// /2010-04-01/Accounts/{AccountSID}/Messages.json.
type Twilio struct {
	cfg      TwilioConfig
	endpoint string
	client   *http.Client
}

// NewTwilio checks cfg and returns the transport.
func NewTwilio(cfg TwilioConfig) (*Twilio, error) {
	if cfg.BaseURL == "" {
		cfg.BaseURL = DefaultTwilioBaseURL
	}
	base, err := checkURL(cfg.BaseURL, "Twilio base")
	if err != nil {
		return nil, err
	}
	if !strings.HasPrefix(cfg.AccountSID, "AC") || !twilioSID.MatchString(cfg.AccountSID) {
		return nil, fmt.Errorf("%w: Twilio account SID: want AC and 32 hex digits", ErrConfig)
	}
	if cfg.AuthToken == "" {
		return nil, fmt.Errorf("%w: Twilio auth token is empty", ErrConfig)
	}
	if (cfg.From == "") == (cfg.MessagingServiceSID == "") {
		return nil, fmt.Errorf("%w: Twilio: set exactly one of the from number and the messaging service SID", ErrConfig)
	}
	if svc := cfg.MessagingServiceSID; svc != "" && (!strings.HasPrefix(svc, "MG") || !twilioSID.MatchString(svc)) {
		return nil, fmt.Errorf("%w: Twilio messaging service SID: want MG and 32 hex digits", ErrConfig)
	}
	cfg.Retry = cfg.Retry.withDefaults()
	endpoint := base.JoinPath("2010-04-01", "Accounts", cfg.AccountSID, "Messages.json").String()
	return &Twilio{cfg: cfg, endpoint: endpoint, client: httpClient(cfg.Client, cfg.Timeout)}, nil
}

// Deliver creates one message, retrying on 5xx.
func (t *Twilio) Deliver(ctx context.Context, m Message) error {
	form := url.Values{"To": {m.To}, "Body": {m.Body}}
	if t.cfg.From != "" {
		form.Set("From", t.cfg.From)
	} else {
		form.Set("MessagingServiceSid", t.cfg.MessagingServiceSID)
	}
	encoded := form.Encode()
	status, body, err := post(ctx, t.client, t.cfg.Retry, "twilio", func(ctx context.Context) (*http.Request, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, t.endpoint, strings.NewReader(encoded))
		if err != nil {
			return nil, err
		}
		req.SetBasicAuth(t.cfg.AccountSID, t.cfg.AuthToken)
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Accept", "application/json")
		return req, nil
	})
	if err != nil {
		return err
	}
	return statusError("twilio", status, twilioCode(body))
}

// twilioCode returns ", error <code>" from a Twilio error body, or "". The error's
// message is left out: Twilio quotes the number in it ("The 'To' number +1... is not
// a valid phone number").
func twilioCode(body []byte) string {
	var e struct {
		Code int `json:"code"`
	}
	if json.Unmarshal(body, &e) != nil || e.Code == 0 {
		return ""
	}
	return fmt.Sprintf(", error %d", e.Code)
}
