package longhornsim

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// DefaultMetricsVersion is the Longhorn release whose metrics the managers
// export unless Options.MetricsVersion says.
const DefaultMetricsVersion = "1.10"

// metricsVersion is a Longhorn release, major and minor.
type metricsVersion struct{ major, minor int }

func (v metricsVersion) atLeast(major, minor int) bool {
	return v.major > major || (v.major == major && v.minor >= minor)
}

func parseMetricsVersion(s string) (metricsVersion, error) {
	var v metricsVersion
	if _, err := fmt.Sscanf(strings.TrimPrefix(s, "v"), "%d.%d", &v.major, &v.minor); err != nil {
		return v, fmt.Errorf("metrics version %q: want a Longhorn release such as 1.10", s)
	}
	return v, nil
}

// nodeCollector reports, as one node's longhorn-manager does
// (metrics_collector/), the volumes the node owns (status.ownerID), the
// node and its disk, and the engines and replicas on it (Longhorn ≥ 1.9),
// read from the simulator's caches at each scrape, in the shape of the
// Longhorn release Options.MetricsVersion names.
type nodeCollector struct {
	s    *sim
	node string
	v    metricsVersion
}

var (
	volumeLabels = []string{"node", "volume", "pvc", "pvc_namespace"}

	volCapacityDesc   = prometheus.NewDesc("longhorn_volume_capacity_bytes", "Configured size in bytes for this volume", volumeLabels, nil)
	volActualDesc     = prometheus.NewDesc("longhorn_volume_actual_size_bytes", "Actual space used by each replica of the volume on the corresponding node", volumeLabels, nil)
	volStateDesc      = prometheus.NewDesc("longhorn_volume_state", "The current state of this volume: 1=creating, 2=attached, 3=detached, 4=attaching, 5=detaching, 6=deleting", volumeLabels, nil)
	volRobustnessDesc = prometheus.NewDesc("longhorn_volume_robustness", "The current robustness of this volume: 0=unknown, 1=healthy, 2=degraded, 3=faulted", volumeLabels, nil)
	// From Longhorn 1.11: one series per state, 1 for the current one.
	volStateLabelledDesc      = prometheus.NewDesc("longhorn_volume_state", "The current state of this volume", append(volumeLabels[:4:4], "state"), nil)
	volRobustnessLabelledDesc = prometheus.NewDesc("longhorn_volume_robustness", "The current robustness of this volume", append(volumeLabels[:4:4], "state"), nil)

	nodeCountDesc    = prometheus.NewDesc("longhorn_node_count_total", "Total number of nodes", nil, nil)
	nodeStatusDesc   = prometheus.NewDesc("longhorn_node_status", "Status of this node", []string{"node", "condition", "condition_reason"}, nil)
	nodeCapacityDesc = prometheus.NewDesc("longhorn_node_storage_capacity_bytes", "The storage capacity of this node", []string{"node"}, nil)
	nodeUsageDesc    = prometheus.NewDesc("longhorn_node_storage_usage_bytes", "The used storage of this node", []string{"node"}, nil)
	nodeReservedDesc = prometheus.NewDesc("longhorn_node_storage_reservation_bytes", "The reserved storage for other applications and system on this node", []string{"node"}, nil)

	diskCapacityDesc = prometheus.NewDesc("longhorn_disk_capacity_bytes", "The storage capacity of this disk", []string{"node", "disk"}, nil)
	diskUsageDesc    = prometheus.NewDesc("longhorn_disk_usage_bytes", "The used storage of this disk", []string{"node", "disk"}, nil)
	diskReservedDesc = prometheus.NewDesc("longhorn_disk_reservation_bytes", "The reserved storage for other applications and system on this disk", []string{"node", "disk"}, nil)
	diskStatusDesc   = prometheus.NewDesc("longhorn_disk_status", "The status of this disk", []string{"node", "disk", "condition", "condition_reason"}, nil)

	engineStateDesc  = prometheus.NewDesc("longhorn_engine_state", "The current state of this engine", []string{"engine", "volume", "node", "state"}, nil)
	engineModeDesc   = prometheus.NewDesc("longhorn_engine_replica_mode", "Reported replica mode from the engine", []string{"engine", "volume", "replica", "mode"}, nil)
	replicaStateDesc = prometheus.NewDesc("longhorn_replica_state", "The current state of this replica", []string{"replica", "volume", "node", "state"}, nil)
	replicaInfoDesc  = prometheus.NewDesc("longhorn_replica_info", "Static information about this replica", []string{"replica", "volume", "node", "disk_path", "data_engine"}, nil)
)

// instanceStates are the states Longhorn reports a series for, the current
// one at 1.
var instanceStates = []string{"running", "stopped", "error", "starting", "stopping", "unknown"}

var (
	volumeStates = []string{"creating", "attached", "detached", "attaching", "detaching", "deleting"}
	robustnesses = []string{"unknown", "healthy", "degraded", "faulted"}
)

var volumeStateCodes = map[string]float64{"creating": 1, "attached": 2, "detached": 3, "attaching": 4, "detaching": 5, "deleting": 6}

