package atlastest

import (
	"maps"
	"slices"
)

// NcWindowProbe exposes the digest nc window to the external tests.
type NcWindowProbe struct {
	w       ncWindow
	History []uint32
}

func (p *NcWindowProbe) Use(nc uint32) string {
	switch fresh, stale := p.w.use(nc); {
	case fresh:
		return "fresh"
	case stale:
		return "too old"
	}
	return "replay"
}

// QueryFlags lists the query parameters the server implements.
func QueryFlags() []string { return slices.Sorted(maps.Keys(queryFlags)) }

// WithOrgs gives the server n organizations, each seeded like the default
// one, for tests of what crosses organizations.
func WithOrgs(n int) Option { return func(c *config) { c.orgs = n } }

// OtherOrg is an organization besides the default one (WithOrgs): its id,
// owner and member.
func (s *Server) OtherOrg() (id string, owner, member Principal) {
	for _, o := range s.orgs {
		if o != s.def {
			return o.id, o.owner, o.member
		}
	}
	panic("no other organization: use WithOrgs")
}

// OrgProjects lists an organization's projects, sorted.
func (s *Server) OrgProjects(orgID string) []string {
	if o := s.orgs[orgID]; o != nil {
		return slices.Clone(o.projects[:])
	}
	return nil
}

// ProjectKeys lists the keys assigned to a project, sorted.
func (s *Server) ProjectKeys(projectID string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, o := range s.orgs {
		if i := slices.Index(o.projects[:], projectID); i >= 0 {
			var keys []string
			for k, in := range o.keys {
				if in&(1<<i) != 0 {
					keys = append(keys, k)
				}
			}
			slices.Sort(keys)
			return keys
		}
	}
	return nil
}
