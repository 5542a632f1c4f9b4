package main

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// The API server keeps an audit log of the requests the API load suite
// needs to attribute to a tool (its namespace, and discovery): the request
// counters say how many requests there were, the audit log says whose.
// Nothing else is logged, so the other suites pay nothing for it.
const auditPolicy = `apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [RequestReceived, ResponseStarted]
rules:
  - level: Metadata
    namespaces: [` + nsAPILoad + `]
  - level: Metadata
    nonResourceURLs: [/api, /api/*, /apis, /apis/*, /version, /openapi/*]
  - level: None
`

func (d *driver) auditLog() string { return filepath.Join(d.cfg.work, "audit.log") }

// auditArgs writes the policy and returns the API server's flags.
func (d *driver) auditArgs() ([]string, error) {
	policy, err := d.writeFile("audit-policy.yaml", auditPolicy)
	if err != nil {
		return nil, err
	}
	return []string{"--audit-policy-file=" + policy, "--audit-log-path=" + d.auditLog(), "--audit-log-format=json", "--audit-log-mode=blocking"}, nil
}

// auditCount counts the requests completed between from and to by clients
// whose user agent starts with agent + "/" (client-go puts the binary's
// name first), keyed "VERB resource" or "GET /path".
func auditCount(path, agent string, from, to time.Time) (map[string]float64, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	out := map[string]float64{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	for sc.Scan() {
		var ev struct {
			Stage          string    `json:"stage"`
			Verb           string    `json:"verb"`
			RequestURI     string    `json:"requestURI"`
			UserAgent      string    `json:"userAgent"`
			StageTimestamp time.Time `json:"stageTimestamp"`
			ObjectRef      *struct {
				Resource string `json:"resource"`
			} `json:"objectRef"`
		}
		if json.Unmarshal(sc.Bytes(), &ev) != nil || !strings.HasPrefix(ev.UserAgent, agent+"/") ||
			ev.StageTimestamp.Before(from) || ev.StageTimestamp.After(to) {
			continue
		}
		key := strings.ToUpper(ev.Verb) + " "
		if ev.ObjectRef != nil && ev.ObjectRef.Resource != "" {
			key += ev.ObjectRef.Resource
		} else {
			uri, _, _ := strings.Cut(ev.RequestURI, "?")
			key += uri
		}
		out[key]++
	}
	return out, sc.Err()
}
