package decode_test

import (
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/scenario-runner/runner/engine/decode"
)

func TestExpanded(t *testing.T) {
	laughs := func(levels int) string {
		var b strings.Builder
		b.WriteString("l0: &l0 [x, x, x, x, x, x, x, x, x, x]\n")
		for i := 1; i <= levels; i++ {
			refs := strings.Repeat("*l"+string(rune('0'+i-1))+", ", 10)
			b.WriteString("l" + string(rune('0'+i)) + ": &l" + string(rune('0'+i)) + " [" + strings.TrimSuffix(refs, ", ") + "]\n")
		}
		return b.String()
	}
	for _, tc := range []struct {
		name, src string
		limit     int
		want      int
	}{
		{"scalar", "x", 10, 2}, // document + scalar
		{"mapping", "{a: 1, b: 2}", 10, 6},
		// document, mapping, 3 keys, then the list of 3 nodes three times
		{"alias counted each use", "a: &a [1, 2]\nb: *a\nc: *a", 100, 1 + 1 + 3 + 3*3},
		// document, mapping, 2 keys, {x: 1}, then b: mapping, <<, {x: 1} again, y, 2
		{"merge key", "a: &a {x: 1}\nb: {<<: *a, y: 2}", 100, 1 + 1 + 2 + 3 + (1 + 1 + 3 + 2)},
		{"billion laughs stops at the limit", laughs(8), 1_000_000, 1_000_001},
		// document, mapping, 3 keys; l0 = 11 nodes, l1 = 1+10*11, l2 = 1+10*111
		{"small laughs fit", laughs(2), 1_000_000, 1 + 1 + 3 + 11 + 111 + 1111},
	} {
		var n yaml.Node
		if err := yaml.Unmarshal([]byte(tc.src), &n); err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if got := decode.Expanded(&n, tc.limit); got != tc.want {
			t.Errorf("%s: Expanded = %d, want %d", tc.name, got, tc.want)
		}
	}
}

func TestClip(t *testing.T) {
	if got := decode.Clip("short"); got != "short" {
		t.Errorf("Clip(short) = %q", got)
	}
	long := strings.Repeat("é", 200)
	if got := decode.Clip(long); got != strings.Repeat("é", decode.MaxQuote)+"... (140 more characters)" {
		t.Errorf("Clip(long) = %q", got)
	}
}
