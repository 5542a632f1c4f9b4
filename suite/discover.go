package suite

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"gopkg.in/yaml.v3"
)

// maxPeek is how much of a file Discover reads to tell a plan from other
// YAML: more than the largest plan a runner loads (engine.MaxPlanBytes).
const maxPeek = 1<<20 + 1

// Found is what Discover found below the paths it was given.
type Found struct {
	// Plans are the plan files, in the order of the paths given and, below
	// a folder, in path order; each once.
	Plans []string
	// Skipped are YAML files below a folder whose first document is not a
	// plan (manifests the plans read, values files).
	Skipped []string
}

// Discover lists the plan files among paths. A file given by name is a
// plan whatever it holds (so that loading it reports what is wrong with
// it); below a folder, recursively, a .yaml or .yml file is a plan when its
// first document is a mapping with a steps key (or, when that document is
// not valid YAML, a line that starts with "steps:"). Folders whose name
// starts with a dot are not entered.
func Discover(paths []string) (Found, error) {
	var out Found
	seen := map[string]bool{}
	add := func(p string) {
		if c := filepath.Clean(p); !seen[c] {
			seen[c] = true
			out.Plans = append(out.Plans, p)
		}
	}
	for _, root := range paths {
		info, err := os.Stat(root)
		if err != nil {
			return Found{}, fmt.Errorf("%s: %w", root, err)
		}
		if !info.IsDir() {
			add(root)
			continue
		}
		err = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() {
				if p != root && strings.HasPrefix(d.Name(), ".") {
					return filepath.SkipDir
				}
				return nil
			}
			if ext := filepath.Ext(p); ext != ".yaml" && ext != ".yml" {
				return nil
			}
			if !d.Type().IsRegular() {
				return nil
			}
			plan, err := isPlan(p)
			if err != nil {
				return err
			}
			if plan {
				add(p)
			} else {
				out.Skipped = append(out.Skipped, p)
			}
			return nil
		})
		if err != nil {
			return Found{}, fmt.Errorf("looking for plans in %s: %w", root, err)
		}
	}
	return out, nil
}

var stepsLine = regexp.MustCompile(`^steps[ \t]*:`)

// isPlan says whether the first YAML document of file has a top-level
// steps key.
func isPlan(file string) (bool, error) {
	f, err := os.Open(file)
	if err != nil {
		return false, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxPeek))
	if err != nil {
		return false, fmt.Errorf("%s: %w", file, err)
	}
	return IsPlan(data), nil
}

// IsPlan says whether data's first YAML document is a plan: a mapping with
// a steps key. When that document is not valid YAML, a line of it that
// starts with "steps:" decides, so that a broken plan is still found (and
// its errors reported) rather than skipped.
func IsPlan(data []byte) bool {
	var doc yaml.Node
	err := yaml.NewDecoder(bytes.NewReader(data)).Decode(&doc)
	if err == nil {
		n := &doc
		if n.Kind == yaml.DocumentNode && len(n.Content) > 0 {
			n = n.Content[0]
		}
		if n.Kind != yaml.MappingNode {
			return false
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == "steps" {
				return true
			}
		}
		return false
	}
	if err == io.EOF {
		return false
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 64*1024), maxPeek)
	started := false
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "---") {
			if started {
				return false // the first document ended
			}
			continue
		}
		if t := strings.TrimSpace(line); t != "" && !strings.HasPrefix(t, "#") {
			started = true
		}
		if stepsLine.MatchString(line) {
			return true
		}
	}
	return false
}
