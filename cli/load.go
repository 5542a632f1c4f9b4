package cli

import (
	"errors"
	"fmt"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"sync"

	"github.com/spf13/pflag"
	"gopkg.in/yaml.v3"

	"github.com/scenario-runner/runner/engine"
	"github.com/scenario-runner/runner/engine/diag"
	"github.com/scenario-runner/runner/engine/files"
	"github.com/scenario-runner/runner/redact"
	"github.com/scenario-runner/runner/steps"
)

// inputs are the flags that feed values and files into plans.
type inputs struct {
	valuesFiles []string
	sets        []string
	optional    []string
	secretSets  []string
	root        string
	// secrets is the invocation's redaction set (Streams.Secrets): every
	// plan's secret values are added to it as the plans load, since they
	// all print on the same streams.
	secrets *redact.Set
}

func (in *inputs) addFlags(f *pflag.FlagSet) {
	f.StringArrayVar(&in.sets, "set", nil, "override a variable: name=value (typed by YAML rules; repeatable)")
	f.StringArrayVar(&in.optional, "set-optional", nil, "like --set, but only for the plans that declare the variable (with several plans)")
	f.StringArrayVar(&in.secretSets, "set-secret", nil, "override a variable with a secret value: name=value; the value is shown as <redacted> everywhere (repeatable)")
	f.StringArrayVar(&in.valuesFiles, "values", nil, "YAML file of variable overrides, inside the plan's folder or --root (repeatable; --set wins)")
	f.StringVar(&in.root, "root", "", "folder that file: and --values paths must resolve into (default: each plan's folder)")
}

// number is what a YAML scalar that means a number looks like; one that
// YAML still read as a string is out of range (1e400).
var number = regexp.MustCompile(`^[-+]?(\.[0-9]+|[0-9][0-9_]*(\.[0-9_]*)?)([eE][-+]?[0-9]+)?$`)

// overrides reads --values files (which must lie inside root), then --set
// and --set-secret pairs, in that order.
func (in *inputs) overrides(root string) ([]engine.Override, error) {
	var out []engine.Override
	r, err := files.NewRoot(root)
	if err != nil {
		return nil, fmt.Errorf("%w: root %s: %v", ErrUsage, root, err)
	}
	for _, f := range in.valuesFiles {
		data, err := r.Read("", f)
		if err != nil {
			return nil, fmt.Errorf("%w: --values %s: %v", ErrUsage, f, err)
		}
		var doc yaml.Node
		if err := yaml.Unmarshal(data, &doc); err != nil {
			return nil, fmt.Errorf("%w: --values %s: invalid YAML: %v", ErrUsage, f, err)
		}
		if len(doc.Content) == 0 {
			continue
		}
		m := doc.Content[0]
		if m.Kind != yaml.MappingNode {
			return nil, fmt.Errorf("%w: --values %s: expected a mapping of variable names to values", ErrUsage, f)
		}
		for i := 0; i+1 < len(m.Content); i += 2 {
			var v any
			if err := m.Content[i+1].Decode(&v); err != nil {
				return nil, fmt.Errorf("%w: %s:%d: %v", ErrUsage, f, m.Content[i+1].Line, err)
			}
			out = append(out, engine.Override{Name: m.Content[i].Value, Value: v, Origin: fmt.Sprintf("%s:%d:%d", f, m.Content[i].Line, m.Content[i].Column)})
		}
	}
	for _, s := range in.sets {
		o, err := parseSet("--set", s)
		if err != nil {
			return nil, err
		}
		out = append(out, o)
	}
	for _, s := range in.optional {
		o, err := parseSet("--set-optional", s)
		if err != nil {
			return nil, err
		}
		o.Optional = true
		out = append(out, o)
	}
	for _, s := range in.secretSets {
		o, err := parseSet("--set-secret", s)
		if err != nil {
			return nil, err
		}
		o.Origin = "--set-secret " + o.Name
		out = append(out, o)
	}
	return out, nil
}

// parseSet reads name=value, typing value by YAML rules; a number out of
// range is an error, not a string that later reads as its first digits.
func parseSet(flag, s string) (engine.Override, error) {
	k, v, ok := strings.Cut(s, "=")
	if !ok || k == "" {
		if flag == "--set-secret" {
			s = redact.Mask
		}
		return engine.Override{}, fmt.Errorf("%w: %s %q: expected name=value", ErrUsage, flag, s)
	}
	var val any
	if err := yaml.Unmarshal([]byte(v), &val); err != nil {
		val = v // not YAML: take it as a string
	}
	if flag == "--set-secret" && len(v) < redact.MinLen {
		return engine.Override{}, fmt.Errorf("%w: --set-secret %s: a secret shorter than %d characters cannot be told apart from other text, so it could not be redacted", ErrUsage, k, redact.MinLen)
	}
	if str, isString := val.(string); isString && number.MatchString(strings.TrimSpace(str)) {
		return engine.Override{}, fmt.Errorf("%w: %s %s: %s is out of the range of a 64-bit number", ErrUsage, flag, k, str)
	}
	return engine.Override{Name: k, Value: val, Origin: flag + " " + s}, nil
}

