package longhornsim

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"k8s.io/client-go/rest"
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
			got := placeReplicas("pvc-1", tt.nodes, tt.taken, tt.want, false)
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
		count[placeReplicas(volumeNameForClaim(randomHex(8)), nodes, nil, 1, false)[0]]++
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
			got := ticketStatuses(tickets, nil, attachState{node: tt.attached}, "now")
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
	first := ticketStatuses(tickets, nil, attachState{node: "node-1"}, "t1")
	again := ticketStatuses(tickets, first, attachState{node: "node-1"}, "t2")
	if ts := again["longhorn-ui"].Conditions[0].LastTransitionTime; ts != "t1" {
		t.Errorf("transition time %q, want t1 kept", ts)
	}
	moved := ticketStatuses(tickets, first, attachState{node: "node-2"}, "t3")
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
	eng := func(node, state string) *instance {
		e := inst("e", node, "", state)
		if state == instRunning {
			e.Status.ReplicaModeMap = map[string]string{"r1": modeRW, "r2": modeRW, "r3": modeRW}
		}
		return e
	}
	failed := func(rs []*instance, i int) []*instance {
		rs[i].Spec.FailedAt = "2026-12-01T00:00:00Z"
		return rs
	}
	withMode := func(e *instance, r, mode string) *instance {
		if mode == "" {
			delete(e.Status.ReplicaModeMap, r)
		} else {
			e.Status.ReplicaModeMap[r] = mode
		}
		return e
	}
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
		{"a failed replica does not hold the attach", volumeView{wantReplicas: 3, replicas: failed(reps(instStopped), 2), engine: eng("node-1", instStopped), node: "node-1", provisionElapsed: true}, volStateAttaching, robustnessUnknown, instRunning, "", false, false},
		{"attached without a lost replica is degraded", volumeView{wantReplicas: 3, replicas: failed(reps(instRunning), 2), engine: withMode(eng("node-1", instRunning), "r3", ""), node: "node-1", provisionElapsed: true}, volStateAttached, robustnessDegraded, instRunning, instRunning, false, false},
		{"a rebuilding (WO) replica is not healthy yet", volumeView{wantReplicas: 3, replicas: reps(instRunning), engine: withMode(eng("node-1", instRunning), "r3", modeWO), node: "node-1", provisionElapsed: true}, volStateAttached, robustnessDegraded, instRunning, instRunning, false, false},
		{"an ERR replica is not healthy", volumeView{wantReplicas: 3, replicas: reps(instRunning), engine: withMode(eng("node-1", instRunning), "r1", modeERR), node: "node-1", provisionElapsed: true}, volStateAttached, robustnessDegraded, instRunning, instRunning, false, false},
		{"no RW replica is faulted", volumeView{wantReplicas: 3, replicas: reps(instRunning), engine: withMode(withMode(withMode(eng("node-1", instRunning), "r1", modeERR), "r2", modeERR), "r3", modeERR), node: "node-1", provisionElapsed: true}, volStateAttached, robustnessFaulted, instRunning, instRunning, false, false},
		{"every replica failed", volumeView{wantReplicas: 3, replicas: failed(failed(failed(reps(instStopped), 0), 1), 2), engine: eng("", instStopped), node: "node-1", provisionElapsed: true}, volStateDetached, robustnessFaulted, instStopped, instStopped, false, false},
		{"engine's node down under an attached volume", volumeView{wantReplicas: 3, replicas: reps(instRunning), engine: eng("node-1", instUnknown), node: "node-1", provisionElapsed: true}, volStateAttached, robustnessUnknown, instRunning, instRunning, false, false},
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

	// An attach to a node whose instance manager does not run stays
	// attaching and says why.
	v := volumeView{wantReplicas: 3, replicas: reps(instRunning), engine: eng("node-1", instStopped), node: "node-1",
		nodeDown: "node node-1 is not ready", provisionElapsed: true}
	if d := decideVolume(v); d.state != volStateAttaching || d.blocked != v.nodeDown {
		t.Errorf("attach to a down node: %+v, want attaching blocked by %q", d, v.nodeDown)
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
				o.AttachTime == 300*time.Millisecond && o.ResyncPeriod == 30*time.Second && o.RebuildRate == 100<<20 &&
				o.QPS == 500 && o.Burst == 1000 && o.Workers == 15
		}, false},
		{"speed factor", Options{SpeedFactor: 2, AttachTime: time.Second}, func(o Options) bool {
			return o.AttachTime == 500*time.Millisecond && o.DownloadTime == time.Second && o.ResyncPeriod == 15*time.Second &&
				o.RebuildRate == 200<<20
		}, false},
		{"legacy", Options{Mode: ModeLegacyQueueJam}, func(o Options) bool { return o.Mode == ModeLegacyQueueJam }, false},
		{"workers set", Options{Workers: 4}, func(o Options) bool { return o.Workers == 4 }, false},
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
		"nodes.longhorn.io":             "lhn",
		"settings.longhorn.io":          "lhs",
		"instancemanagers.longhorn.io":  "lhim",
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

