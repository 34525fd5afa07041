package server

import (
	"context"
	"errors"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	stepupv1 "github.com/stepup/stepup/gen/stepup/v1"
	"github.com/stepup/stepup/server/internal/contact"
	"github.com/stepup/stepup/store"
)

// Sender delivers the messages of one channel, email or SMS. The server calls it with
// no store transaction open and with a deadline of Config.DeliveryTimeout. A returned
// error means the message may not have arrived; it must not contain the code or the
// address, because the server logs it. Package server/delivery has implementations.
type Sender interface {
	// SendVerificationCode sends the code that confirms to as the user's new address.
	SendVerificationCode(ctx context.Context, to, code string, validFor time.Duration) error
	// SendStepUpCode sends a code that steps up a session of the user whose address
	// to is.
	SendStepUpCode(ctx context.Context, to, code string, validFor time.Duration) error
	// SendAddressChanged tells the old address to that it no longer receives codes:
	// it was replaced by the address shown masked as newHint, or removed if newHint
	// is empty.
	SendAddressChanged(ctx context.Context, to, newHint string) error
}

// channel is one way of sending codes: email or SMS.
type channel struct {
	factor    stepupv1.Factor
	name      string // "email" or "sms", for logs and address fingerprints
	field     string // the request field that carries the address
	rule      string // what a valid address looks like, for InvalidArgument
	sender    Sender
	off       error // the answer when sender is nil
	noPending error // the answer to a confirmation with nothing to confirm
	parse     func(string) (string, error)
	mask      func(string) string
	same      func(a, b string) bool
}

// channelFor returns the channel of a factor whose codes are sent, or false for TOTP
// and recovery codes.
func (s *Server) channelFor(f stepupv1.Factor) (*channel, bool) {
	switch f {
	case stepupv1.Factor_FACTOR_EMAIL:
		return &channel{
			factor: f, name: "email", field: "email",
			rule:   "must be a plain address, local-part@domain",
			sender: s.cfg.EmailSender, off: errEmailOff, noPending: errNoPendingEmail,
			parse: contact.ParseEmail, mask: contact.MaskEmail, same: contact.SameEmail,
		}, true
	case stepupv1.Factor_FACTOR_SMS:
		return &channel{
			factor: f, name: "sms", field: "phone_number",
			rule:   "must be in E.164 form: a plus sign, the country code and the number, digits only",
			sender: s.cfg.SMSSender, off: errSMSOff, noPending: errNoPendingPhone,
			parse: contact.ParsePhone, mask: contact.MaskPhone,
			same: func(a, b string) bool { return a == b },
		}, true
	}
	return nil, false
}

// slots returns where u keeps the verified and the pending address of the channel.
func (ch *channel) slots(u *store.User) (verified, pending **store.Contact) {
	if ch.factor == stepupv1.Factor_FACTOR_EMAIL {
		return &u.Email, &u.PendingEmail
	}
	return &u.Phone, &u.PendingPhone
}

// outgoing is a code about to be sent and the challenge that will hold its hash.
type outgoing struct {
	id      string
	code    string
	expires time.Time
}

func (s *Server) newOutgoing(now time.Time) (*outgoing, error) {
	code, err := contact.NewCode(s.cfg.Rand, s.cfg.CodeDigits)
	if err != nil {
		return nil, err
	}
	id, err := s.newID("ch_")
	if err != nil {
		return nil, err
	}
	return &outgoing{id: id, code: code, expires: now.Add(s.cfg.CodeTTL)}, nil
}

// challengeByMessage is ChallengeSecondFactor for SMS and email: it stores a challenge
// with the hash of a fresh code, then sends the code to the verified address.
func (s *Server) challengeByMessage(ctx context.Context, c *caller, ch *channel,
	now time.Time) (*stepupv1.ChallengeSecondFactorResponse, error) {
	if ch.sender == nil {
		return nil, ch.off
	}
	out, err := s.newOutgoing(now)
	if err != nil {
		return nil, s.toStatus(ctx, "challenge", err)
	}
	var addr string
	err = s.store.Update(func(tx *store.Tx) error {
		u, err := tx.User(c.user.ID)
		if err != nil {
			return notFoundAs(err, errBadToken)
		}
		verified, _ := ch.slots(u)
		if *verified == nil {
			return errNotEnrolled
		}
		if err := s.lockedOut(u, now); err != nil {
			return err
		}
		addr = (*verified).Address
		return s.putSentChallenge(tx, c, ch, out, addr, "", now)
	})
	if err != nil {
		return nil, s.toStatus(ctx, "challenge", err)
	}
	err = s.send(ctx, c, ch, out, func(ctx context.Context) error {
		return ch.sender.SendStepUpCode(ctx, addr, out.code, s.cfg.CodeTTL)
	})
	if err != nil {
		return nil, err
	}
	s.log.InfoContext(ctx, "challenge started", logUserID, c.user.ID, logChallengeID, out.id,
		logFactor, ch.factor.String())
	return &stepupv1.ChallengeSecondFactorResponse{
		ChallengeId:     out.id,
		ExpiresAt:       timestamppb.New(out.expires),
		DestinationHint: ch.mask(addr),
	}, nil
}

