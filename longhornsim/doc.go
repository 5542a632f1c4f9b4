// Package longhornsim plays the part of Longhorn (longhorn.io/v1beta2, the
// Longhorn ≥ 1.5 attachment model) on a local control plane whose nodes are
// fake, so that scenarios written for a real Longhorn cluster run unchanged
// against it, failures included. README.md in this folder is the page for
// users: what is modelled, what is not, how a plan triggers each failure.
//
// InstallCRDs installs structural CRDs for BackingImage (lhbi), Volume (lhv),
// Replica (lhr), Engine (lhe), VolumeAttachment (lhva), Node (lhn), Setting
// (lhs) and InstanceManager (lhim), the longhorn-system namespace and the
// CSIDriver driver.longhorn.io. Run installs them (Options.CRDs: CRDsKeep
// leaves installed CRDs, e.g. Longhorn's own, alone), serves Longhorn's
// admission webhook (see Admission), creates the settings
// Longhorn creates (with Longhorn's defaults, read live afterwards) and runs
// informer-driven controllers with work queues, each after the
// longhorn-manager controller it names:
//
//   - nodes (node.go): a Longhorn node and an instance manager per
//     Kubernetes node; Ready False with KubernetesNodeGone (node deleted),
//     KubernetesNodeNotReady, or ManagerPodDown (a NoExecute taint evicted
//     the manager), Schedulable False when cordoned.
//   - backing images: files on each node's disk go pending → in-progress →
//     ready within DownloadTime; minNumberOfCopies from the setting.
//   - CSI provisioning and attach: claims get volumes pvc-<claim uid> and
//     bound PVs; storage VolumeAttachments become csi-attacher tickets.
//   - volumes (volume.go, failures.go): replicas on distinct schedulable
//     nodes (any schedulable node with replica-soft-anti-affinity); a new
//     volume gets all its replicas at once, those no node can take with
//     spec.nodeID "" (unscheduled, never started), scheduled once a node can
//     take them (a Longhorn node change, or 30 s later), and the Scheduled
//     condition as reconcileVolumeCondition sets it (True on a detached
//     volume under allow-volume-creation-with-degraded-availability); the
//     engine, the VolumeAttachment; tickets decide spec.nodeID and
//     spec.disableFrontend; attaching waits for the backing image
//     (WaitForBackingImage) and for the engine's node. Replicas whose
//     instance manager stops are marked failed; an attached volume is
//     degraded, waits replica-replenishment-wait-interval for a failed
//     replica to come back (reusing it if it does), then rebuilds a new one,
//     one at a time. status.kubernetesStatus follows the PV, claim and pods.
//   - replicas and engines (instance.go): currentState follows desireState
//     where the instance manager runs (unknown or error where it does not);
//     rebuilding replicas start within concurrent-replica-rebuild-per-node-
//     limit; the engine's replicaModeMap has RW, WO for size ÷ RebuildRate
//     while rebuilding, and ERR for a lost replica.
//
// # The legacy-queue-jam model (Longhorn issue 3242, fixed in 1.2.3)
//
// In ModeLegacyQueueJam the replica queue is longhorn-manager 1.2.2's: 5
// workers, every enqueue AddRateLimited through Longhorn's rate limiter (a
// per-key exponential backoff from 5 ms to 1000 s, and a token bucket of
// 100 per second with a burst of 1000; longhornLimiter), informers resyncing
// every ResyncPeriod (30 s), and every backing image event, resyncs included,
// enqueueing every replica on the disks of the image's diskFileStatusMap. The
// bucket reserves a token for every call, duplicates included: with 10
// backing images a resync asks for about 12 × replicas tokens against the
// 3,000 granted in 30 s, so above ~250 replicas the wait grows with every
// resync instead of levelling off. Creating, attaching and deleting a volume
// all wait for replica processing (deletion through the replicas'
// finalizers). Default mode is the fix (PR 1166): backing image events wake
// only the replicas that use the image, without rate limit or resync.
//
// Each resync leaves the wait (B + 2) × R / 100 − 30 seconds higher than
// the last (B images, R replicas), so once it exceeds X plus one resync
// period it never falls below X while the workload stays. No object shows
// the wait: Options.Meter reads it (Meter.ReplicaQueueWait), so that tests
// wait for the jam to be established rather than for time. README.md has
// the arithmetic and the measured figures.
//
// Not modelled: data and I/O, snapshots, backups, restores, clones,
// expansion, RWX, data locality, auto-balance, zones, disk space, the v2
// engine; eviction (evictionRequested only keeps new replicas off); engine
// failures (a volume whose engine's node goes down stays attached with
// robustness unknown, no auto-salvage); Longhorn's own pods; the admission
// webhook's validation and ticket generation bumps.
//
// # Admission (webhook*.go)
//
// Run serves an admission webhook on a free loopback port with a CA made at
// start, and registers longhorn-webhook-mutator / longhorn-webhook-validator
// (webhooks mutator.longhorn.io, validator.longhorn.io) by URL with that CA
// as caBundle, replacing any left by an earlier run; it returns from start
// only once a dry-run create shows the API server calls it. It models
// longhorn-manager's webhook/resources/{volume,backingimage,volumeattachment}
// /{mutator,validator}.go (1.12), named function by function in
// webhook_admit.go:
//
//   - mutator: finalizer longhorn.io on Volume, BackingImage and
//     VolumeAttachment; BackingImage minNumberOfCopies from the setting
//     default-min-number-of-backing-image-copies (settings.longhorn.io, if it
//     exists; else 3) and dataEngine v1; Volume numberOfReplicas from
//     default-replica-count (3), size rounded up to 2 MiB, image, accessMode
//     rwo, dataEngine v1 and Longhorn's "ignored" defaults, label
//     longhornvolume; VolumeAttachment owner and label, and each changed
//     ticket's generation bumped (a new one continues from its status). Like
//     Longhorn it does not default frontend.
//   - validator, with Longhorn's messages (a client sees `admission webhook
//     "validator.longhorn.io" denied the request: <message>`, 422 Invalid): a
//     v1 volume without blockdev/iscsi frontend; a volume smaller than its
//     backing image's status.virtualSize (the simulated parrot image is
//     32 MiB) or on a missing one; deleting a backing image replicas use;
//     changing a volume's data engine; bad download URLs and copy counts;
//     inconsistent ticket ids, a VolumeAttachment's volume changing.
//   - finalizers go when Longhorn's controllers remove them
//     (webhook_finalizers.go): a deleted volume's engine, replicas and
//     VolumeAttachment are deleted, then its finalizer removed; a deleted
//     VolumeAttachment's once its volume is gone; a deleted backing image's
//     once no replica uses it.
//
// Failure policy is Fail, as Longhorn's: while the webhook is registered and
// the simulator does not answer (killed, SIGSTOP), writes of those three
// kinds are refused with "failed calling webhook". A simulator that stops
// normally (context cancelled, SIGTERM from `runner sim down`, which stops
// it before the API server) deletes its configurations first, so a cluster
// left without it accepts writes unchecked, as one without Longhorn would.
// Deletes of objects that carry the finalizer then wait, with a
// deletionTimestamp, until a simulator runs again and completes them, as
// they would wait for longhorn-manager (in the shared test cluster, a test
// that deletes after stopping its simulator leaves them to the next test's).
// A killed simulator's configurations stay until the next start replaces
// them. Plan cleanup retries deletes refused by a webhook for up to a
// minute: the seed's cleanup deletes its backing images while the volumes'
// replicas are still being deleted, which Longhorn refuses.
//
// The webhook models only the checks above (not, e.g., settings, nodes or
// the validators of other kinds).
//
// All durations, those of Options and of Longhorn's settings, are divided by
// SpeedFactor. The simulator writes only objects Longhorn or its CSI sidecars
// would write; it never polls the API in a loop (waits are work-queue
// requeues) and it has no package state.
package longhornsim