// TestLonghornLimiter checks the legacy queue's rate limiter against
// longhorn-manager's EnhancedDefaultControllerRateLimiter: the first 1,000
// calls pass at once (the bucket's burst), every further call waits 10 ms
// more than the one before (100 per second), duplicates included, and a key
// enqueued again before it was processed backs off exponentially from 5 ms.
func TestLonghornLimiter(t *testing.T) {
	tests := []struct {
		speed      float64
		calls      int
		wantMin    time.Duration
		wantMax    time.Duration
		sameKey    bool
		wantOnCall int
	}{
		{speed: 1, calls: 1000, wantMin: 5 * time.Millisecond, wantMax: 6 * time.Millisecond},
		{speed: 1, calls: 2000, wantMin: 9900 * time.Millisecond, wantMax: 10 * time.Second},
		{speed: 1, calls: 4000, wantMin: 29900 * time.Millisecond, wantMax: 30 * time.Second},
		{speed: 10, calls: 4000, wantMin: 2990 * time.Millisecond, wantMax: 3 * time.Second},
		{speed: 1, calls: 10, sameKey: true, wantMin: 2560 * time.Millisecond, wantMax: 2561 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("speed %v, %d calls, same key %v", tt.speed, tt.calls, tt.sameKey), func(t *testing.T) {
			l, bucket := longhornLimiter(tt.speed)
			var last time.Duration
			start := time.Now()
			for i := 0; i < tt.calls; i++ {
				key := fmt.Sprintf("replica-%d", i)
				if tt.sameKey {
					key = "replica"
				}
				last = l.When(key)
			}
			// The bucket refills while the loop runs (real time): a slow
			// machine may see the last wait shorter by that much.
			if last < tt.wantMin-time.Since(start) || last > tt.wantMax {
				t.Errorf("call %d waits %v, want %v..%v", tt.calls, last, tt.wantMin, tt.wantMax)
			}
			// The meter reads the bucket's wait: the tokens reserved ahead,
			// as many as the last call waited for, less the refill since;
			// zero while the burst lasts.
			m := &Meter{}
			m.replicaBucket.Store(bucket)
			got, wantAbout := m.ReplicaQueueWait(), time.Duration(0)
			if tt.calls > 1000 && !tt.sameKey {
				wantAbout = last
			}
			if got > wantAbout+time.Millisecond || got < wantAbout-time.Since(start) {
				t.Errorf("meter reads a wait of %v after %d calls, want about %v", got, tt.calls, wantAbout)
			}
		})
	}
	l, _ := longhornLimiter(1)
	for i := 0; i < 5; i++ {
		l.When("r")
	}
	l.Forget("r")
	if d := l.When("r"); d != 5*time.Millisecond {
		t.Errorf("after Forget a key waits %v, want the 5ms base", d)
	}
}

// TestRunStoppedWhileStartingIsNoError: a stop that comes while Run still
// starts (here before it sends anything) is what the caller asked for, and
// Run returns nil as it does once running. It used to return the start's
// "context canceled" (TestIntegrationWebhookStopRemovesConfiguration failed
// in CI when its stop came while the simulator waited for its webhook).
func TestRunStoppedWhileStartingIsNoError(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := Run(ctx, &rest.Config{Host: "https://127.0.0.1:1"}, Options{}); err != nil {
		t.Errorf("Run after its context ended: %v, want nil", err)
	}
}