// putSentChallenge counts the send against the rate limits and stores the challenge
// that holds the code's hash, in the caller's transaction.
func (s *Server) putSentChallenge(tx *store.Tx, c *caller, ch *channel, out *outgoing,
	addr, purpose string, now time.Time) error {
	key, err := tx.CodeKey()
	if err != nil {
		return err
	}
	dest := contact.Fingerprint(key, ch.name, addr)
	if err := s.allowSend(tx, c.user.ID, dest, out.id, now); err != nil {
		return err
	}
	return tx.PutChallenge(&store.Challenge{
		ID:          out.id,
		UserID:      c.user.ID,
		SessionID:   c.claims.SessionID,
		Factor:      int32(ch.factor),
		CreatedAt:   now,
		ExpiresAt:   out.expires,
		CodeHash:    contact.HashCode(key, out.id, out.code),
		Purpose:     purpose,
		Destination: dest,
	})
}

// allowSend applies the resend interval and the per-user and per-destination limits,
// and records the send of challenge id. A refused send records nothing and answers
// RESOURCE_EXHAUSTED with the wait.
func (s *Server) allowSend(tx *store.Tx, userID, dest, id string, now time.Time) error {
	user, err := tx.SendLog(userKey(userID))
	if err != nil {
		return err
	}
	to, err := tx.SendLog(destKey(dest))
	if err != nil {
		return err
	}
	wait := s.resendWait(to, now)
	var w time.Duration
	user.Sent, w = contact.Allow(user.Sent, now, s.cfg.SendLimits.PerUser)
	wait = max(wait, w)
	to.Sent, w = contact.Allow(to.Sent, now, s.cfg.SendLimits.PerDestination)
	wait = max(wait, w)
	if wait > 0 {
		return tooMany("too many codes sent, try again later", wait)
	}
	to.Open = id
	if err := tx.PutSendLog(userKey(userID), user); err != nil {
		return err
	}
	return tx.PutSendLog(destKey(dest), to)
}

// resendWait is how long until another code may go to a destination whose latest
// code is still unanswered.
func (s *Server) resendWait(l *store.SendLog, now time.Time) time.Duration {
	if l.Open == "" || len(l.Sent) == 0 {
		return 0
	}
	return max(l.Sent[len(l.Sent)-1].Add(s.cfg.SendLimits.Resend).Sub(now), 0)
}

// answered ends the resend interval of a challenge's destination: its code arrived
// and was used, so the user may need another at once.
func answered(tx *store.Tx, ch *store.Challenge) error {
	if ch.Destination == "" {
		return nil
	}
	l, err := tx.SendLog(destKey(ch.Destination))
	if err != nil || l.Open != ch.ID {
		return err
	}
	l.Open = ""
	return tx.PutSendLog(destKey(ch.Destination), l)
}

// Send-log keys. Neither holds an address: a destination is named by its fingerprint.
func userKey(userID string) string { return "user|" + userID }
func destKey(dest string) string   { return "dest|" + dest }

// sendLogCutoff is the time before which no send counts against any limit any more.
func (s *Server) sendLogCutoff() time.Time {
	l := s.cfg.SendLimits
	return s.cfg.Now().Add(-contact.Longest(l.PerUser, l.PerDestination))
}

// send runs one delivery under DeliveryTimeout. It is called with no transaction open,
// so a slow provider holds up only this call. When delivery fails the challenge is
// consumed: its code never reached anyone, and nothing may answer it.
//
// TODO: sends in flight are bounded only by gRPC's per-connection stream limit; a
// provider that hangs lets many connections each hold a goroutine for the timeout.
// A service-wide semaphore answering UNAVAILABLE when full would bound it.
func (s *Server) send(ctx context.Context, c *caller, ch *channel, out *outgoing,
	deliver func(context.Context) error) error {
	sendCtx, cancel := context.WithTimeout(ctx, s.cfg.DeliveryTimeout)
	err := deliver(sendCtx)
	cancel()
	if err == nil {
		return nil
	}
	s.log.WarnContext(ctx, "code not sent", logUserID, c.user.ID, logChallengeID, out.id,
		logChannel, ch.name, logErr, err)
	s.discard(ctx, c.user.ID, ch, out.id)
	return errNotSent
}

