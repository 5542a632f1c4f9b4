package engine

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/scenario-runner/runner/engine/decode"
	"github.com/scenario-runner/runner/engine/diag"
	"github.com/scenario-runner/runner/engine/eval"
	"github.com/scenario-runner/runner/engine/files"
	"github.com/scenario-runner/runner/engine/manifest"
	"github.com/scenario-runner/runner/result"
)

// Override replaces the default of one variable. Origin says where it came
// from (a values file position or "--set name=value") for error messages.
type Override struct {
	Name   string
	Value  any
	Origin string
	// Optional overrides apply only to plans that declare the name
	// (--set-optional); others make a plan without it invalid.
	Optional bool
}

// LoadOptions configures Load.
type LoadOptions struct {
	Registry  *Registry
	Overrides []Override // applied in order: later wins
	// Root is the folder that file: paths must resolve into (default: the
	// plan file's folder). See engine/files.
	Root string
}

// Limits of a plan file: its size, and its YAML nodes with every alias and
// merge key expanded, as the decoder sees them.
const (
	MaxPlanBytes = 1 << 20
	MaxPlanNodes = 200_000
)

// ErrInvalid marks errors about the plan itself (exit code 2).
var ErrInvalid = errors.New("invalid plan")

// InvalidError holds every problem found in one plan.
type InvalidError struct {
	File string
	Errs error // a multierror of *diag.Error and plain errors
}

func (e *InvalidError) Error() string {
	return fmt.Sprintf("%s: %d problem(s):\n%s", e.File, diag.Count(e.Errs), e.Errs)
}

func (e *InvalidError) Unwrap() []error { return []error{ErrInvalid, e.Errs} }

// Render prints every problem with its source line and a caret.
func (e *InvalidError) Render() string { return diag.RenderAll(e.Errs) }

