package eval

import "github.com/scenario-runner/runner/redact"

// redactName holds, among a run's values, the run's redaction set: no
// expression can name it.
const redactName = "$redact"

// WithRedact returns v carrying the run's redaction set s: the secret
// values that errors and messages of this run mask, and to which the
// Secrets it meets are added.
func (v Values) WithRedact(s *redact.Set) Values { return v.With(redactName, s) }

// Redact returns the redaction set v carries; nil (masks nothing) when
// none.
func (v Values) Redact() *redact.Set {
	s, _ := v[redactName].(*redact.Set)
	return s
}
