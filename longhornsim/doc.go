// Package longhornsim plays the part of Longhorn (longhorn.io/v1beta2, the
// Longhorn ≥ 1.5 attachment model) on a local control plane whose nodes are
// fake, so that scenarios written for a real Longhorn cluster run unchanged
// against it.
//
// InstallCRDs installs structural CRDs for BackingImage (lhbi), Volume (lhv),
// Replica (lhr), Engine (lhe) and VolumeAttachment (lhva), the
// longhorn-system namespace and the CSIDriver driver.longhorn.io. Run
// installs them (Options.CRDs: CRDsKeep leaves installed CRDs, e.g.
// Longhorn's own, alone), serves Longhorn's admission webhook (below) and
// runs informer-driven controllers with work queues:
//
//   - backing images: the file on each node's one disk (a stable fake disk
//     UUID per node) goes pending → in-progress (progress) → ready within
//     DownloadTime, then status.checksum, size and virtualSize are set.
//   - CSI provisioning (external provisioner + CreateVolume): a claim of a
//     driver.longhorn.io class gets a Volume pvc-<claim uid>, then a PV bound
//     to the claim; a missing backing image leaves the claim Pending with a
//     Warning ProvisioningFailed event. A released PV with reclaim policy
//     Delete loses its Volume (whose replicas, engine and VolumeAttachment go
//     before its finalizer, see Admission) and is deleted.
//   - volumes: replicas <vol>-r-<rand> on distinct nodes, engine <vol>-e-0,
//     and, VolumeAttachmentDelay later, the longhorn.io VolumeAttachment of
//     the same name. The tickets in spec.attachmentTickets decide
//     spec.nodeID (a ticket for the current node keeps it, else the highest
//     priority ticket wins, none detaches). Attaching waits for the backing
//     image (condition WaitForBackingImage), starts the replicas, then the
//     engine, which runs AttachTime later; the volume is then attached and
//     healthy and the tickets for that node are satisfied, with the ticket's
//     generation. Detaching stops engine and replicas.
//   - CSI attach (external attacher + ControllerPublishVolume): a storage
//     VolumeAttachment for driver.longhorn.io adds a csi-attacher-<hash>
//     ticket and is marked attached once the ticket is satisfied; its
//     deletion removes the ticket, waits for the detach and drops the
//     attacher's finalizer.
//
// # The legacy-queue-jam model (Longhorn issue 3242, fixed in 1.2.3)
//
// Replicas are brought to their desired state (stopped, running) by a
// replica work queue. Creating a volume needs each of its replicas processed
// once; attaching and detaching need them processed again. In default mode
// that queue has Workers workers and backing-image events enqueue only the
// replicas that use the image, as after the fix.
//
// In ModeLegacyQueueJam the replica queue has one worker that spends
// JamItemCost on every item, so it drains at 1/JamItemCost items a second,
// and every backing-image event, whether or not any volume uses the image,
// enqueues every replica of the cluster. The backing-image informer also
// resyncs every BackingImageRefresh, as Longhorn 1.2's informers resynced
// (30 s) and its backing image manager refreshed status; a resync delivers an
// update event for each backing image without writing to the API. The queue
// deduplicates keys, so it holds at most one entry per replica, but it is
// refilled faster than it drains as soon as replicas × JamItemCost exceeds
// BackingImageRefresh ÷ backing images. A replica enqueued then waits for
// the backlog ahead of it: about replicas × JamItemCost (jamWait). With 300
// volumes (900 replicas) and the default 20 ms that is ~18 s per step, and a
// new volume needs two steps (create, attach); with 2,500 volumes it is
// ~2.5 minutes per step. In default mode a new volume attaches in about
// ProvisionTime + AttachTime whatever the number of volumes.
//
// Measured on the 2-core test machine (integration tests, default timings):
// with 300 volumes a new volume is created and attached through a longhorn-ui
// ticket in ~0.65 s in default mode and ~34 s in legacy-queue-jam mode; with
// 2,500 volumes (7,500 replicas) ~0.64 s and ~5 min 19 s. The seed's
// StatefulSet at 25 pods (250 volumes) is ready in ~23 s (default) and ~39 s
// (legacy), after which a new volume attaches in ~0.64 s and ~30 s.
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
// Not modelled: the jam does not slow volume deletion (the finalizer
// controller deletes replicas and engines off the jammed queue), replicas never fail or rebuild, and
// spec.healthyAt and status.kubernetesStatus are not written. The webhook
// models only the checks above (not, e.g., settings, nodes or the
// validators of other kinds).
//
// All durations are divided by SpeedFactor. The simulator writes only
// objects Longhorn or its CSI sidecars would write; it never polls the API in
// a loop (waits are work-queue requeues) except while starting (CRDs
// Established, webhook called), and it has no package state.
package longhornsim
