package report

import (
	"bytes"
	"fmt"
	"github.com/scenario-runner/runner/redact"
	"os"
	"path/filepath"
)

// File names WriteDir writes.
const (
	JSONFile  = "report.json"
	JUnitFile = "junit.xml"
	HTMLFile  = "report.html"
)

// WriteDir writes report.json, junit.xml and report.html into dir, creating
// it if needed, and returns the paths written. Each file is rendered in
// memory first, so a failure never leaves half a file.
func WriteDir(dir string, r *Report) ([]string, error) {
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
		if err := os.WriteFile(p, []byte(redact.Default.String(b.String())), 0o644); err != nil {
			return paths, err
		}
		paths = append(paths, p)
	}
	return paths, nil
}
