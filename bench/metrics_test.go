package bench

import (
	"strings"
	"testing"
)

const sampleMetrics = `# HELP apiserver_request_total [STABLE] Counter of apiserver requests broken out for each verb...
# TYPE apiserver_request_total counter
apiserver_request_total{code="200",component="apiserver",dry_run="",group="",resource="configmaps",scope="namespace",subresource="",verb="LIST",version="v1"} 12
apiserver_request_total{code="200",component="apiserver",dry_run="",group="",resource="configmaps",scope="resource",subresource="",verb="WATCH",version="v1"} 3
apiserver_request_total{code="404",component="apiserver",dry_run="",group="",resource="configmaps",scope="resource",subresource="",verb="GET",version="v1"} 2
apiserver_request_total{code="200",component="",dry_run="",group="",resource="",scope="",subresource="/version",verb="GET",version=""} 1.5e+01
apiserver_request_duration_seconds_bucket{verb="LIST",le="0.005"} 99
apiserver_request_total{code="201",component="apiserver",dry_run="",group="",resource="configmaps",scope="resource",subresource="",verb="POST",version="v1",odd="a\"b,c"} 4
`

func TestParseRequestTotal(t *testing.T) {
	c, err := ParseRequestTotal(strings.NewReader(sampleMetrics))
	if err != nil {
		t.Fatal(err)
	}
	want := RequestCounts{
		{"LIST", "configmaps"}: 12, {"WATCH", "configmaps"}: 3, {"GET", "configmaps"}: 2,
		{"GET", ""}: 15, {"POST", "configmaps"}: 4,
	}
	if len(c) != len(want) {
		t.Fatalf("got %v, want %v", c, want)
	}
	for k, v := range want {
		if c[k] != v {
			t.Errorf("%v = %v, want %v", k, c[k], v)
		}
	}
	if got := c.Resource("configmaps"); got != 21 {
		t.Errorf("configmaps = %v, want 21", got)
	}
	if got := c.Total(); got != 36 {
		t.Errorf("total = %v, want 36", got)
	}
	after := RequestCounts{{"LIST", "configmaps"}: 14, {"GET", ""}: 15}
	d := after.Sub(c)
	if len(d) != 1 || d[VerbResource{"LIST", "configmaps"}] != 2 {
		t.Errorf("Sub = %v, want only LIST configmaps 2", d)
	}
}

func TestParseRequestTotalMalformed(t *testing.T) {
	for _, in := range []string{
		`apiserver_request_total{verb="GET" 3`,
		`apiserver_request_total{verb="GET} 3`,
		`apiserver_request_total{verb="GET"}`,
		`apiserver_request_total{verb=GET} 1`,
	} {
		if _, err := ParseRequestTotal(strings.NewReader(in)); err == nil {
			t.Errorf("%q: no error", in)
		}
	}
}
