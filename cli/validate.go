package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/spf13/cobra"
	"golang.org/x/text/language"
	"golang.org/x/text/message"
	"gopkg.in/yaml.v3"

	"github.com/scenario-runner/runner/engine"
	"github.com/scenario-runner/runner/engine/diag"
	"github.com/scenario-runner/runner/engine/files"
)

func newValidateCommand(streams Streams) *cobra.Command {
	in := inputs{secrets: streams.Secrets}
	var sel selection
	cmd := &cobra.Command{
		Use:   "validate PLAN|FOLDER...",
		Short: "Check plans without a cluster: every error with its file, line and column",
		Long: `validate decodes and type-checks plans, compiles every expression, checks that
referenced files exist and checks each plan against the JSON Schema. It needs
no cluster and no kubeconfig. Below a folder, every YAML file whose first
document has steps is a plan; other YAML (manifests, values) is skipped.
Exit 0 when every plan is valid, 2 otherwise.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := loadSuite(args, in, sel)
			if err != nil {
				renderInvalid(streams.Err, err)
				return err
			}
			cells := map[string]int{}
			for _, c := range s.Cells {
				cells[c.Plan]++
			}
			for _, f := range s.Found.Plans {
				if n := cells[f]; n > 1 {
					fmt.Fprintf(streams.Out, "%s: valid (%d cells)\n", f, n)
				} else {
					fmt.Fprintf(streams.Out, "%s: valid\n", f)
				}
			}
			return nil
		},
	}
	in.addFlags(cmd.Flags())
	sel.addSelectorFlags(cmd.Flags())
	return cmd
}

// compiledSchema compiles the generated plan schema.
func compiledSchema(reg *engine.Registry) (*jsonschema.Schema, error) {
	raw, err := engine.Schema(reg)
	if err != nil {
		return nil, err
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		return nil, err
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource(engine.SchemaID, doc); err != nil {
		return nil, err
	}
	return c.Compile(engine.SchemaID)
}

// checkSchema validates the plan file against the JSON Schema, reporting
// each violation at the YAML position of the offending value. It runs after
// the engine's own checks, which give better messages; a violation here
// means the schema and the Go types disagree.
func checkSchema(file string, s *jsonschema.Schema) error {
	data, err := files.ReadFile(file)
	if err != nil {
		return err
	}
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return &engine.InvalidError{File: file, Errs: fmt.Errorf("%s: %w", file, err)}
	}
	var v any
	if err := root.Decode(&v); err != nil {
		// yaml.v3 refuses some alias patterns the engine's limit lets by.
		return &engine.InvalidError{File: file, Errs: fmt.Errorf("%s: %w", file, err)}
	}
	j, err := json.Marshal(v)
	if err != nil {
		return err
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(j))
	if err != nil {
		return err
	}
	verr := s.Validate(inst)
	if verr == nil {
		return nil
	}
	ve, ok := verr.(*jsonschema.ValidationError)
	if !ok {
		return verr
	}
	src := diag.NewSource(file, data)
	var list diag.List
	for _, leaf := range leaves(ve) {
		n := nodeAt(&root, leaf.InstanceLocation)
		// A message may quote the value (a pattern mismatch): clip it.
		list.Add(diag.NodeError(src, n, "schema: %s", clipMessage(leaf.ErrorKind.LocalizedString(englishPrinter))))
	}
	return &engine.InvalidError{File: file, Errs: list.Err()}
}

// englishPrinter words schema errors (the library has no default printer).
var englishPrinter = message.NewPrinter(language.English)

func leaves(ve *jsonschema.ValidationError) []*jsonschema.ValidationError {
	if len(ve.Causes) == 0 {
		return []*jsonschema.ValidationError{ve}
	}
	var out []*jsonschema.ValidationError
	for _, c := range ve.Causes {
		out = append(out, leaves(c)...)
	}
	return out
}

// nodeAt follows a JSON pointer (as path segments) through YAML nodes.
func nodeAt(root *yaml.Node, path []string) *yaml.Node {
	n := root
	if n.Kind == yaml.DocumentNode && len(n.Content) > 0 {
		n = n.Content[0]
	}
	for _, seg := range path {
		switch n.Kind {
		case yaml.MappingNode:
			found := false
			for i := 0; i+1 < len(n.Content); i += 2 {
				if n.Content[i].Value == seg {
					n, found = n.Content[i+1], true
					break
				}
			}
			if !found {
				return n
			}
		case yaml.SequenceNode:
			i, err := strconv.Atoi(strings.TrimSpace(seg))
			if err != nil || i >= len(n.Content) {
				return n
			}
			n = n.Content[i]
		default:
			return n
		}
	}
	return n
}

// clipMessage shortens a message to 200 runes.
func clipMessage(s string) string {
	if r := []rune(s); len(r) > 200 {
		return string(r[:200]) + "..."
	}
	return s
}
