package atlastest

// Request is one request the server received, in the order answered.
type Request struct {
	Method  string
	Path    string // escaped path, cut to maxLogged bytes
	Query   string // raw query, cut to maxLogged bytes
	Auth    string // Authorization scheme sent: "digest", "bearer", "basic", "none" or "other"
	Status  int    // status sent; for a dropped request, the one it would have had; 0 if aborted
	Dropped bool   // DropNext closed the connection instead of answering
	// AuthError says why a 401 was sent, which Atlas's answer does not:
	// e.g. "Digest authentication failed: uri does not match the request."
	AuthError string
}

// maxLogged bounds what the log keeps of a path or query, so that a hostile
// request line cannot make each entry large.
const maxLogged = 256

func clip(s string) string {
	if len(s) > maxLogged {
		return s[:maxLogged] + "…"
	}
	return s
}

func (s *Server) record(r Request) {
	s.logMu.Lock()
	s.log = append(s.log, r)
	if n := s.cfg.logLimit; n > 0 && len(s.log) >= 2*n {
		// Trim in bulk, so that keeping the last n costs O(1) amortized.
		s.log = append(s.log[:0], s.log[len(s.log)-n:]...)
	}
	s.logMu.Unlock()
}

// Requests returns the requests received so far, token and revocation
// requests included. The log keeps every request until ResetRequests, or
// the last n with WithLogLimit(n).
func (s *Server) Requests() []Request {
	s.logMu.Lock()
	defer s.logMu.Unlock()
	return append([]Request(nil), s.window()...)
}

// window is the part of the log within WithLogLimit; callers hold logMu.
func (s *Server) window() []Request {
	if n := s.cfg.logLimit; n > 0 && len(s.log) > n {
		return s.log[len(s.log)-n:]
	}
	return s.log
}

// ResetRequests forgets the requests received so far.
func (s *Server) ResetRequests() {
	s.logMu.Lock()
	s.log = nil
	s.logMu.Unlock()
}

// CountRequests counts the requests received so far for which match is true.
func (s *Server) CountRequests(match func(Request) bool) int {
	s.logMu.Lock()
	defer s.logMu.Unlock()
	n := 0
	for _, r := range s.window() {
		if match(r) {
			n++
		}
	}
	return n
}