// discard consumes a challenge whose code was not sent and forgets the pending address
// that waited for it.
func (s *Server) discard(ctx context.Context, userID string, ch *channel, id string) {
	now := s.cfg.Now()
	err := s.store.Update(func(tx *store.Tx) error {
		chal, err := tx.Challenge(id)
		if err != nil {
			return err
		}
		chal.ConsumedAt = now
		if err := tx.PutChallenge(chal); err != nil {
			return err
		}
		u, err := tx.User(userID)
		if err != nil {
			return err
		}
		if _, pending := ch.slots(u); *pending != nil && (*pending).ChallengeID == id {
			*pending = nil
			return tx.PutUser(u)
		}
		return nil
	})
	if err != nil {
		// The challenge stays open, but its code exists only as a keyed hash and was
		// never sent or returned, so no one can answer it before it expires.
		s.log.ErrorContext(ctx, "could not consume an unsent challenge", logUserID, userID,
			logChallengeID, id, logErr, err)
	}
}

// AddEmail sends a confirmation code to a new email address.
func (s *Server) AddEmail(ctx context.Context, req *stepupv1.AddEmailRequest) (*stepupv1.AddEmailResponse, error) {
	ch, _ := s.channelFor(stepupv1.Factor_FACTOR_EMAIL)
	hint, out, err := s.addAddress(ctx, ch, req.GetEmail())
	if err != nil {
		return nil, err
	}
	return &stepupv1.AddEmailResponse{DestinationHint: hint, ExpiresAt: timestamppb.New(out.expires)}, nil
}

// AddPhone sends a confirmation code by SMS to a new phone number.
func (s *Server) AddPhone(ctx context.Context, req *stepupv1.AddPhoneRequest) (*stepupv1.AddPhoneResponse, error) {
	ch, _ := s.channelFor(stepupv1.Factor_FACTOR_SMS)
	hint, out, err := s.addAddress(ctx, ch, req.GetPhoneNumber())
	if err != nil {
		return nil, err
	}
	return &stepupv1.AddPhoneResponse{DestinationHint: hint, ExpiresAt: timestamppb.New(out.expires)}, nil
}

// addAddress makes raw the pending address of the channel and sends it a confirmation
// code. With a factor enrolled it needs a step-up, as every factor change does.
func (s *Server) addAddress(ctx context.Context, ch *channel, raw string) (string, *outgoing, error) {
	c, err := callerFrom(ctx)
	if err != nil {
		return "", nil, err
	}
	if ch.sender == nil {
		return "", nil, ch.off
	}
	addr, err := ch.parse(raw)
	if err != nil {
		return "", nil, invalidArg(ch.field, ch.rule)
	}
	now := s.cfg.Now()
	out, err := s.newOutgoing(now)
	if err != nil {
		return "", nil, s.toStatus(ctx, "add_"+ch.name, err)
	}
	err = s.store.Update(func(tx *store.Tx) error {
		return s.putPending(ctx, tx, c, ch, out, addr, now)
	})
	if err != nil {
		return "", nil, s.toStatus(ctx, "add_"+ch.name, err)
	}
	err = s.send(ctx, c, ch, out, func(ctx context.Context) error {
		return ch.sender.SendVerificationCode(ctx, addr, out.code, s.cfg.CodeTTL)
	})
	if err != nil {
		return "", nil, err
	}
	s.log.InfoContext(ctx, "address confirmation started", logUserID, c.user.ID,
		logChallengeID, out.id, logChannel, ch.name)
	return ch.mask(addr), out, nil
}

// putPending checks the policy on the stored user and records the pending address and
// its confirmation challenge.
func (s *Server) putPending(ctx context.Context, tx *store.Tx, c *caller, ch *channel,
	out *outgoing, addr string, now time.Time) error {
	u, err := tx.User(c.user.ID)
	if err != nil {
		return notFoundAs(err, errBadToken)
	}
	if err := s.stepUpIfEnrolled(ctx, u); err != nil {
		return err
	}
	verified, pending := ch.slots(u)
	if *verified != nil && ch.same((*verified).Address, addr) {
		return errSameAddress
	}
	if err := s.putSentChallenge(tx, c, ch, out, addr, store.ChallengeConfirm, now); err != nil {
		return err
	}
	*pending = &store.Contact{Address: addr, ChallengeID: out.id, CreatedAt: now, StepUp: anyFactor(u)}
	return tx.PutUser(u)
}

// ConfirmEmail activates the pending email address after a correct code.
func (s *Server) ConfirmEmail(ctx context.Context, req *stepupv1.ConfirmEmailRequest) (*stepupv1.ConfirmEmailResponse, error) {
	ch, _ := s.channelFor(stepupv1.Factor_FACTOR_EMAIL)
	if err := s.confirmAddress(ctx, ch, req.GetCode()); err != nil {
		return nil, err
	}
	return &stepupv1.ConfirmEmailResponse{}, nil
}