var robustnessCodes = map[string]float64{"unknown": 0, "healthy": 1, "degraded": 2, "faulted": 3}

// Describe implements prometheus.Collector (unchecked).
func (c *nodeCollector) Describe(chan<- *prometheus.Desc) {}

func gauge(ch chan<- prometheus.Metric, d *prometheus.Desc, v float64, labels ...string) {
	ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
}

func nested(obj any, path ...string) string {
	u, ok := obj.(*unstructured.Unstructured)
	if !ok {
		return ""
	}
	v, _, _ := unstructured.NestedFieldNoCopy(u.Object, path...)
	switch x := v.(type) {
	case string:
		return x
	case int64:
		return strconv.FormatInt(x, 10)
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case bool:
		return strconv.FormatBool(x)
	}
	return ""
}

// Collect implements prometheus.Collector.
func (c *nodeCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.s
	for _, v := range s.volumes.GetStore().List() {
		if nested(v, "status", "ownerID") != c.node {
			continue
		}
		l := []string{c.node, nameOf(v), nested(v, "status", "kubernetesStatus", "pvcName"), nested(v, "status", "kubernetesStatus", "namespace")}
		size, _ := strconv.ParseFloat(nested(v, "spec", "size"), 64)
		actual, _ := strconv.ParseFloat(nested(v, "status", "actualSize"), 64)
		gauge(ch, volCapacityDesc, size, l...)
		gauge(ch, volActualDesc, actual, l...)
		if c.v.atLeast(1, 11) {
			state, rob := nested(v, "status", "state"), nested(v, "status", "robustness")
			for _, st := range volumeStates {
				gauge(ch, volStateLabelledDesc, boolValue(st == state), append(l[:4:4], st)...)
			}
			for _, r := range robustnesses {
				gauge(ch, volRobustnessLabelledDesc, boolValue(r == rob), append(l[:4:4], r)...)
			}
		} else {
			gauge(ch, volStateDesc, volumeStateCodes[nested(v, "status", "state")], l...)
			gauge(ch, volRobustnessDesc, robustnessCodes[nested(v, "status", "robustness")], l...)
		}
	}

	gauge(ch, nodeCountDesc, float64(len(s.lhNodes.GetStore().ListKeys())))
	if obj, ok, _ := s.lhNodes.GetStore().GetByKey(Namespace + "/" + c.node); ok {
		if n, err := fromUnstructured[lhNode](obj); err == nil {
			for _, cond := range n.Status.Conditions {
				gauge(ch, nodeStatusDesc, boolValue(cond.Status == "True"), c.node, strings.ToLower(cond.Type), cond.Reason)
			}
			gauge(ch, nodeStatusDesc, boolValue(n.Spec.AllowScheduling), c.node, "allowScheduling", "")
			var reserved float64
			for name := range n.Spec.Disks {
				res, _ := strconv.ParseFloat(nested(obj, "spec", "disks", name, "storageReserved"), 64)
				reserved += res
				gauge(ch, diskCapacityDesc, simulatedDiskSize, c.node, name)
				gauge(ch, diskUsageDesc, 0, c.node, name)
				gauge(ch, diskReservedDesc, res, c.node, name)
				conds, _, _ := unstructured.NestedSlice(obj.(*unstructured.Unstructured).Object, "status", "diskStatus", name, "conditions")
				for _, dc := range conds {
					m, _ := dc.(map[string]any)
					typ, _ := m["type"].(string)
					status, _ := m["status"].(string)
					reason, _ := m["reason"].(string)
					gauge(ch, diskStatusDesc, boolValue(status == "True"), c.node, name, strings.ToLower(typ), reason)
				}
			}
			gauge(ch, nodeCapacityDesc, float64(simulatedDiskSize*len(n.Spec.Disks)), c.node)
			gauge(ch, nodeUsageDesc, 0, c.node)
			gauge(ch, nodeReservedDesc, reserved, c.node)
		}
	}

	if !c.v.atLeast(1, 9) {
		return // engine and replica metrics came in Longhorn 1.9
	}
	engines, _ := s.engines.GetIndexer().ByIndex(byNode, c.node)
	for _, e := range engines {
		name, vol, cur := nameOf(e), nested(e, "spec", "volumeName"), nested(e, "status", "currentState")
		for _, st := range instanceStates {
			gauge(ch, engineStateDesc, boolValue(cur == st), name, vol, c.node, st)
		}
		modes, _, _ := unstructured.NestedStringMap(e.(*unstructured.Unstructured).Object, "status", "replicaModeMap")
		for r, mode := range modes {
			gauge(ch, engineModeDesc, 1, name, vol, r, mode)
		}
	}
	replicas, _ := s.replicas.GetIndexer().ByIndex(byNode, c.node)
	for _, r := range replicas {
		name, vol, cur := nameOf(r), nested(r, "spec", "volumeName"), nested(r, "status", "currentState")
		gauge(ch, replicaInfoDesc, 1, name, vol, c.node, "/var/lib/longhorn/", "v1")
		for _, st := range instanceStates {
			gauge(ch, replicaStateDesc, boolValue(cur == st), name, vol, c.node, st)
		}
	}
}

func boolValue(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
