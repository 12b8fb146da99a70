package atlastest

import (
	"encoding/hex"
	"math/rand/v2"
)

// idGen draws ids from ChaCha8 with a fixed seed: the same options give
// the same ids on every run. New and AddKey (under Server.mu) use it.
type idGen struct{ r *rand.ChaCha8 }

func newIDGen() *idGen {
	var seed [32]byte
	copy(seed[:], "\x01\x00\x00\x00\x00\x00\x00\x00atlastest id generator")
	return &idGen{r: rand.NewChaCha8(seed)}
}

// next returns a 24-hex-digit id for which taken reports false.
func (g *idGen) next(taken func(string) bool) string {
	for {
		if v := g.block(1)[0]; !taken(v) {
			return v
		}
	}
}

// block returns n ids cut from one string, to be checked with taken by the
// caller: a million seeded keys are then one object for the garbage
// collector to mark, not a million, which keeps a delete at 10^6 keys as
// cheap as at 10^3 (BenchmarkDelete).
func (g *idGen) block(n int) []string {
	var b [12]byte
	raw := make([]byte, 0, 2*len(b)*n)
	for range n {
		_, _ = g.r.Read(b[:])
		raw = hex.AppendEncode(raw, b[:])
	}
	all, ids := string(raw), make([]string, n)
	for i := range ids {
		ids[i] = all[2*len(b)*i : 2*len(b)*(i+1)]
	}
	return ids
}

// letters returns n lowercase letters, the shape of an Atlas public key.
func (g *idGen) letters(n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = 'a' + byte(g.r.Uint64()%26)
	}
	return string(b)
}