// ConfirmPhone activates the pending phone number after a correct code.
func (s *Server) ConfirmPhone(ctx context.Context, req *stepupv1.ConfirmPhoneRequest) (*stepupv1.ConfirmPhoneResponse, error) {
	ch, _ := s.channelFor(stepupv1.Factor_FACTOR_SMS)
	if err := s.confirmAddress(ctx, ch, req.GetCode()); err != nil {
		return nil, err
	}
	return &stepupv1.ConfirmPhoneResponse{}, nil
}

// confirmAddress checks a confirmation code through the same verification as a
// step-up, so the per-challenge burn and the per-user lockout apply unchanged, and
// then tells the replaced address, if any.
func (s *Server) confirmAddress(ctx context.Context, ch *channel, code string) error {
	c, err := callerFrom(ctx)
	if err != nil {
		return err
	}
	if len(code) > maxCodeLen {
		return invalidArg("code", "too long")
	}
	v := verification{s: s, caller: c, code: code, now: s.cfg.Now(), purpose: store.ChallengeConfirm}
	if err := s.store.Update(v.runConfirm(ch)); err != nil {
		return s.toStatus(ctx, "confirm_"+ch.name, err)
	}
	if errors.Is(v.outcome, errNoChallenge) {
		return ch.noPending
	}
	if v.outcome != nil {
		s.log.WarnContext(ctx, "address confirmation rejected", logUserID, c.user.ID,
			logChallengeID, v.challengeID, logChannel, ch.name)
		return v.outcome
	}
	s.log.InfoContext(ctx, "address confirmed", logUserID, c.user.ID, logChannel, ch.name,
		"replaced", v.replaced != "")
	if v.replaced != "" {
		s.notifyChanged(ctx, c.user.ID, ch, v.replaced, v.confirmed)
	}
	return nil
}

// runConfirm returns the transaction of a confirmation: it finds the caller's pending
// address and checks the code against that address's challenge.
func (v *verification) runConfirm(ch *channel) func(*store.Tx) error {
	return func(tx *store.Tx) error {
		v.outcome = nil
		u, err := tx.User(v.caller.user.ID)
		if err != nil {
			return v.answer(notFoundAs(err, errBadToken))
		}
		_, pending := ch.slots(u)
		if *pending == nil {
			return v.answer(errNoChallenge)
		}
		// Added while the user had no factor, and one was enrolled since: without
		// this, someone who knew only the password could finish adding their address.
		if !(*pending).StepUp && anyFactor(u) {
			if err := v.s.stepUpFor(v.caller, u); err != nil {
				return v.answer(err)
			}
		}
		v.challengeID = (*pending).ChallengeID
		return v.run(tx)
	}
}

// activate makes the pending address the verified one, remembering the one it
// replaces so that address can be told.
func (v *verification) activate() {
	ch, _ := v.s.channelFor(v.factor)
	verified, pending := ch.slots(v.user)
	p := *pending
	if *verified != nil && !ch.same((*verified).Address, p.Address) {
		v.replaced = (*verified).Address
	}
	*verified = &store.Contact{Address: p.Address, CreatedAt: p.CreatedAt, VerifiedAt: v.now}
	*pending = nil
	v.confirmed = p.Address
}

// addressCurrent reports whether the address a challenge's code went to is still the
// one it is for: the verified address for a step-up, the pending one for a
// confirmation. TOTP and recovery-code challenges have no address.
func (v *verification) addressCurrent(chal *store.Challenge) bool {
	ch, ok := v.s.channelFor(v.factor)
	if !ok {
		return true
	}
	verified, pending := ch.slots(v.user)
	if v.purpose == store.ChallengeConfirm {
		return *pending != nil && (*pending).ChallengeID == chal.ID
	}
	return *verified != nil && contact.Fingerprint(v.key, ch.name, (*verified).Address) == chal.Destination
}

// notifyChanged tells an address that it was replaced by newAddr, or removed when
// newAddr is empty. It is best effort: the change has happened, and a failure to tell
// is logged rather than undoing it.
func (s *Server) notifyChanged(ctx context.Context, userID string, ch *channel, old, newAddr string) {
	if ch.sender == nil {
		s.log.WarnContext(ctx, "address change not announced: delivery is off", logUserID, userID,
			logChannel, ch.name)
		return
	}
	hint := ""
	if newAddr != "" {
		hint = ch.mask(newAddr)
	}
	// The change is made; a caller that hangs up must not cancel the notice.
	sendCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.DeliveryTimeout)
	defer cancel()
	if err := ch.sender.SendAddressChanged(sendCtx, old, hint); err != nil {
		s.log.WarnContext(ctx, "address change notice not sent", logUserID, userID,
			logChannel, ch.name, logErr, err)
	}
}
