package report

import (
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/scenario-runner/runner/result"
)

// WriteJSON writes r as report.json: indented, in the shape of
// schemas/report.schema.json.
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(r)
}

// The JUnit XML shape that CI systems (Jenkins, GitLab, GitHub actions)
// read. Property lists on testcases are an extension most of them accept.
type junitSuites struct {
	XMLName  xml.Name     `xml:"testsuites"`
	Name     string       `xml:"name,attr"`
	Tests    int          `xml:"tests,attr"`
	Failures int          `xml:"failures,attr"`
	Errors   int          `xml:"errors,attr"`
	Skipped  int          `xml:"skipped,attr"`
	Time     string       `xml:"time,attr"`
	Suites   []junitSuite `xml:"testsuite"`
}

type junitSuite struct {
	Name       string         `xml:"name,attr"`
	Tests      int            `xml:"tests,attr"`
	Failures   int            `xml:"failures,attr"`
	Errors     int            `xml:"errors,attr"`
	Skipped    int            `xml:"skipped,attr"`
	Time       string         `xml:"time,attr"`
	Timestamp  string         `xml:"timestamp,attr"`
	File       string         `xml:"file,attr,omitempty"`
	Properties *junitProps    `xml:"properties"`
	Cases      []junitCase    `xml:"testcase"`
	SystemOut  *junitCharData `xml:"system-out,omitempty"`
}

type junitProps struct {
	List []junitProp `xml:"property"`
}

type junitProp struct {
	Name  string `xml:"name,attr"`
	Value string `xml:"value,attr"`
}

type junitCase struct {
	Name       string          `xml:"name,attr"`
	Classname  string          `xml:"classname,attr"`
	Time       string          `xml:"time,attr"`
	File       string          `xml:"file,attr,omitempty"`
	Properties *junitProps     `xml:"properties"`
	Failure    *junitCondition `xml:"failure"`
	Error      *junitCondition `xml:"error"`
	Skipped    *junitCondition `xml:"skipped"`
}

type junitCondition struct {
	Message string `xml:"message,attr,omitempty"`
	Type    string `xml:"type,attr,omitempty"`
	Body    string `xml:",chardata"`
}

type junitCharData struct {
	Text string `xml:",chardata"`
}

// WriteJUnit writes r as JUnit XML: one testsuite per plan (properties:
// file, versions, vars and every timeProbe statistic as
// probe.<name>.<stat>), one testcase per step, a timeProbe's nested steps as
// "<probe> / <step>" cases after it, and a "cleanup" case when cleanup ran.
// A failed or timed-out step is a <failure>, an interrupted one an <error>,
// a skipped one <skipped>; the message is the step's error as the console
// shows it.
func (r *Report) WriteJUnit(w io.Writer) error {
	doc := junitSuites{Name: "runner", Time: secs(r.DurationSeconds)}
	for _, p := range r.Plans {
		s := junitSuite{
			Name: p.Title(), Time: secs(p.DurationSeconds), File: p.File,
			Timestamp: p.Start.UTC().Format(time.RFC3339),
		}
		props := []junitProp{
			{"file", p.File}, {"outcome", string(p.Outcome)},
			{"runner.version", r.Runner.Version}, {"cluster.version", p.ServerVersion},
		}
		if r.Cluster.Host != "" {
			props = append(props, junitProp{"cluster.host", r.Cluster.Host})
		}
		if p.RunID != "" {
			props = append(props, junitProp{"run.id", p.RunID})
		}
		for _, k := range sortedKeys(p.Vars) {
			props = append(props, junitProp{"var." + k, varText(p.Vars[k])})
		}
		seen := map[string]int{}
		var add func(prefix string, steps []Step)
		add = func(prefix string, steps []Step) {
			for _, st := range steps {
				name := prefix + st.Name
				if seen[name]++; seen[name] > 1 {
					name = fmt.Sprintf("%s (%d)", name, seen[name])
				}
				s.Cases = append(s.Cases, junitStep(p, st, name))
				if sp, ok := st.detail.(result.SuiteProperties); ok {
					for _, pp := range sp.SuiteProperties() {
						props = append(props, junitProp{pp.Name, pp.Value})
					}
				}
				if len(st.Steps) > 0 {
					add(name+" / ", st.Steps)
				}
			}
		}
		add("", p.Steps)
		if c := p.Cleanup; c != nil && c.Ran {
			jc := junitCase{Name: "cleanup", Classname: p.Title(), Time: secs(c.DurationSeconds)}
			if len(c.Errors) > 0 {
				msg := strings.Join(c.Errors, "\n")
				jc.Failure = &junitCondition{Message: msg, Type: "cleanup", Body: msg}
			}
			s.Cases = append(s.Cases, jc)
		}
		if p.Error != "" {
			s.SystemOut = &junitCharData{Text: "error: " + p.Error + "\n"}
		}
		s.Properties = &junitProps{List: props}
		for _, c := range s.Cases {
			s.Tests++
			switch {
			case c.Failure != nil:
				s.Failures++
			case c.Error != nil:
				s.Errors++
			case c.Skipped != nil:
				s.Skipped++
			}
		}
		doc.Tests += s.Tests
		doc.Failures += s.Failures
		doc.Errors += s.Errors
		doc.Skipped += s.Skipped
		doc.Suites = append(doc.Suites, s)
	}
	if _, err := io.WriteString(w, xml.Header); err != nil {
		return err
	}
	enc := xml.NewEncoder(w)
	enc.Indent("", "  ")
	if err := enc.Encode(doc); err != nil {
		return err
	}
	_, err := io.WriteString(w, "\n")
	return err
}

func junitStep(p Plan, st Step, name string) junitCase {
	c := junitCase{Name: name, Classname: p.Title(), Time: secs(st.DurationSeconds), File: st.Position}
	var props []junitProp
	props = append(props, junitProp{"kind", st.Kind})
	if st.detail != nil {
		for _, p := range st.detail.Properties() {
			props = append(props, junitProp{p.Name, p.Value})
		}
	}
	c.Properties = &junitProps{List: props}
	switch st.Outcome {
	case result.Failed, result.TimedOut:
		c.Failure = &junitCondition{Message: st.Error, Type: string(st.Outcome), Body: st.Error}
	case result.Interrupted:
		c.Error = &junitCondition{Message: st.Error, Type: string(st.Outcome), Body: st.Error}
	case result.Skipped:
		msg := "not run: an earlier step failed"
		if st.Skip != "" {
			msg = "not run: " + st.Skip
		}
		c.Skipped = &junitCondition{Message: msg}
	}
	return c
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// varText shows a variable: strings as they are, anything else as JSON.
func varText(v any) string {
	if s, ok := v.(string); ok {
		return s
	}
	b, err := json.Marshal(jsonable(v))
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

func secs(s float64) string { return strconv.FormatFloat(s, 'f', 3, 64) }
