package report

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"

	"github.com/scenario-runner/runner/redact"
)

// File names WriteDir writes.
const (
	JSONFile  = "report.json"
	JUnitFile = "junit.xml"
	HTMLFile  = "report.html"
)

// WriteDir writes report.json, junit.xml and report.html into dir, creating
// it if needed, and returns the paths written. Each file is rendered in
// memory first, so a failure never leaves half a file. Every value of
// secrets (the set of the plans the report holds; nil masks nothing) is
// masked in every file.
func WriteDir(dir string, r *Report, secrets *redact.Set) ([]string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	var paths []string
	for _, f := range []struct {
		name  string
		write func(*bytes.Buffer) error
	}{
		{JSONFile, func(b *bytes.Buffer) error { return r.WriteJSON(b) }},
		{JUnitFile, func(b *bytes.Buffer) error { return r.WriteJUnit(b) }},
		{HTMLFile, func(b *bytes.Buffer) error { return r.WriteHTML(b) }},
	} {
		var b bytes.Buffer
		if err := f.write(&b); err != nil {
			return paths, fmt.Errorf("rendering %s: %w", f.name, err)
		}
		p := filepath.Join(dir, f.name)
		// Secret values never reach a report file (see package redact).
		if err := os.WriteFile(p, []byte(secrets.String(b.String())), 0o644); err != nil {
			return paths, err
		}
		paths = append(paths, p)
	}
	return paths, nil
}
