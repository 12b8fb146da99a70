package atlastest

// Request is one request the server received, in the order answered.
type Request struct {
	Method  string
	Path    string // escaped path, cut to 256 bytes
	Query   string // raw query, cut to 256 bytes
	Auth    string // Authorization scheme: "digest", "bearer", "basic", "none" or "other"
	Status  int    // status sent; for a dropped request the one it would have had; 0 if aborted
	Dropped bool   // DropNext closed the connection instead of answering
	// AuthError says why a 401 was sent, which Atlas's answer does not:
	// e.g. "Digest authentication failed: uri does not match the request."
	AuthError string
}

// clip bounds what the log keeps of a path or query, so that a hostile
// request line cannot make each entry large.
func clip(s string) string {
	if len(s) > 256 {
		return s[:256] + "…"
	}
	return s
}

func (s *Server) record(r Request) {
	s.logMu.Lock()
	defer s.logMu.Unlock()
	s.log = append(s.log, r)
	if n := s.cfg.logLimit; n > 0 && len(s.log) > n {
		s.log = s.log[len(s.log)-n:] // append reallocates, copying only these
	}
}

// Requests returns the requests received so far, token and revocation
// requests included: all of them since New or ResetRequests, or the last n
// WithLogLimit(n).
func (s *Server) Requests() []Request {
	s.logMu.Lock()
	defer s.logMu.Unlock()
	return append([]Request(nil), s.log...)
}

// ResetRequests forgets the requests received so far.
func (s *Server) ResetRequests() {
	s.logMu.Lock()
	defer s.logMu.Unlock()
	s.log = nil
}

// CountRequests counts the requests received so far for which match is true.
func (s *Server) CountRequests(match func(Request) bool) int {
	n := 0
	for _, r := range s.Requests() {
		if match(r) {
			n++
		}
	}
	return n
}
