package longhornsim

import (
	"context"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

func TestNames(t *testing.T) {
	tests := []struct {
		name, got string
		want      *regexp.Regexp
	}{
		{"claim volume", volumeNameForClaim("0b9c5d1e-aaaa"), regexp.MustCompile(`^pvc-0b9c5d1e-aaaa$`)},
		{"engine", engineName("pvc-x"), regexp.MustCompile(`^pvc-x-e-0$`)},
		{"replica", replicaName("pvc-x"), regexp.MustCompile(`^pvc-x-r-[0-9a-f]{8}$`)},
		{"csi ticket", csiTicketID("pvc-x", "node-1"), regexp.MustCompile(`^csi-attacher-[0-9a-f]{64}$`)},
		{"disk uuid", diskUUID("node-1"), regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)},
		{"bi uuid", backingImageUUID("uid"), regexp.MustCompile(`^[0-9a-f]{8}$`)},
		{"checksum", backingImageChecksum("", "bi", map[string]string{"url": "u"}), regexp.MustCompile(`^[0-9a-f]{128}$`)},
		{"given checksum", backingImageChecksum("abc", "bi", nil), regexp.MustCompile(`^abc$`)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !tt.want.MatchString(tt.got) {
				t.Errorf("got %q, want match of %s", tt.got, tt.want)
			}
		})
	}
	if diskUUID("node-1") != diskUUID("node-1") || diskUUID("node-1") == diskUUID("node-2") {
		t.Error("disk UUIDs must be stable per node and differ between nodes")
	}
	if replicaName("v") == replicaName("v") {
		t.Error("replica names must be random")
	}
	if got := ticketID("t", strings.Repeat("x", 300)); len(got) != 253 {
		t.Errorf("ticket id length %d, want 253", len(got))
	}
}

func TestPlaceReplicas(t *testing.T) {
	nodes := []string{"node-3", "node-1", "node-2"}
	tests := []struct {
		name    string
		nodes   []string
		taken   map[string]bool
		want    int
		wantLen int
	}{
		{"three on three", nodes, nil, 3, 3},
		{"one", nodes, nil, 1, 1},
		{"more than nodes", nodes, nil, 5, 3},
		{"fill the gap", nodes, map[string]bool{"node-1": true, "node-3": true}, 1, 1},
		{"all taken", nodes, map[string]bool{"node-1": true, "node-2": true, "node-3": true}, 2, 0},
		{"no nodes", nil, nil, 3, 0},
		{"none wanted", nodes, nil, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := placeReplicas("pvc-1", tt.nodes, tt.taken, tt.want)
			if len(got) != tt.wantLen {
				t.Fatalf("placeReplicas = %v, want %d nodes", got, tt.wantLen)
			}
			seen := map[string]bool{}
			for _, n := range got {
				if seen[n] || tt.taken[n] {
					t.Errorf("node %s used twice or already taken in %v", n, got)
				}
				seen[n] = true
			}
		})
	}
	// Single-replica volumes spread over the nodes.
	count := map[string]int{}
	for i := 0; i < 300; i++ {
		count[placeReplicas(volumeNameForClaim(randomHex(8)), nodes, nil, 1)[0]]++
	}
	for _, n := range nodes {
		if count[n] < 50 {
			t.Errorf("node %s got %d of 300 single replicas: %v", n, count[n], count)
		}
	}
}

