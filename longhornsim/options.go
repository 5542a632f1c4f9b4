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
	// ModeLegacyQueueJam models Longhorn 1.2.2 and older: every backing-image
	// event enqueues every replica into one slowly drained queue.
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

	// DownloadTime is how long a backing image takes to download to a disk.
	DownloadTime time.Duration
	// ProvisionTime is how long a new volume stays in state "creating".
	ProvisionTime time.Duration
	// AttachTime is how long an engine takes to start once its replicas run.
	AttachTime time.Duration
	// SpeedFactor divides every simulated duration above and the legacy
	// model's durations below; 2 runs the simulation twice as fast.
	SpeedFactor float64

	// VolumeAttachmentDelay is how long after a volume its longhorn.io
	// VolumeAttachment appears.
	VolumeAttachmentDelay time.Duration

	// JamItemCost is, in legacy-queue-jam mode, the time the single replica
	// worker spends on each queued replica (the queue drains at 1/JamItemCost).
	JamItemCost time.Duration
	// BackingImageRefresh is, in legacy-queue-jam mode, how often each backing
	// image produces a status refresh event (Longhorn's backing image manager
	// monitor plus the 30s informer resync).
	BackingImageRefresh time.Duration

	// Workers is the number of workers of each ordinary work queue.
	Workers int
	// QPS and Burst configure the client; high enough for 2,500 volumes.
	QPS   float32
	Burst int
}

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
	def(&o.JamItemCost, 20*time.Millisecond)
	def(&o.BackingImageRefresh, 5*time.Second)
	if o.Workers <= 0 {
		o.Workers = 8
	}
	if o.QPS <= 0 {
		o.QPS = 500
	}
	if o.Burst <= 0 {
		o.Burst = 1000
	}
	return o, nil
}
