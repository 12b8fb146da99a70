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
	return [...]string{ncFresh: "fresh", ncReplay: "replay", ncTooOld: "too old"}[p.w.use(nc)]
}

// QueryFlags lists the query parameters the server implements.
func QueryFlags() []string { return slices.Sorted(maps.Keys(queryFlags)) }
