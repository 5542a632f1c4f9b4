package longhornsim

import (
	"fmt"
	"time"

	"github.com/rs/zerolog"
)

// Simulation modes accepted in Options.Mode.
const (
	// ModeDefault behaves like a Longhorn release with the fix for issue 3242:
	// backing-image events only wake the replicas that use the image, and the
	// replica queue has several workers.
	ModeDefault = "default"
	// ModeLegacyQueueJam models Longhorn 1.2.2 and older (issue 3242): every
	// backing-image event, the 30 s resyncs included, enqueues every replica
	// on the image's disks into the rate-limited replica queue.
	ModeLegacyQueueJam = "legacy-queue-jam"
)

// Options tune the simulator. The zero value is usable: withDefaults fills
// every unset field.
type Options struct {
	// Mode is ModeDefault ("default", also when empty) or ModeLegacyQueueJam.
	Mode string
	// Logger receives the simulator's logs.
	Logger zerolog.Logger
	// CRDs is what Run does with the Longhorn CRDs: CRDsInstall (also when
	// empty) or CRDsKeep.
	CRDs string
	// DataDir is the root of the volumes' data (localcluster.Options.DataDir):
	// each volume's files live in <DataDir>/driver.longhorn.io/<volume>/,
	// which the local cluster's exec endpoint mounts into the pods that use
	// the volume. Empty: volumes keep no data.
	DataDir string

	// DownloadTime is how long a backing image takes to download to a disk.
	DownloadTime time.Duration
	// ProvisionTime is how long a new volume stays in state "creating".
	ProvisionTime time.Duration
	// AttachTime is how long an engine takes to start once its replicas run.
	AttachTime time.Duration
	// SpeedFactor divides every simulated duration, those above, the legacy
	// model's, and the durations of Longhorn's settings (for example
	// replica-replenishment-wait-interval), and multiplies RebuildRate and the
	// legacy queue's rate; 2 runs the simulation twice as fast.
	SpeedFactor float64

	// VolumeAttachmentDelay is how long after a volume its longhorn.io
	// VolumeAttachment appears.
	VolumeAttachmentDelay time.Duration

	// RebuildRate is how many bytes a second a replica rebuild copies: a
	// rebuilding replica stays WO for its volume's size / RebuildRate.
	RebuildRate int64

	// ResyncPeriod is, in legacy-queue-jam mode, the resync period of the
	// Longhorn informers (longhorn-manager 1.2 resynced every informer every
	// 30 s; each resync is an update event for every object).
	ResyncPeriod time.Duration

	// Meter, if set, is connected to the simulator Run starts, for reading
	// modelled state no object shows (the legacy replica queue's wait).
	Meter *Meter

	// Workers is the number of workers of each ordinary work queue.
	// Default: managerWorkers for each node of the cluster when the
	// simulator starts (Run), at least one node's.
	Workers int
	// MetricsVersion is the Longhorn release (major.minor) whose metrics
	// the managers export: before 1.3 no longhorn_workqueue_*, before 1.9
	// no engine and replica metrics, from 1.11 volume state and robustness
	// as one series per state (label state, 1 for the current one) instead
	// of a numeric code. Default DefaultMetricsVersion.
	MetricsVersion string
	// ManagerAddress is the IP the longhorn-manager pods' metrics are
	// served on, one port per node, and the pods' IP: it must be an address
	// of this host that the API server can reach and may proxy to (not
	// loopback). Empty picks the first global unicast IPv4 address of an
	// interface that is up; ManagerAddressNone serves none and creates no
	// manager pods.
	ManagerAddress string
	// QPS and Burst configure the client; high enough for 2,500 volumes.
	QPS   float32
	Burst int
}

// The simulator is one process playing the longhorn-manager of every node.
// Each longhorn-manager runs managerWorkers workers per controller
// (controller.Workers in longhorn-manager's controller/controller_manager.go)
// for the volumes, replicas and engines its node owns, so a cluster of N
// nodes works on N × managerWorkers objects of a kind at once.
// defaultManagers is the seed cluster's node count, for a simulator that
// does not count them.
const (
	managerWorkers  = 5
	defaultManagers = 3
)

// workersFor is the number of workers of each ordinary work queue for a
// cluster of nodes nodes.
func workersFor(nodes int) int { return managerWorkers * max(nodes, 1) }

// withDefaults returns a copy of o with every unset field filled in and the
// speed factor applied to the durations. It is the only place defaults live.
func (o Options) withDefaults() (Options, error) {
	switch o.Mode {
	case "":
		o.Mode = ModeDefault
	case ModeDefault, ModeLegacyQueueJam:
	default:
		return o, fmt.Errorf("unknown simulator mode %q (want %q or %q)", o.Mode, ModeDefault, ModeLegacyQueueJam)
	}
	if o.MetricsVersion == "" {
		o.MetricsVersion = DefaultMetricsVersion
	}
	if _, err := parseMetricsVersion(o.MetricsVersion); err != nil {
		return o, err
	}
	switch o.CRDs {
	case "":
		o.CRDs = CRDsInstall
	case CRDsInstall, CRDsKeep:
	default:
		return o, fmt.Errorf("unknown CRDs choice %q (want %q or %q)", o.CRDs, CRDsInstall, CRDsKeep)
	}
	if o.SpeedFactor < 0 {
		return o, fmt.Errorf("speed factor %v must not be negative", o.SpeedFactor)
	}
	if o.SpeedFactor == 0 {
		o.SpeedFactor = 1
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
		*d = time.Duration(float64(*d) / o.SpeedFactor)
	}
	def(&o.DownloadTime, 2*time.Second)
	def(&o.ProvisionTime, 200*time.Millisecond)
	def(&o.AttachTime, 300*time.Millisecond)
	def(&o.VolumeAttachmentDelay, 100*time.Millisecond)
	def(&o.ResyncPeriod, 30*time.Second)
	if o.RebuildRate <= 0 {
		o.RebuildRate = 100 << 20
	}
	o.RebuildRate = int64(float64(o.RebuildRate) * o.SpeedFactor)
	if o.Workers <= 0 {
		o.Workers = workersFor(defaultManagers)
	}
	if o.QPS <= 0 {
		o.QPS = 500
	}
	if o.Burst <= 0 {
		o.Burst = 1000
	}
	return o, nil
}
