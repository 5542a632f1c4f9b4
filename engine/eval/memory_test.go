package eval_test

import (
	"encoding/base64"
	"math"
	"strings"
	"testing"

	"github.com/scenario-runner/runner/engine/eval"
)

// Expressions that ask for gigabytes end as errors, having allocated little.
func TestMemoryBombsFailCleanly(t *testing.T) {
	scope := eval.NewScope(map[string]any{"s": "x", "obj": nil})
	vals := eval.Values{"s": "x", "obj": map[string]any{"v": "abcd"}}
	for _, src := range []string{
		`replace(repeat("a", 100000), "a", repeat("b", 100000))`,                                    // 10 GB
		`replace(repeat("a", 100000), "", repeat("b", 100000))`,                                     // empty old: every rune
		`join(map(1..100000, "x"), repeat("y", 100000))`,                                            // 10 GB of glue
		`let a = 1..900000; concat(a, a, a, a, a, a, a, a, a, a, a, a, a)`,                          // 190 MB of elements
		`let a = repeat(s, 900000); let b = a + a; let c = b + b; c + c + c`,                        // doubling
		`let a = repeat(obj.v, 200000); let b = a + a; let c = b + b; let d = c + c; d + d + d + d`, // unknown type
		`len(1..2000000)`, // expr's own budget
	} {
		p, err := eval.Compile(src, span(src), 0, scope, eval.Any)
		if err != nil {
			t.Errorf("%s: compile: %v", src, err)
			continue
		}
		if _, err := p.Run(vals); err == nil || !strings.Contains(err.Error(), "memory") {
			t.Errorf("%s: got %v, want a memory limit error", src, err)
		}
	}
}

// Metered rewrites keep what the builtins mean.
func TestMeteredFunctionsKeepTheirMeaning(t *testing.T) {
	scope := eval.NewScope(map[string]any{"name": "web", "out": nil, "list": []any{"a", "b"}})
	vals := eval.Values{"name": "web", "out": "-1", "list": []any{"a", "b"}}
	for _, tc := range []struct{ src, want string }{
		{`replace(name, "w", "W")`, "Web"},
		{`replace("aaa", "a", "b", 2)`, "bba"},
		{`join(["a", "b"], ",")`, "a,b"},
		{`join(list)`, "ab"},
		{`name + "-" + out`, "web--1"},
		{`string(concat([1], [2, 3]))`, "[1 2 3]"},
		{`string(flatten([[1], [2, [3]]]))`, "[1 2 3]"},
		{`string(out + "x")`, "-1x"},
	} {
		p, err := eval.Compile(tc.src, span(tc.src), 0, scope, eval.String)
		if err != nil {
			t.Errorf("%s: compile: %v", tc.src, err)
			continue
		}
		got, err := p.Run(vals)
		if err != nil || got != tc.want {
			t.Errorf("%s = %v, %v; want %q", tc.src, got, err, tc.want)
		}
	}
	p, err := eval.Compile(`replace(name, "w", "W") + out`, span(""), 0, scope, eval.String)
	if err != nil {
		t.Fatal(err)
	}
	if ids := strings.Join(p.Identifiers(), ","); ids != "name,out" {
		t.Errorf("Identifiers = %s, want name,out", ids)
	}
}

// A step's meter bounds the runs of many expressions together.
func TestStepMeterBoundsManyRuns(t *testing.T) {
	scope := eval.NewScope(map[string]any{"i": 0})
	p, err := eval.Compile(`repeat("x", 900000) + "y"`, span(""), 0, scope, eval.String)
	if err != nil {
		t.Fatal(err)
	}
	vals := eval.Values{"i": 0}.WithMeter(eval.NewMeter(4 << 20))
	var runs int
	for runs = 0; runs < 100; runs++ {
		if _, err := p.Run(vals); err != nil {
			break
		}
	}
	if runs != 4 {
		t.Errorf("%d runs before the 4 MiB meter stopped them, want 4", runs)
	}
}

func TestToIntIsStrict(t *testing.T) {
	for _, tc := range []struct {
		in   any
		want int
		ok   bool
	}{
		{"5", 5, true}, {" 12 ", 12, true}, {"-3", -3, true}, {int64(7), 7, true}, {uint8(9), 9, true},
		{3.0, 3, true}, {float32(2), 2, true},
		{"5x", 0, false}, {"1e400", 0, false}, {"1e3", 0, false}, {"0x10", 0, false}, {"", 0, false},
		{1.5, 0, false}, {math.Inf(1), 0, false}, {math.NaN(), 0, false}, {1e19, 0, false},
		{uint64(math.MaxUint64), 0, false}, {nil, 0, false}, {true, 0, false},
	} {
		got, err := eval.ToInt(tc.in)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("ToInt(%#v) = %d, %v; want %d, ok=%v", tc.in, got, err, tc.want, tc.ok)
		}
	}
}

// An error about a value read from a Secret shows <redacted>, not the value.
func TestErrorsDoNotQuoteSecrets(t *testing.T) {
	const plain = "Hunter2-correct-horse"
	secret := map[string]any{"apiVersion": "v1", "kind": "Secret", "data": map[string]any{"password": base64.StdEncoding.EncodeToString([]byte(plain))}}
	scope := eval.NewScope(map[string]any{"object": nil})
	for _, src := range []string{`int(fromBase64(object.data.password))`, `object.data.password`} {
		p, err := eval.Compile(src, span(src), 0, scope, eval.Int)
		if err != nil {
			t.Fatal(err)
		}
		_, err = p.Run(eval.Values{"object": secret})
		if err == nil {
			t.Fatalf("%s: no error", src)
		}
		if msg := err.Error(); strings.Contains(msg, plain) || strings.Contains(msg, secret["data"].(map[string]any)["password"].(string)) || !strings.Contains(msg, "<redacted>") {
			t.Errorf("%s: %s", src, msg)
		}
	}
}
