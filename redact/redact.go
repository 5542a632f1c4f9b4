// Package redact keeps secret values out of everything runner prints or
// writes: messages, logs, the summary and the report files.
//
// A Set holds the secret strings known so far: the values of variables
// marked secret (--set-secret, or a name the naming rule matches, see
// SecretName) and the data and stringData values of every Secret object
// runner has rendered or read, both base64 and decoded. Set.Writer wraps an
// output so that each of them (and its JSON, HTML and XML escaped forms)
// comes out as Mask.
//
// There is no process-wide set: each run has its own (engine.RunOptions),
// carried by its values to the expressions and manifests it evaluates, so
// that two plans running side by side mask each their own secrets. A run's
// set may forward what it learns to a shared one (New(up)): the set of an
// invocation's terminal and report files, which every plan writes to.
//
// Redaction is a net, not a proof: a value shorter than MinLen is not
// redacted (it would mask ordinary words), and a secret a step transforms
// (reverses, slices) is not recognised.
package redact

import (
	"encoding/base64"
	"encoding/json"
	"encoding/xml"
	"html"
	"io"
	"regexp"
	"slices"
	"strings"
	"sync"
)

// Mask replaces every secret value.
const Mask = "<redacted>"

// MinLen is the shortest value redacted.
const MinLen = 4

// Set is a set of secret strings; its zero value is ready to use and it is
// safe for concurrent use. A nil *Set masks nothing and records nothing.
type Set struct {
	mu       sync.RWMutex
	known    map[string]bool
	replacer *strings.Replacer
	up       []*Set // also told every value added
}

// New returns an empty set whose values are also added to each of up (a
// run's set forwarding to the set of the outputs it shares with others).
func New(up ...*Set) *Set {
	return &Set{up: slices.DeleteFunc(slices.Clone(up), func(s *Set) bool { return s == nil })}
}

// Add records secret values (and their escaped forms), in s and the sets
// it forwards to.
func (s *Set) Add(values ...string) {
	if s == nil || len(values) == 0 {
		return
	}
	for _, u := range s.up {
		u.Add(values...)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	changed := false
	for _, v := range values {
		for _, form := range forms(v) {
			if len(form) < MinLen || s.known[form] {
				continue
			}
			if s.known == nil {
				s.known = map[string]bool{}
			}
			s.known[form] = true
			changed = true
		}
	}
	if changed {
		s.replacer = nil
	}
}

// forms are v as it may appear in output: raw, JSON string content, HTML
// and XML escaped.
func forms(v string) []string {
	out := []string{v}
	if j, err := json.Marshal(v); err == nil {
		out = append(out, string(j[1:len(j)-1]))
	}
	out = append(out, html.EscapeString(v)) // html/template writes the same
	var x strings.Builder
	if xml.EscapeText(&x, []byte(v)) == nil {
		out = append(out, x.String())
	}
	return slices.Compact(out)
}

func (s *Set) getReplacer() *strings.Replacer {
	if s == nil {
		return nil
	}
	s.mu.RLock()
	r := s.replacer
	n := len(s.known)
	s.mu.RUnlock()
	if r != nil || n == 0 {
		return r
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.replacer == nil {
		keys := make([]string, 0, len(s.known))
		for k := range s.known {
			keys = append(keys, k)
		}
		// Longest first, so that a secret containing another is masked whole.
		slices.SortFunc(keys, func(a, b string) int { return len(b) - len(a) })
		pairs := make([]string, 0, 2*len(keys))
		for _, k := range keys {
			pairs = append(pairs, k, Mask)
		}
		s.replacer = strings.NewReplacer(pairs...)
	}
	return s.replacer
}

// String returns in with every secret masked.
func (s *Set) String(in string) string {
	if r := s.getReplacer(); r != nil {
		return r.Replace(in)
	}
	return in
}

// Writer returns w filtered through s. Each Write is masked on its own: the
// writers runner uses write whole messages or lines at once. A nil s
// returns w.
func (s *Set) Writer(w io.Writer) io.Writer {
	if s == nil {
		return w
	}
	return &writer{set: s, w: w}
}

type writer struct {
	set *Set
	w   io.Writer
}

func (w *writer) Write(p []byte) (int, error) {
	r := w.set.getReplacer()
	if r == nil {
		return w.w.Write(p)
	}
	if _, err := io.WriteString(w.w, r.Replace(string(p))); err != nil {
		return 0, err
	}
	return len(p), nil
}

// Unwrap returns the writer underneath (terminal detection looks at it).
func (w *writer) Unwrap() io.Writer { return w.w }

var secretName = regexp.MustCompile(`(?i)(password|passwd|secret|token|apikey|api_key|credential)`)

// SecretName is the naming rule: a variable whose name contains password,
// passwd, secret, token, apikey, api_key or credential (any case) is secret.
func SecretName(name string) bool { return secretName.MatchString(name) }

// IsSecret reports whether obj is a core/v1 Secret.
func IsSecret(obj map[string]any) bool {
	kind, _ := obj["kind"].(string)
	api, _ := obj["apiVersion"].(string)
	return kind == "Secret" && (api == "v1" || api == "")
}

// SecretField reports whether path (from the object's root) reads a
// Secret's data or stringData.
func SecretField(obj map[string]any, path []string) bool {
	return IsSecret(obj) && len(path) > 0 && (path[0] == "data" || path[0] == "stringData")
}

// ObjectValues returns the secret strings of obj when it is a Secret: each
// data value and stringData value, base64 and decoded.
func ObjectValues(obj map[string]any) []string {
	if !IsSecret(obj) {
		return nil
	}
	var out []string
	if data, ok := obj["data"].(map[string]any); ok {
		for _, v := range data {
			s, ok := v.(string)
			if !ok {
				continue
			}
			out = append(out, s)
			if dec, err := base64.StdEncoding.DecodeString(s); err == nil {
				out = append(out, string(dec))
			}
		}
	}
	if sd, ok := obj["stringData"].(map[string]any); ok {
		for _, v := range sd {
			if s, ok := v.(string); ok {
				// The server returns it base64 in data.
				out = append(out, s, base64.StdEncoding.EncodeToString([]byte(s)))
			}
		}
	}
	return out
}

// Find returns the secret strings of the Secret objects in v, which may be
// an object, a list of objects or a map of names to either (expression
// values), looking at most depth levels down.
func Find(v any, depth int) []string {
	if depth < 0 {
		return nil
	}
	switch x := v.(type) {
	case map[string]any:
		if IsSecret(x) {
			return ObjectValues(x)
		}
		var out []string
		for _, e := range x {
			out = append(out, Find(e, depth-1)...)
		}
		return out
	case []any:
		var out []string
		for _, e := range x {
			out = append(out, Find(e, depth-1)...)
		}
		return out
	}
	return nil
}
