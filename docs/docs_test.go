// Package docs_test keeps docs/writing-scenarios.md honest: every complete
// plan in it validates, the sample output of `runner validate` is what the
// runner prints, the RBAC example is a well-formed ClusterRole, and every
// relative link points at a file that exists.
//
// The guide marks its fenced ```yaml blocks by their first line:
//
//	# plan         a complete plan: validated with `runner validate`
//	# file: PATH   a file that plans refer to, written at PATH beside them
//	# rbac         a ClusterRole, decoded strictly
//
// A yaml block that looks like a plan (top-level name and steps) must carry
// the marker, so that none escapes the test by accident.
package docs_test

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/scenario-runner/runner/cli"
)

const guide = "writing-scenarios.md"

// block is one fenced code block of the guide.
type block struct {
	lang string
	line int // line of the opening fence, 1-based
	body string
}

func (b block) firstLine() string {
	first, _, _ := strings.Cut(b.body, "\n")
	return strings.TrimSpace(first)
}

func (b block) where() string { return fmt.Sprintf("%s:%d", guide, b.line) }

// blocks returns the fenced code blocks of the guide, including indented ones
// (inside list items), with the indentation removed.
func blocks(t *testing.T) []block {
	t.Helper()
	data, err := os.ReadFile(guide)
	if err != nil {
		t.Fatal(err)
	}
	var out []block
	var cur *block
	var indent string
	for i, line := range strings.Split(string(data), "\n") {
		trimmed := strings.TrimLeft(line, " ")
		if cur == nil {
			if lang, ok := strings.CutPrefix(trimmed, "```"); ok {
				cur = &block{lang: strings.TrimSpace(lang), line: i + 1}
				indent = line[:len(line)-len(trimmed)]
			}
			continue
		}
		if trimmed == "```" {
			out = append(out, *cur)
			cur = nil
			continue
		}
		cur.body += strings.TrimPrefix(line, indent) + "\n"
	}
	if cur != nil {
		t.Fatalf("%s:%d: code block not closed", guide, cur.line)
	}
	return out
}

var (
	planLike = regexp.MustCompile(`(?m)^name:`)
	hasSteps = regexp.MustCompile(`(?m)^steps:`)
)

// TestPlansValidate writes every `# plan` block, and every `# file:` block
// beside them, to a temporary folder and runs `runner validate` on each plan.
func TestPlansValidate(t *testing.T) {
	dir := t.TempDir()
	type plan struct {
		block
		path string
	}
	var plans []plan
	for _, b := range blocks(t) {
		if b.lang != "yaml" {
			continue
		}
		first := b.firstLine()
		switch {
		case first == "# plan":
			p := filepath.Join(dir, fmt.Sprintf("plan-line-%d.yaml", b.line))
			plans = append(plans, plan{b, p})
			write(t, p, b.body)
		case strings.HasPrefix(first, "# file:"):
			rel := strings.TrimSpace(strings.TrimPrefix(first, "# file:"))
			if rel == "" || filepath.IsAbs(rel) || strings.HasPrefix(filepath.Clean(rel), "..") {
				t.Errorf("%s: # file: needs a relative path inside the plan's folder, got %q", b.where(), rel)
				continue
			}
			write(t, filepath.Join(dir, rel), b.body)
		case planLike.MatchString(b.body) && hasSteps.MatchString(b.body):
			t.Errorf("%s: this block looks like a complete plan: start it with `# plan` so the test validates it", b.where())
		}
	}
	if len(plans) < 10 {
		t.Fatalf("found %d `# plan` blocks in %s, expected at least 10: is the marker still `# plan`?", len(plans), guide)
	}
	for _, p := range plans {
		t.Run(fmt.Sprintf("line-%d", p.line), func(t *testing.T) {
			var out, errOut bytes.Buffer
			if err := cli.Execute([]string{"validate", p.path}, cli.Streams{Out: &out, Err: &errOut}); err != nil {
				t.Errorf("%s: the plan does not validate: %v\n%s", p.where(), err, errOut.String())
			}
		})
	}
}

