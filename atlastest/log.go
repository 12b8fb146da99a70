package atlastest

// Request is one request the server received, in the order answered.
type Request struct {
	Method  string
	Path    string // escaped path
	Query   string // raw query
	Auth    string // Authorization scheme sent: "digest", "bearer", "basic", "none" or "other"
	Status  int    // status sent; for a dropped request, the one it would have had; 0 if aborted
	Dropped bool   // DropNext closed the connection instead of answering
}

func (s *Server) record(r Request) {
	s.logMu.Lock()
	s.log = append(s.log, r)
	s.logMu.Unlock()
}

// Requests returns the requests received so far, token and revocation
// requests included. The log keeps every request until ResetRequests.
func (s *Server) Requests() []Request {
	s.logMu.Lock()
	defer s.logMu.Unlock()
	return append([]Request(nil), s.log...)
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
	for _, r := range s.log {
		if match(r) {
			n++
		}
	}
	return n
}
