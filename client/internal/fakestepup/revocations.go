package fakestepup

import (
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	stepupv1 "github.com/stepup/stepup/gen/stepup/v1"
)

// EndedSession is a revocation message that ends session sid.
func EndedSession(sid string, relevantUntil time.Time) *stepupv1.WatchRevocationsResponse {
	return &stepupv1.WatchRevocationsResponse{EndedSessions: []*stepupv1.EndedSession{
		{SessionId: sid, RelevantUntil: ts(relevantUntil)},
	}}
}

// RevokedToken is a revocation message that revokes the token with jti.
func RevokedToken(jti string, relevantUntil time.Time) *stepupv1.WatchRevocationsResponse {
	return &stepupv1.WatchRevocationsResponse{RevokedTokens: []*stepupv1.RevokedToken{
		{TokenId: jti, RelevantUntil: ts(relevantUntil)},
	}}
}

// User is a revocation message with a user's state; a zero notBefore is left unset.
func User(id string, disabled bool, notBefore time.Time) *stepupv1.WatchRevocationsResponse {
	u := &stepupv1.UserRevocation{UserId: id, Disabled: disabled}
	if !notBefore.IsZero() {
		u.TokensNotBefore = ts(notBefore)
	}
	return &stepupv1.WatchRevocationsResponse{Users: []*stepupv1.UserRevocation{u}}
}

// Push sends m as an incremental message to every open revocation stream and adds it
// to the snapshot later streams start with.
func (s *Server) Push(m *stepupv1.WatchRevocationsResponse) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.snapshot.EndedSessions = append(s.snapshot.EndedSessions, clone(m).EndedSessions...)
	s.snapshot.RevokedTokens = append(s.snapshot.RevokedTokens, clone(m).RevokedTokens...)
	s.snapshot.Users = append(s.snapshot.Users, clone(m).Users...)
	for sub := range s.revSubs {
		sub <- clone(m)
	}
}

// SetSnapshot replaces what new revocation streams start with; open streams keep
// going until EndRevocationStreams.
func (s *Server) SetSnapshot(m *stepupv1.WatchRevocationsResponse) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.snapshot = clone(m)
	s.snapshot.Snapshot = true
}

// EndRevocationStreams ends every open revocation stream with Unavailable, so clients
// reconnect and get a fresh snapshot.
func (s *Server) EndRevocationStreams() {
	s.mu.Lock()
	defer s.mu.Unlock()
	close(s.revEnd)
	s.revEnd = make(chan struct{})
}

// SetRevocationsDown makes new revocation streams fail; true also ends the open ones.
func (s *Server) SetRevocationsDown(down bool) {
	s.mu.Lock()
	s.revDown = down
	s.mu.Unlock()
	if down {
		s.EndRevocationStreams()
	}
}

// RevocationStreams returns the number of open revocation streams.
func (s *Server) RevocationStreams() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.revSubs)
}

// WatchRevocations implements AuthService: the snapshot, then every Push.
func (s *Server) WatchRevocations(_ *stepupv1.WatchRevocationsRequest,
	stream grpc.ServerStreamingServer[stepupv1.WatchRevocationsResponse]) error {
	s.count("WatchRevocations")
	sub, snap, end, err := s.subscribe()
	if err != nil {
		return err
	}
	defer s.unsubscribe(sub)
	if err := stream.Send(snap); err != nil {
		return err
	}
	for {
		select {
		case m := <-sub:
			if err := stream.Send(m); err != nil {
				return err
			}
		case <-end:
			return status.Error(codes.Unavailable, "revocation stream ended")
		case <-stream.Context().Done():
			return stream.Context().Err()
		}
	}
}

// subscribe registers a stream and returns its queue, the snapshot to start with, and
// the channel that EndRevocationStreams closes.
func (s *Server) subscribe() (sub chan *stepupv1.WatchRevocationsResponse,
	snap *stepupv1.WatchRevocationsResponse, end chan struct{}, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.revDown {
		return nil, nil, nil, status.Error(codes.Unavailable, "revocations down")
	}
	sub = make(chan *stepupv1.WatchRevocationsResponse, revocationBuf)
	s.revSubs[sub] = struct{}{}
	return sub, clone(s.snapshot), s.revEnd, nil
}

func (s *Server) unsubscribe(sub chan *stepupv1.WatchRevocationsResponse) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.revSubs, sub)
}