func TestDesiredNode(t *testing.T) {
	ui := &attachmentTicket{ID: "longhorn-ui", Type: AttacherTypeLonghornAPI, NodeID: "node-2"}
	csi := &attachmentTicket{ID: "csi-attacher-a", Type: AttacherTypeCSIAttacher, NodeID: "node-1"}
	snap := &attachmentTicket{ID: "snapshot-controller-a", Type: AttacherTypeSnapshotController, NodeID: "node-3"}
	tests := []struct {
		name    string
		tickets map[string]*attachmentTicket
		current string
		want    string
	}{
		{"no tickets detaches", nil, "node-1", ""},
		{"one ticket", map[string]*attachmentTicket{csi.ID: csi}, "", "node-1"},
		{"priority wins", map[string]*attachmentTicket{csi.ID: csi, ui.ID: ui, snap.ID: snap}, "", "node-2"},
		{"current node kept", map[string]*attachmentTicket{csi.ID: csi, ui.ID: ui}, "node-1", "node-1"},
		{"current node without ticket moves", map[string]*attachmentTicket{snap.ID: snap}, "node-1", "node-3"},
		{"ticket without node ignored", map[string]*attachmentTicket{"x": {ID: "x", Type: AttacherTypeLonghornAPI}}, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := desiredNode(tt.tickets, tt.current); got != tt.want {
				t.Errorf("desiredNode = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestTicketStatuses(t *testing.T) {
	tickets := map[string]*attachmentTicket{
		"longhorn-ui":    {ID: "longhorn-ui", Type: AttacherTypeLonghornAPI, NodeID: "node-1", Generation: 4},
		"csi-attacher-x": {ID: "csi-attacher-x", Type: AttacherTypeCSIAttacher, NodeID: "node-2", Generation: 0},
	}
	tests := []struct {
		name     string
		attached string
		want     map[string]bool
	}{
		{"not attached", "", map[string]bool{"longhorn-ui": false, "csi-attacher-x": false}},
		{"attached to node-1", "node-1", map[string]bool{"longhorn-ui": true, "csi-attacher-x": false}},
		{"attached to node-2", "node-2", map[string]bool{"longhorn-ui": false, "csi-attacher-x": true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := ticketStatuses(tickets, nil, tt.attached, "now")
			if len(got) != len(tickets) {
				t.Fatalf("got %d statuses, want %d", len(got), len(tickets))
			}
			for id, sat := range tt.want {
				st := got[id]
				if st.Satisfied != sat || st.ID != id || st.Generation != tickets[id].Generation {
					t.Errorf("%s: got %+v, want satisfied=%v generation=%d", id, st, sat, tickets[id].Generation)
				}
				if len(st.Conditions) != 1 || st.Conditions[0].Type != "Satisfied" || (st.Conditions[0].Status == "True") != sat {
					t.Errorf("%s: conditions %+v", id, st.Conditions)
				}
				va := &lhVolumeAttachment{}
				va.Spec.AttachmentTickets = tickets
				va.Status.AttachmentTicketStatuses = got
				if ticketSatisfied(id, va) != sat {
					t.Errorf("%s: ticketSatisfied = %v, want %v", id, !sat, sat)
				}
			}
		})
	}

	// A transition time survives while the status stays the same.
	first := ticketStatuses(tickets, nil, "node-1", "t1")
	again := ticketStatuses(tickets, first, "node-1", "t2")
	if ts := again["longhorn-ui"].Conditions[0].LastTransitionTime; ts != "t1" {
		t.Errorf("transition time %q, want t1 kept", ts)
	}
	moved := ticketStatuses(tickets, first, "node-2", "t3")
	if ts := moved["longhorn-ui"].Conditions[0].LastTransitionTime; ts != "t3" {
		t.Errorf("transition time %q, want t3 after a change", ts)
	}

	// A newer ticket generation is not satisfied by an older status.
	va := &lhVolumeAttachment{}
	va.Spec.AttachmentTickets = map[string]*attachmentTicket{"a": {ID: "a", NodeID: "node-1", Generation: 2}}
	va.Status.AttachmentTicketStatuses = map[string]*attachmentTicketStatus{"a": {ID: "a", Satisfied: true, Generation: 1}}
	if ticketSatisfied("a", va) {
		t.Error("status of generation 1 must not satisfy ticket of generation 2")
	}
	if ticketSatisfied("missing", va) || ticketSatisfied("a", nil) {
		t.Error("missing ticket or attachment must not be satisfied")
	}
}

func inst(name, node, desire, current string) *instance {
	in := &instance{}
	in.Name = name
	in.Spec.NodeID = node
	in.Spec.DesireState = desire
	in.Status.CurrentState = current
	return in
}

func TestDecideVolume(t *testing.T) {
	reps := func(state string) []*instance {
		return []*instance{inst("r1", "node-1", "", state), inst("r2", "node-2", "", state), inst("r3", "node-3", "", state)}
	}
	eng := func(node, state string) *instance { return inst("e", node, "", state) }
	tests := []struct {
		name        string
		v           volumeView
		wantState   string
		wantRobust  string
		wantReplica string
		wantEngine  string
		wantMove    bool
		wantWaitBI  bool
	}{
		{"replicas unprocessed", volumeView{wantReplicas: 3, replicas: reps(""), engine: eng("", ""), provisionElapsed: true}, volStateCreating, robustnessUnknown, "", "", false, false},
		{"provision time not over", volumeView{wantReplicas: 3, replicas: reps(instStopped), engine: eng("", ""), provisionElapsed: false}, volStateCreating, robustnessUnknown, "", "", false, false},
		{"no engine", volumeView{wantReplicas: 3, replicas: reps(instStopped), provisionElapsed: true}, volStateCreating, robustnessUnknown, "", "", false, false},
		{"detached", volumeView{wantReplicas: 3, replicas: reps(instStopped), engine: eng("", instStopped), provisionElapsed: true}, volStateDetached, robustnessUnknown, instStopped, instStopped, false, false},
		{"detaching", volumeView{wantReplicas: 3, replicas: reps(instRunning), engine: eng("node-1", instRunning), provisionElapsed: true}, volStateDetaching, robustnessUnknown, instStopped, instStopped, false, false},
		{"attach moves engine", volumeView{wantReplicas: 3, replicas: reps(instStopped), engine: eng("", instStopped), node: "node-1", provisionElapsed: true}, volStateAttaching, robustnessUnknown, instRunning, "", true, false},
		{"attach waits for replicas", volumeView{wantReplicas: 3, replicas: reps(instStopped), engine: eng("node-1", instStopped), node: "node-1", provisionElapsed: true}, volStateAttaching, robustnessUnknown, instRunning, "", false, false},
		{"attach starts engine", volumeView{wantReplicas: 3, replicas: reps(instRunning), engine: eng("node-1", instStopped), node: "node-1", provisionElapsed: true}, volStateAttaching, robustnessUnknown, instRunning, instRunning, false, false},
		{"attached", volumeView{wantReplicas: 3, replicas: reps(instRunning), engine: eng("node-1", instRunning), node: "node-1", provisionElapsed: true}, volStateAttached, robustnessHealthy, instRunning, instRunning, false, false},
		{"attached degraded", volumeView{wantReplicas: 4, replicas: reps(instRunning), engine: eng("node-1", instRunning), node: "node-1", provisionElapsed: true}, volStateAttached, robustnessDegraded, instRunning, instRunning, false, false},
		{"moving stops engine first", volumeView{wantReplicas: 3, replicas: reps(instRunning), engine: eng("node-1", instRunning), node: "node-2", provisionElapsed: true}, volStateAttaching, robustnessUnknown, "", instStopped, false, false},
		{"waits for backing image", volumeView{wantReplicas: 3, replicas: reps(instStopped), engine: eng("", instStopped), node: "node-1", backingImage: "bi", provisionElapsed: true}, volStateDetached, robustnessUnknown, "", "", false, true},
		{"backing image ready", volumeView{wantReplicas: 3, replicas: reps(instStopped), engine: eng("node-1", instStopped), node: "node-1", backingImage: "bi", backingImageOK: true, provisionElapsed: true}, volStateAttaching, robustnessUnknown, instRunning, "", false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := decideVolume(tt.v)
			if d.state != tt.wantState || d.robustness != tt.wantRobust || d.replicaDesire != tt.wantReplica ||
				d.engineDesire != tt.wantEngine || (d.engineNode != nil) != tt.wantMove || d.waitForBI != tt.wantWaitBI {
				t.Errorf("decideVolume = %+v (engineNode set %v), want state %s robustness %s replicas %q engine %q move %v waitBI %v",
					d, d.engineNode != nil, tt.wantState, tt.wantRobust, tt.wantReplica, tt.wantEngine, tt.wantMove, tt.wantWaitBI)
			}
			if d.state == volStateAttached && d.currentNodeID != tt.v.node {
				t.Errorf("currentNodeID = %q, want %q", d.currentNodeID, tt.v.node)
			}
		})
	}
}

func TestDiskFileState(t *testing.T) {
	total := 2 * time.Second
	tests := []struct {
		elapsed  time.Duration
		state    string
		progress int
	}{
		{0, biStatePending, 0},
		{100 * time.Millisecond, biStatePending, 0},
		{time.Second, biStateInProgress, 50},
		{1900 * time.Millisecond, biStateInProgress, 95},
		{2 * time.Second, biStateReady, 100},
		{time.Hour, biStateReady, 100},
	}
	for _, tt := range tests {
		state, progress := diskFileState(tt.elapsed, total)
		if state != tt.state || progress != tt.progress {
			t.Errorf("diskFileState(%v) = %s %d, want %s %d", tt.elapsed, state, progress, tt.state, tt.progress)
		}
	}
}

func TestRoundUpSize(t *testing.T) {
	const mi = 1024 * 1024
	for _, tt := range []struct{ in, want int64 }{{0, 2 * mi}, {1, 2 * mi}, {32 * mi, 32 * mi}, {33 * mi, 34 * mi}} {
		if got := roundUpSize(tt.in); got != tt.want {
			t.Errorf("roundUpSize(%d) = %d, want %d", tt.in, got, tt.want)
		}
	}
}

func TestOptionsDefaults(t *testing.T) {
	tests := []struct {
		name    string
		in      Options
		check   func(Options) bool
		wantErr bool
	}{
		{"defaults", Options{}, func(o Options) bool {
			return o.Mode == ModeDefault && o.DownloadTime == 2*time.Second && o.ProvisionTime == 200*time.Millisecond &&
				o.AttachTime == 300*time.Millisecond && o.JamItemCost == 20*time.Millisecond && o.QPS == 500 && o.Burst == 1000
		}, false},
		{"speed factor", Options{SpeedFactor: 2, AttachTime: time.Second}, func(o Options) bool {
			return o.AttachTime == 500*time.Millisecond && o.DownloadTime == time.Second
		}, false},
		{"legacy", Options{Mode: ModeLegacyQueueJam}, func(o Options) bool { return o.Mode == ModeLegacyQueueJam }, false},
		{"bad mode", Options{Mode: "fast"}, nil, true},
		{"negative speed", Options{SpeedFactor: -1}, nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.in.withDefaults()
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
			if err == nil && !tt.check(got) {
				t.Errorf("withDefaults = %+v", got)
			}
		})
	}
}

func TestManifests(t *testing.T) {
	objs, err := Manifests()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"backingimages.longhorn.io":     "lhbi",
		"volumes.longhorn.io":           "lhv",
		"replicas.longhorn.io":          "lhr",
		"engines.longhorn.io":           "lhe",
		"volumeattachments.longhorn.io": "lhva",
	}
	var sawDriver bool
	for _, o := range objs {
		switch o.GetKind() {
		case "CSIDriver":
			sawDriver = o.GetName() == DriverName && o.Object["spec"].(map[string]any)["attachRequired"] == true
		case "CustomResourceDefinition":
			short, ok := want[o.GetName()]
			if !ok {
				t.Errorf("unexpected CRD %s", o.GetName())
				continue
			}
			delete(want, o.GetName())
			spec := o.Object["spec"].(map[string]any)
			if spec["scope"] != "Namespaced" {
				t.Errorf("%s: scope %v", o.GetName(), spec["scope"])
			}
			names := spec["names"].(map[string]any)
			if sn := names["shortNames"].([]any); len(sn) != 1 || sn[0] != short {
				t.Errorf("%s: short names %v, want %s", o.GetName(), sn, short)
			}
			versions := spec["versions"].([]any)
			v := versions[0].(map[string]any)
			if len(versions) != 1 || v["name"] != "v1beta2" || v["served"] != true || v["storage"] != true {
				t.Errorf("%s: versions %v", o.GetName(), versions)
			}
			if _, ok := v["subresources"].(map[string]any)["status"]; !ok {
				t.Errorf("%s: no status subresource", o.GetName())
			}
		}
	}
	if !sawDriver {
		t.Error("no CSIDriver driver.longhorn.io with attachRequired")
	}
	for name := range want {
		t.Errorf("missing CRD %s", name)
	}
}

// TestPacedQueue checks the queue-jam model: one worker spending itemCost per
// item drains n items in about n*itemCost, and duplicates of a queued key
// are dropped.
func TestPacedQueue(t *testing.T) {
	const n, cost = 40, 5 * time.Millisecond
	var mu sync.Mutex
	seen := map[string]int{}
	done := make(chan struct{})
	c := newController("jam", 4, cost, zerolog.Nop(), func(_ context.Context, key string) (time.Duration, error) {
		mu.Lock()
		defer mu.Unlock()
		seen[key]++
		if len(seen) == n {
			select {
			case <-done:
			default:
				close(done)
			}
		}
		return 0, nil
	})
	if c.workers != 1 {
		t.Fatalf("a paced queue must have one worker, has %d", c.workers)
	}
	for round := 0; round < 3; round++ {
		for i := 0; i < n; i++ {
			c.add(string(rune('A' + i)))
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	start := time.Now()
	go c.run(ctx)
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("queue did not drain")
	}
	took := time.Since(start)
	if min := time.Duration(n-1) * cost; took < min {
		t.Errorf("drained %d items in %v, faster than the model's %v", n, took, min)
	}
	if want := jamWait(n-1, cost); took > 3*want {
		t.Errorf("drained %d items in %v, much slower than the model's %v", n, took, want)
	}
	mu.Lock()
	defer mu.Unlock()
	for k, v := range seen {
		if v != 1 {
			t.Errorf("key %s processed %d times, want once (dedupe)", k, v)
		}
	}
}

func TestJamWait(t *testing.T) {
	for _, tt := range []struct {
		backlog int
		cost    time.Duration
		want    time.Duration
	}{
		{0, 20 * time.Millisecond, 20 * time.Millisecond},
		{899, 20 * time.Millisecond, 18 * time.Second},
		{7499, 20 * time.Millisecond, 150 * time.Second},
		{-3, time.Second, time.Second},
	} {
		if got := jamWait(tt.backlog, tt.cost); got != tt.want {
			t.Errorf("jamWait(%d, %v) = %v, want %v", tt.backlog, tt.cost, got, tt.want)
		}
	}
}