// TestValidateOutput checks that every console block starting with
// `$ runner validate FILE` shows exactly what the runner prints.
func TestValidateOutput(t *testing.T) {
	all := blocks(t)
	t.Chdir("..") // the guide's commands run from the repository root
	n := 0
	for _, b := range all {
		args, ok := strings.CutPrefix(b.firstLine(), "$ runner validate ")
		if b.lang != "console" || !ok {
			continue
		}
		n++
		_, want, _ := strings.Cut(b.body, "\n")
		var out, errOut bytes.Buffer
		err := cli.Execute(append([]string{"validate"}, strings.Fields(args)...), cli.Streams{Out: &out, Err: &errOut})
		if err == nil {
			t.Errorf("%s: runner validate %s: want an error, got none", b.where(), args)
		}
		if got := out.String() + errOut.String(); got != want {
			t.Errorf("%s: runner validate %s prints\n%s\nbut the guide shows\n%s", b.where(), args, got, want)
		}
	}
	if n == 0 {
		t.Fatalf("no ```console block starting with `$ runner validate` in %s", guide)
	}
}

// TestRBAC: the guide's copy of runner rbac's output (a yaml block whose
// first line is the command, as runner rbac writes it) is what the command
// prints now, byte for byte.
func TestRBAC(t *testing.T) {
	n := 0
	for _, b := range blocks(t) {
		cmdline, ok := strings.CutPrefix(b.firstLine(), "# runner rbac ")
		if b.lang != "yaml" || !ok {
			continue
		}
		n++
		args, _, _ := strings.Cut(cmdline, ": ")
		t.Run(args, func(t *testing.T) {
			t.Chdir("..")
			var out, errOut bytes.Buffer
			if err := cli.Execute(append([]string{"rbac"}, strings.Fields(args)...), cli.Streams{Out: &out, Err: &errOut}); err != nil {
				t.Fatalf("runner rbac %s: %v\n%s", args, err, errOut.String())
			}
			if out.String() != b.body {
				t.Errorf("%s: the guide's copy of runner rbac %s drifted from its output; paste it again:\n%s", b.where(), args, out.String())
			}
		})
	}
	if n == 0 {
		t.Fatalf("no yaml block starting with `# runner rbac` in %s", guide)
	}
}

var (
	link    = regexp.MustCompile(`\]\(([^)#\s]*)(#[^)\s]*)?\)`)
	heading = regexp.MustCompile(`^#{1,6} (.+)$`)
	notSlug = regexp.MustCompile(`[^\p{L}\p{N} _-]`)
)

// slug is GitHub's anchor for a heading: lower case, punctuation dropped,
// spaces turned into dashes.
func slug(h string) string {
	return strings.ReplaceAll(notSlug.ReplaceAllString(strings.ToLower(strings.TrimSpace(h)), ""), " ", "-")
}

// TestLinks checks that every relative link of the guide names a file or
// folder of the repository, and every #anchor one of its headings.
func TestLinks(t *testing.T) {
	data, err := os.ReadFile(guide)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(data), "\n")
	anchors := map[string]bool{}
	fence := false
	for _, line := range lines {
		if strings.HasPrefix(strings.TrimLeft(line, " "), "```") {
			fence = !fence
		}
		if m := heading.FindStringSubmatch(line); m != nil && !fence {
			anchors["#"+slug(m[1])] = true
		}
	}
	for i, line := range lines {
		for _, m := range link.FindAllStringSubmatch(line, -1) {
			target, anchor := m[1], m[2]
			if strings.Contains(target, "://") || strings.HasPrefix(target, "mailto:") {
				continue
			}
			if target == "" {
				if !anchors[anchor] {
					t.Errorf("%s:%d: link to %s: no such heading", guide, i+1, anchor)
				}
				continue
			}
			if _, err := os.Stat(target); err != nil {
				t.Errorf("%s:%d: link to %s: %v", guide, i+1, target, err)
			}
		}
	}
}

func write(t *testing.T, path, body string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
}
