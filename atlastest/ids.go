package atlastest

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"math/rand/v2"
	"slices"
)

// id is a 24-hex-digit Atlas id kept as its 12 bytes: a third of a string's
// footprint and no pointer for the garbage collector to chase.
type id [12]byte

func (i id) String() string { return hex.EncodeToString(i[:]) }

// parseID accepts exactly the spec's ^([a-f0-9]{24})$ (hex.Decode alone
// would also take upper case).
func parseID(s string) (id, bool) {
	var out id
	if len(s) != 2*len(out) {
		return out, false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return out, false
		}
	}
	_, err := hex.Decode(out[:], []byte(s))
	return out, err == nil
}

func sortedStrings(ids []id) []string {
	slices.SortFunc(ids, func(a, b id) int { return bytes.Compare(a[:], b[:]) })
	out := make([]string, len(ids))
	for i, v := range ids {
		out[i] = v.String()
	}
	return out
}

// idGen draws ids from ChaCha8 seeded by WithSeed: the same options give the
// same ids on every run. New and AddKey (under Server.mu) use it.
type idGen struct{ r *rand.ChaCha8 }

func newIDGen(seed uint64) *idGen {
	var s [32]byte
	binary.LittleEndian.PutUint64(s[:], seed)
	copy(s[8:], "atlastest id generator")
	return &idGen{r: rand.NewChaCha8(s)}
}

// next returns an id for which taken reports false.
func (g *idGen) next(taken func(id) bool) id {
	for {
		var v id
		_, _ = g.r.Read(v[:]) // ChaCha8.Read never fails
		if !taken(v) {
			return v
		}
	}
}

// letters returns n lowercase letters, the shape of an Atlas public key.
func (g *idGen) letters(n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = 'a' + byte(g.r.Uint64()%26)
	}
	return string(b)
}