// secretValues records the --set-secret values before anything can print
// them, even an error about the flag.
func (in *inputs) secretValues() {
	for _, s := range in.secretSets {
		if _, v, ok := strings.Cut(s, "="); ok {
			in.secrets.Add(v)
		}
	}
}

// loadPlans loads and validates every file, collecting all problems, so
// that nothing runs unless every plan is valid. The values of secret
// variables are added to in.secrets. Files load on every core (a
// suite of a thousand plans); the plans and problems keep the files' order.
func loadPlans(planFiles []string, in inputs) ([]*engine.Plan, error) {
	in.secretValues()
	reg := steps.Kinds()
	schema, err := compiledSchema(reg) // once: compiling it costs more than checking a plan
	if err != nil {
		return nil, fmt.Errorf("compiling the plan schema: %w", err)
	}
	type loaded struct {
		plan  *engine.Plan
		err   error
		fatal error // a usage error (--values): stops everything
	}
	out := make([]loaded, len(planFiles))
	next := make(chan int)
	var wg sync.WaitGroup
	for range min(runtime.GOMAXPROCS(0), len(planFiles)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				f := planFiles[i]
				root := in.root
				if root == "" {
					root = filepath.Dir(f)
				}
				ov, err := in.overrides(root)
				if err != nil {
					out[i].fatal = err
					continue
				}
				p, err := engine.Load(f, engine.LoadOptions{Registry: reg, Overrides: ov, Root: in.root})
				if err == nil {
					err = checkSchema(f, schema)
				}
				out[i].plan, out[i].err = p, err
			}
		}()
	}
	for i := range planFiles {
		next <- i
	}
	close(next)
	wg.Wait()
	var plans []*engine.Plan
	var errs []error
	for _, l := range out {
		switch {
		case l.fatal != nil:
			return nil, l.fatal
		case l.err != nil:
			errs = append(errs, l.err)
		default:
			in.addSecrets(l.plan)
			plans = append(plans, l.plan)
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return plans, nil
}

// addSecrets records in the invocation's set the values of p's secret
// variables.
func (in *inputs) addSecrets(p *engine.Plan) { in.secrets.Add(in.planSecrets(p)...) }

// planSecrets are the values of p's secret variables: those given with
// --set-secret and those the naming rule matches. A run of p masks them
// (engine.RunOptions.Redact).
func (in *inputs) planSecrets(p *engine.Plan) []string {
	var secret []string
	for _, s := range in.secretSets {
		k, _, _ := strings.Cut(s, "=")
		secret = append(secret, k)
	}
	var out []string
	for _, name := range p.VarNames {
		if redact.SecretName(name) || slices.Contains(secret, name) {
			out = append(out, printed(p.Vars[name])...)
		}
	}
	return out
}

// printed are the strings a value prints as: itself, or each of its parts.
func printed(v any) []string {
	switch x := v.(type) {
	case nil:
		return nil
	case map[string]any:
		var out []string
		for _, e := range x {
			out = append(out, printed(e)...)
		}
		return out
	case []any:
		var out []string
		for _, e := range x {
			out = append(out, printed(e)...)
		}
		return out
	}
	return []string{fmt.Sprint(v)}
}

// renderInvalid prints every problem of every invalid plan with its line and
// a caret, followed by a count.
func renderInvalid(w interface{ Write([]byte) (int, error) }, err error) {
	n := 0
	var walk func(error)
	walk = func(e error) {
		var inv *engine.InvalidError
		if errors.As(e, &inv) && errors.Is(e, engine.ErrInvalid) {
			if j, ok := e.(interface{ Unwrap() []error }); ok && !isInvalid(e) {
				for _, x := range j.Unwrap() {
					walk(x)
				}
				return
			}
			fmt.Fprint(w, inv.Render())
			n += diag.Count(inv.Errs)
			return
		}
		if j, ok := e.(interface{ Unwrap() []error }); ok {
			for _, x := range j.Unwrap() {
				walk(x)
			}
			return
		}
		fmt.Fprintln(w, e)
		n++
	}
	if errors.Is(err, ErrUsage) {
		return // reportError prints it, once
	}
	walk(err)
	if n > 1 {
		fmt.Fprintf(w, "%d problems\n", n)
	}
}

func isInvalid(e error) bool {
	_, ok := e.(*engine.InvalidError)
	return ok
}
