package authedit

import (
	"slices"
	"testing"
)

func TestSplitChallenges(t *testing.T) {
	cases := []struct {
		in   []string
		want []string
	}{
		{[]string{`Digest realm="r", nonce="n", algorithm=MD5, qop="auth"`}, []string{`Digest realm="r", nonce="n", algorithm=MD5, qop="auth"`}},
		{[]string{`Digest realm="r", qop="auth", algorithm=SHA-256, Digest realm="r", algorithm=MD5, Bearer realm="r"`},
			[]string{`Digest realm="r", qop="auth", algorithm=SHA-256`, `Digest realm="r", algorithm=MD5`, `Bearer realm="r"`}},
		{[]string{`Digest realm="a, Bearer b", nonce="x"`}, []string{`Digest realm="a, Bearer b", nonce="x"`}},
		{[]string{`Digest realm="a \" , Basic x", nonce="x"`, `Bearer`}, []string{`Digest realm="a \" , Basic x", nonce="x"`, `Bearer`}},
		{[]string{`Basic realm="x", Bearer`}, []string{`Basic realm="x", Bearer`}}, // a bare trailing token is not a challenge with params
	}
	for _, c := range cases {
		if got := splitChallenges(c.in); !slices.Equal(got, c.want) {
			t.Errorf("splitChallenges(%q)\n got %q\nwant %q", c.in, got, c.want)
		}
	}
}
