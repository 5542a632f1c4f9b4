package redact_test

import (
	"bytes"
	"encoding/base64"
	"strings"
	"testing"

	"github.com/scenario-runner/runner/redact"
)

func TestSetMasksEveryForm(t *testing.T) {
	var s redact.Set
	s.Add(`p<a>"ss'&word`, "abc") // abc is below MinLen
	for _, tc := range []struct{ in, want string }{
		{`pw p<a>"ss'&word!`, "pw <redacted>!"},
		{`{"v":"p\u003ca\u003e\"ss'\u0026word"}`, `{"v":"<redacted>"}`},                           // encoding/json
		{`<td>p&lt;a&gt;&#34;ss&#39;&amp;word</td>`, `<td><redacted></td>`},                       // html/template
		{`<failure message="p&lt;a&gt;&#34;ss&#39;&amp;word">`, `<failure message="<redacted>">`}, // encoding/xml
		{"abc stays", "abc stays"},
	} {
		if got := s.String(tc.in); got != tc.want {
			t.Errorf("String(%s) = %s, want %s", tc.in, got, tc.want)
		}
	}
	var b bytes.Buffer
	w := s.Writer(&b)
	if n, err := w.Write([]byte(`x p<a>"ss'&word`)); err != nil || n != 15 {
		t.Errorf("Write = %d, %v", n, err)
	}
	if b.String() != "x <redacted>" {
		t.Errorf("Writer wrote %q", b.String())
	}
}

func TestLongestSecretFirst(t *testing.T) {
	var s redact.Set
	s.Add("secret", "secret-and-more")
	if got := s.String("a secret-and-more b"); got != "a <redacted> b" {
		t.Errorf("got %q", got)
	}
}

func TestObjectValues(t *testing.T) {
	enc := base64.StdEncoding.EncodeToString([]byte("plain-value"))
	for _, tc := range []struct {
		name string
		obj  map[string]any
		want []string
	}{
		{"secret", map[string]any{"apiVersion": "v1", "kind": "Secret", "data": map[string]any{"k": enc}, "stringData": map[string]any{"s": "string-data"}},
			[]string{enc, "plain-value", "string-data", base64.StdEncoding.EncodeToString([]byte("string-data"))}},
		{"configmap", map[string]any{"apiVersion": "v1", "kind": "ConfigMap", "data": map[string]any{"k": "visible"}}, nil},
		{"another Secret kind", map[string]any{"apiVersion": "example.com/v1", "kind": "Secret", "data": map[string]any{"k": "visible"}}, nil},
	} {
		got := strings.Join(redact.ObjectValues(tc.obj), ",")
		if want := strings.Join(tc.want, ","); got != want {
			t.Errorf("%s: got %s, want %s", tc.name, got, want)
		}
	}
	list := []any{map[string]any{"kind": "Secret", "apiVersion": "v1", "stringData": map[string]any{"a": "in-a-list"}}}
	if got := redact.Find(map[string]any{"objects": list}, 3); len(got) != 2 || got[0] != "in-a-list" {
		t.Errorf("Find = %v", got)
	}
}

func TestSecretName(t *testing.T) {
	for name, want := range map[string]bool{
		"password": true, "dbPassword": true, "API_TOKEN": true, "clientSecret": true, "apiKey": true,
		"replicas": false, "pw": false, "tokens_per_s": true,
	} {
		if got := redact.SecretName(name); got != want {
			t.Errorf("SecretName(%s) = %v", name, got)
		}
	}
}

// One process-wide set masked every plan's secrets in every plan's output
// (and kept them forever): each run has its own set now, forwarding to the
// set of the outputs it shares.
func TestRunSetsStayApartAndForward(t *testing.T) {
	shared := redact.New()
	a, b := redact.New(shared), redact.New(shared)
	a.Add("alpha-secret")
	b.Add("bravo-secret")
	const line = "alpha-secret bravo-secret"
	for _, tc := range []struct {
		name string
		set  *redact.Set
		want string
	}{
		{"a masks only its own", a, "<redacted> bravo-secret"},
		{"b masks only its own", b, "alpha-secret <redacted>"},
		{"the shared outputs mask both", shared, "<redacted> <redacted>"},
		{"nil masks nothing", nil, line},
	} {
		if got := tc.set.String(line); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
	}
	var none *redact.Set
	none.Add("ignored") // no panic
	var buf bytes.Buffer
	if w := none.Writer(&buf); w != &buf {
		t.Error("a nil set's Writer wraps")
	}
}