var planName = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]*[a-z0-9])?$`)

// Load reads, decodes, validates and compiles the plan in file. Every problem
// is reported, each at its line and column, in one *InvalidError.
func Load(file string, opts LoadOptions) (*Plan, error) {
	data, err := files.ReadFile(file)
	if err == nil && len(data) > MaxPlanBytes {
		err = fmt.Errorf("%w: the plan is %d bytes, above the limit of %d (put manifests in files)", files.ErrRefused, len(data), MaxPlanBytes)
	}
	if err != nil {
		return nil, &InvalidError{File: file, Errs: fmt.Errorf("%s: %w", file, err)}
	}
	return LoadBytes(file, data, opts)
}

// LoadBytes is Load with the file's content given.
func LoadBytes(file string, data []byte, opts LoadOptions) (*Plan, error) {
	src := diag.NewSource(file, data)
	var errs diag.List
	fail := func() (*Plan, error) { return nil, &InvalidError{File: file, Errs: errs.Err()} }

	var root yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&root); err != nil {
		errs.Add(yamlError(src, data, err))
		return fail()
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		errs.Add(diag.NodeError(src, &extra, "a plan is one YAML document; found a second one (remove the ---)"))
	}
	if decode.Expanded(&root, MaxPlanNodes) > MaxPlanNodes {
		errs.Add(diag.NodeError(src, resolveDoc(&root), "the plan expands to more than %d YAML nodes (aliases and merge keys counted each time they are used)", MaxPlanNodes))
		return fail()
	}

	d := &decode.Decoder{Loc: src, Errs: &errs}
	var spec PlanSpec
	body := resolveDoc(&root)
	beside := takeBeside(body, opts.Registry)
	d.Decode(&root, &spec)
	if body == nil || body.Kind != yaml.MappingNode {
		return fail()
	}

	p := &Plan{
		File: file, Dir: filepath.Dir(file), Name: spec.Name, Description: spec.Description,
		Timeout: spec.Timeout.Duration, Cleanup: result.CleanupPolicy(spec.Cleanup),
		Defaults: Defaults{Timeout: spec.Defaults.Timeout.Duration, Namespace: spec.Defaults.Namespace},
	}
	if p.Cleanup == "" {
		p.Cleanup = result.CleanupAlways
	}
	if p.Defaults.Timeout == 0 {
		p.Defaults.Timeout = 5 * time.Minute
	}
	if p.Defaults.Namespace == "" {
		p.Defaults.Namespace = "default"
	}
	if spec.Name != "" && !planName.MatchString(spec.Name) {
		errs.Add(diag.NodeError(src, valueOf(body, "name"), "name must be lower-case letters, digits and dashes ([a-z0-9-]+), got %q", spec.Name))
	}

	if opts.Registry == nil {
		errs.Add(errors.New("engine: no step registry given"))
		return fail()
	}
	reserved := append(opts.Registry.Bound(), RunIDVar)
	var defaults eval.Values
	var pinned map[string]bool
	p.Vars, p.VarNames, defaults, pinned = loadVars(d, spec.Vars.Node, opts.Overrides, reserved, &errs)
	suiteKeys(d, &spec, body, p, defaults, pinned)

	// Without --root, a missing plan folder is reported by the file: that
	// needs it (Builder.Root stays nil).
	var fsRoot *files.Root
	if opts.Root != "" {
		r, err := files.NewRoot(opts.Root)
		if err != nil {
			errs.Add(fmt.Errorf("--root: %w", err))
			return fail()
		}
		fsRoot = r
	} else if r, err := files.NewRoot(p.Dir); err == nil {
		fsRoot = r
	}
	b := &Builder{
		Dir: p.Dir, Root: fsRoot, Manifests: manifest.NewBudget(), Defaults: p.Defaults, registry: opts.Registry, dec: d,
		scope: eval.NewScope(p.Vars).With(RunIDVar, ""),
	}
	if stepsNode := valueOf(body, "steps"); stepsNode != nil && stepsNode.Kind == yaml.SequenceNode && len(stepsNode.Content) == 0 {
		errs.Add(diag.NodeError(src, stepsNode, "a plan needs at least one step"))
	}
	p.Steps = b.Steps(spec.Steps)
	p.Finally = b.Steps(spec.Finally)
	p.Collect = spec.Collect
	for _, kv := range beside {
		kind, _ := opts.Registry.Lookup(kv[0].Value)
		if s := b.buildBeside(kind, kv[0], kv[1], src); s != nil {
			p.Beside = append(p.Beside, s)
		}
	}
	p.Local = b.local
	if fsRoot != nil {
		p.Files = fsRoot.Reads()
	}
	p.All = b.all
	p.Outputs = slices.Sorted(maps.Keys(b.outputs))
	if errs.Len() > 0 {
		return fail()
	}
	return p, nil
}

// takeBeside removes the plan-level keys of Beside kinds (a measure) from
// the plan's mapping, for the PlanSpec decoder, and returns them as key and
// value pairs in order.
func takeBeside(body *yaml.Node, reg *Registry) [][2]*yaml.Node {
	if body == nil || body.Kind != yaml.MappingNode || reg == nil {
		return nil
	}
	var out [][2]*yaml.Node
	kept := make([]*yaml.Node, 0, len(body.Content))
	for i := 0; i+1 < len(body.Content); i += 2 {
		k := body.Content[i]
		if kind, ok := reg.Lookup(k.Value); ok && kind.Beside {
			out = append(out, [2]*yaml.Node{k, body.Content[i+1]})
			continue
		}
		kept = append(kept, k, body.Content[i+1])
	}
	body.Content = kept
	return out
}

func resolveDoc(n *yaml.Node) *yaml.Node {
	if n.Kind == yaml.DocumentNode && len(n.Content) > 0 {
		return n.Content[0]
	}
	return n
}

// valueOf returns the value node of key in mapping m, or nil.
func valueOf(m *yaml.Node, key string) *yaml.Node {
	if m == nil || m.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i+1]
		}
	}
	return nil
}

var yamlLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// yamlError turns a yaml.v3 syntax error into a positioned one.
func yamlError(src *diag.Source, data []byte, err error) error {
	msg := err.Error()
	m := yamlLine.FindStringSubmatch(msg)
	if line, col, why, ok := diag.SyntaxAt(data); ok {
		// The second parser knows where it stopped; yaml.v3's words, which
		// name the enclosing block, go beside them.
		if m != nil && m[1] != strconv.Itoa(line) {
			why += fmt.Sprintf(" (%s, in the block that starts at line %s)", m[2], m[1])
		} else if m != nil {
			why += " (" + m[2] + ")"
		}
		return src.Errorf(line, col, "invalid YAML: %s", why)
	}
	if m != nil {
		var line int
		fmt.Sscan(m[1], &line)
		hint := ""
		if strings.HasPrefix(m[2], "did not find expected") {
			// yaml.v3 names the line where the enclosing block or flow
			// collection starts, not the line that broke it.
			hint = " (in the block that starts here; check the indentation and brackets of the lines below)"
		}
		return src.Errorf(line, 1, "invalid YAML: %s%s", m[2], hint)
	}
	return fmt.Errorf("%s: invalid YAML: %s", src.File, strings.TrimPrefix(msg, "yaml: "))
}

var varName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// loadVars reads the vars mapping in order and applies overrides; names in
// reserved are bound by step kinds or the runner and cannot be variables.
// It also returns the defaults, before overrides, and the names overridden.
func loadVars(d *decode.Decoder, n *yaml.Node, overrides []Override, reserved []string, errs *diag.List) (vals eval.Values, names []string, defaults eval.Values, pinned map[string]bool) {
	vals = eval.Values{}
	pinned = map[string]bool{}
	if n != nil && n.Tag != "!!null" {
		if n.Kind != yaml.MappingNode {
			d.Errorf(n, "vars must be a mapping of names to default values, got %s", decode.Describe(n))
		} else {
			for i := 0; i+1 < len(n.Content); i += 2 {
				k, v := n.Content[i], n.Content[i+1]
				switch {
				case !varName.MatchString(k.Value):
					d.Errorf(k, "variable name %q must be a letter or _ followed by letters, digits or _", k.Value)
					continue
				case slices.Contains(reserved, k.Value):
					d.Errorf(k, "variable name %q is reserved (it names a value the runner provides)", k.Value)
					continue
				case vals[k.Value] != nil || slices.Contains(names, k.Value):
					d.Errorf(k, "variable %q is defined twice", k.Value)
					continue
				}
				var x any
				if err := v.Decode(&x); err != nil {
					d.Errorf(v, "%v", err)
					continue
				}
				vals[k.Value] = x
				names = append(names, k.Value)
			}
		}
	}
	defaults = maps.Clone(vals)
	for _, o := range overrides {
		if !slices.Contains(names, o.Name) && o.Optional {
			continue
		}
		if !slices.Contains(names, o.Name) {
			msg := fmt.Sprintf("%s: %s has no variable %q", o.Origin, d.Loc.Source().File, o.Name)
			if s := decode.Suggest(o.Name, names); s != "" {
				msg += fmt.Sprintf(", did you mean %q?", s)
			} else if len(names) > 0 {
				msg += fmt.Sprintf(" (it has: %s; --set-optional sets a variable only in the plans that have it)", strings.Join(names, ", "))
			}
			errs.Add(errors.New(msg))
			continue
		}
		vals[o.Name] = o.Value
		pinned[o.Name] = true
	}
	return vals, names, defaults, pinned
}
