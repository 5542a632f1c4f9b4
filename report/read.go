package report

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"

	"github.com/scenario-runner/runner/result"
)

// ErrNotReport marks a file that is not a report.json this runner reads:
// corrupt, of another schema version, or not a report at all.
var ErrNotReport = errors.New("not a report")

// maxReportBytes bounds a report.json that Read accepts.
const maxReportBytes = 512 << 20

// Read reads a report.json. A corrupt file or one of another schema version
// is an error naming the file. details maps step kinds to the Go types of
// their details (engine.Registry.Details): a step's detail is decoded into
// its kind's type too, so that the HTML and JUnit renderers show the kind's
// sections as for a report just run; nil leaves details as decoded JSON.
// A plan without an id (a report of a runner before suites) gets its name.
func Read(file string, details map[string]reflect.Type) (*Report, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	if len(data) > maxReportBytes {
		return nil, fmt.Errorf("%s: %w: %d bytes, above the limit of %d", file, ErrNotReport, len(data), maxReportBytes)
	}
	var head struct {
		SchemaVersion *string `json:"schemaVersion"`
	}
	if err := json.Unmarshal(data, &head); err != nil {
		return nil, fmt.Errorf("%s: %w: invalid JSON: %v", file, ErrNotReport, err)
	}
	switch {
	case head.SchemaVersion == nil:
		return nil, fmt.Errorf("%s: %w: no schemaVersion (is it a report.json written by runner --report-dir?)", file, ErrNotReport)
	case *head.SchemaVersion != SchemaVersion:
		return nil, fmt.Errorf("%s: %w: schema version %q; this runner reads %q (use the runner that wrote it, or run again)", file, ErrNotReport, *head.SchemaVersion, SchemaVersion)
	}
	var r Report
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&r); err != nil {
		return nil, fmt.Errorf("%s: %w: %v", file, ErrNotReport, err)
	}
	for i := range r.Plans {
		p := &r.Plans[i]
		if p.ID == "" {
			p.ID = p.Name
		}
		if err := typeDetails(p.Steps, details); err != nil {
			return nil, fmt.Errorf("%s: plan %s: %w", file, p.ID, err)
		}
	}
	return &r, nil
}

// typeDetails decodes each step's detail into its kind's type as well.
func typeDetails(steps []Step, details map[string]reflect.Type) error {
	for i := range steps {
		s := &steps[i]
		if t, ok := details[s.Kind]; ok && s.Detail != nil {
			raw, err := json.Marshal(s.Detail)
			if err != nil {
				return err
			}
			for t.Kind() == reflect.Pointer {
				t = t.Elem()
			}
			v := reflect.New(t)
			if err := json.Unmarshal(raw, v.Interface()); err != nil {
				return fmt.Errorf("step %s: detail: %w", s.Name, err)
			}
			if d, ok := v.Interface().(result.Detail); ok {
				s.detail = d
			}
		}
		if err := typeDetails(s.Steps, details); err != nil {
			return err
		}
	}
	return nil
}

// FindReports lists the report.json files among paths: a file is taken as
// given; below a folder (e.g. downloaded CI artifacts), every file named
// report.json, in path order.
func FindReports(paths []string) ([]string, error) {
	var out []string
	for _, p := range paths {
		info, err := os.Stat(p)
		if err != nil {
			return nil, err
		}
		if !info.IsDir() {
			out = append(out, p)
			continue
		}
		n := len(out)
		err = filepath.WalkDir(p, func(f string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if !d.IsDir() && d.Name() == JSONFile {
				out = append(out, f)
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
		if len(out) == n {
			return nil, fmt.Errorf("%s: no %s below this folder", p, JSONFile)
		}
	}
	return out, nil
}
