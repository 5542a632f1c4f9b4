package job

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"

	"github.com/scenario-runner/runner/report"
)

// MaxResultBytes bounds the gzipped report.json a pod publishes: a
// ConfigMap holds at most 1 MiB, and its key, annotations and metadata need
// some of it. A report.json compresses about tenfold, so reports of up to
// some 9 MB fit whole; a bigger one is Shrunk.
const MaxResultBytes = 900 << 10

// ResultKey is the results ConfigMap's binaryData key.
const ResultKey = "report.json.gz"

// Annotations of a results ConfigMap.
const (
	// AnnotationOutcome is the published report's outcome.
	AnnotationOutcome = "runner.io/outcome"
	// AnnotationTruncated says what Shrink dropped to make it fit.
	AnnotationTruncated = "runner.io/truncated"
	// AnnotationError is why the run ended before it had a report.
	AnnotationError = "runner.io/error"
)

var configMaps = schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}

// Target is where a pod publishes: the results ConfigMap of completion
// index Index of the Job Namespace/Name, whose uid (JobUID, may be empty)
// makes the Job its owner, so that deleting the Job deletes it.
type Target struct {
	Namespace, Name string
	Index           int
	JobUID          string
}

// Result is what one pod publishes.
type Result struct {
	// Report is report.json's content; nil when the run ended before it
	// wrote one (Error says why).
	Report []byte
	Error  string
}

// Publish writes res into t's results ConfigMap (created, or replaced if a
// pod of the same index wrote one before). It returns what Shrink dropped
// ("" when nothing).
func Publish(ctx context.Context, dyn dynamic.Interface, t Target, res Result) (string, error) {
	cm := &corev1.ConfigMap{
		TypeMeta: typeMeta("v1", "ConfigMap"),
		ObjectMeta: metav1.ObjectMeta{
			Name: ResultName(t.Name, t.Index), Namespace: t.Namespace,
			Labels:      map[string]string{LabelJob: t.Name, LabelIndex: strconv.Itoa(t.Index), managedBy: "runner"},
			Annotations: map[string]string{},
		},
	}
	if t.JobUID != "" {
		cm.OwnerReferences = []metav1.OwnerReference{{APIVersion: "batch/v1", Kind: "Job", Name: t.Name, UID: types.UID(t.JobUID)}}
	}
	var truncated string
	if res.Report != nil {
		gz, note, outcome, err := Shrink(res.Report, MaxResultBytes)
		if err != nil {
			res.Error = err.Error()
		} else {
			cm.BinaryData = map[string][]byte{ResultKey: gz}
			cm.Annotations[AnnotationOutcome] = outcome
			if note != "" {
				cm.Annotations[AnnotationTruncated] = note
				truncated = note
			}
		}
	}
	if res.Error != "" {
		cm.Annotations[AnnotationError] = limitString(res.Error, 4096)
	}
	u, err := toUnstructured(cm)
	if err != nil {
		return "", err
	}
	rc := dyn.Resource(configMaps).Namespace(t.Namespace)
	_, err = rc.Create(ctx, u, metav1.CreateOptions{FieldManager: "runner"})
	if apierrors.IsAlreadyExists(err) {
		old, gerr := rc.Get(ctx, u.GetName(), metav1.GetOptions{})
		if gerr != nil {
			return "", fmt.Errorf("results ConfigMap %s/%s: %w", t.Namespace, u.GetName(), gerr)
		}
		u.SetResourceVersion(old.GetResourceVersion())
		_, err = rc.Update(ctx, u, metav1.UpdateOptions{FieldManager: "runner"})
	}
	if err != nil {
		return "", fmt.Errorf("results ConfigMap %s/%s: %w", t.Namespace, u.GetName(), err)
	}
	return truncated, nil
}

// Shrink gzips report.json; if that is above max, it drops detail until it
// fits, in this order: every step's detail and progress samples, the plans'
// outputs and diagnostics' previews; then nested steps; then all steps and
// vars. Each plan of a shrunk report gets a warning saying so, and note
// says what went. Outcomes, errors, durations and cell ids always stay: a
// report that does not fit even then is an error.
func Shrink(reportJSON []byte, max int) (gz []byte, note, outcome string, err error) {
	var r report.Report
	if err := json.Unmarshal(reportJSON, &r); err != nil {
		return nil, "", "", fmt.Errorf("report.json: %w", err)
	}
	outcome = string(r.Outcome)
	gz, err = gzipBytes(reportJSON)
	if err != nil || len(gz) <= max {
		return gz, "", outcome, err
	}
	levels := []struct {
		note string
		drop func(*report.Plan)
	}{
		{"step details, progress samples, outputs and diagnostics previews", func(p *report.Plan) {
			p.Outputs = nil
			for i := range p.Diagnostics {
				p.Diagnostics[i].Preview = nil
			}
			dropDetail(p.Steps)
		}},
		{"nested steps", func(p *report.Plan) {
			for i := range p.Steps {
				p.Steps[i].Steps = nil
			}
		}},
		{"steps and vars", func(p *report.Plan) {
			p.Steps, p.Vars, p.Diagnostics = []report.Step{}, map[string]any{}, nil
		}},
	}
	size := len(gz)
	for _, l := range levels {
		for i := range r.Plans {
			l.drop(&r.Plans[i])
		}
		note = fmt.Sprintf("dropped %s: the gzipped report.json was %d bytes, above the %d a results ConfigMap holds", l.note, size, max)
		shrunk := r
		shrunk.Plans = make([]report.Plan, len(r.Plans))
		for i, p := range r.Plans {
			p.Warnings = append(p.Warnings[:len(p.Warnings):len(p.Warnings)], "report "+note+" (the whole report was in the pod's "+ReportsDir+")")
			shrunk.Plans[i] = p
		}
		data, err := json.Marshal(&shrunk)
		if err != nil {
			return nil, "", "", err
		}
		if gz, err = gzipBytes(data); err != nil {
			return nil, "", "", err
		}
		if len(gz) <= max {
			return gz, note, outcome, nil
		}
	}
	return nil, "", outcome, fmt.Errorf("report.json is %d bytes gzipped even without steps, above the %d a results ConfigMap holds; run fewer cells per shard (--shards)", len(gz), max)
}

func dropDetail(steps []report.Step) {
	for i := range steps {
		steps[i].Detail, steps[i].Progress = nil, nil
		dropDetail(steps[i].Steps)
	}
}

func gzipBytes(data []byte) ([]byte, error) {
	var b bytes.Buffer
	w, err := gzip.NewWriterLevel(&b, gzip.BestCompression)
	if err != nil {
		return nil, err
	}
	if _, err := w.Write(data); err != nil {
		return nil, err
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// maxReportBytes bounds a report.json Read unzips (a results ConfigMap
// could have been written by anyone with the right to).
const maxReportBytes = 256 << 20

func gunzip(data []byte) ([]byte, error) {
	r, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		return nil, err
	}
	out, err := io.ReadAll(io.LimitReader(r, maxReportBytes+1))
	if err != nil {
		return nil, err
	}
	if len(out) > maxReportBytes {
		return nil, errors.New("above the limit of report.json")
	}
	return out, nil
}

func limitString(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
