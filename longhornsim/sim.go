package longhornsim

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/rs/zerolog"
	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/dynamic/dynamicinformer"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	storagelisters "k8s.io/client-go/listers/storage/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
)

// Index names on the informers.
const (
	byVolume       = "volume"       // replicas, engines: spec.volumeName
	byBackingImage = "backingImage" // volumes, replicas: spec.backingImage
	byPV           = "pv"           // storage VolumeAttachments: spec.source.persistentVolumeName
	byNode         = "node"         // replicas, engines: spec.nodeID
	byDisk         = "disk"         // replicas: spec.diskID
	byClaim        = "claim"        // pods: namespace/claim of each PVC volume
)

// legacyWorkers is longhorn-manager 1.2's Workers (controller_manager.go):
// the legacy model's replica queue is one manager's.
const legacyWorkers = managerWorkers

// Run installs the CRDs (idempotent) and runs the simulated Longhorn
// controllers against the cluster at cfg until ctx ends. It returns nil when
// ctx ends, also while it is still starting (a stop asked for, not a
// failure), and an error when it cannot start.
func Run(ctx context.Context, cfg *rest.Config, opts Options) error {
	workersSet := opts.Workers > 0
	opts, err := opts.withDefaults()
	if err != nil {
		return err
	}
	if err := start(ctx, cfg, opts, workersSet); err != nil && ctx.Err() == nil {
		return err
	}
	return nil
}

// start is Run with valid options.
func start(ctx context.Context, cfg *rest.Config, opts Options, workersSet bool) error {
	cfg = rest.CopyConfig(cfg)
	cfg.QPS, cfg.Burst = opts.QPS, opts.Burst
	cfg.UserAgent = "longhorn-sim"
	// Longhorn's finalizer "longhorn.io" has no path, which the API server
	// warns about on every write; Longhorn lives with that, its logs need not.
	cfg.WarningHandler = rest.NoWarnings{}
	// Built-in types travel as protobuf, as for kube-controller-manager and
	// the scheduler: cheaper for the API server than JSON, which matters when
	// the simulator shares two cores with it (longhorn-manager sends JSON;
	// the wire format changes no behaviour). Longhorn's resources are JSON.
	kubeCfg := rest.CopyConfig(cfg)
	kubeCfg.ContentType = runtime.ContentTypeProtobuf
	kubeCfg.AcceptContentTypes = runtime.ContentTypeProtobuf + "," + runtime.ContentTypeJSON
	kube, err := kubernetes.NewForConfig(kubeCfg)
	if err != nil {
		return fmt.Errorf("create clientset: %w", err)
	}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return fmt.Errorf("create dynamic client: %w", err)
	}
	if err := installCRDs(ctx, dyn, opts.CRDs); err != nil {
		return fmt.Errorf("install Longhorn CRDs: %w", err)
	}
	if !workersSet {
		// One longhorn-manager per node: count the nodes there are now.
		nodes, err := kube.CoreV1().Nodes().List(ctx, metav1.ListOptions{ResourceVersion: "0"})
		if err != nil {
			return fmt.Errorf("list nodes: %w", err)
		}
		opts.Workers = workersFor(len(nodes.Items))
	}
	s := newSim(kube, dyn, opts)
	return s.run(ctx)
}

// sim holds the clients, caches and controllers of one simulator.
type sim struct {
	opts Options
	log  zerolog.Logger
	kube kubernetes.Interface
	dyn  dynamic.Interface

	kubeInformers informers.SharedInformerFactory
	lhInformers   dynamicinformer.DynamicSharedInformerFactory

	nodes   corelisters.NodeLister
	pvcs    corelisters.PersistentVolumeClaimLister
	pvs     corelisters.PersistentVolumeLister
	classes storagelisters.StorageClassLister
	csiVAs  cache.SharedIndexInformer
	pods    cache.SharedIndexInformer

	backingImages cache.SharedIndexInformer
	volumes       cache.SharedIndexInformer
	replicas      cache.SharedIndexInformer
	engines       cache.SharedIndexInformer
	lhvas         cache.SharedIndexInformer
	lhNodes       cache.SharedIndexInformer
	settings      cache.SharedIndexInformer
	ims           cache.SharedIndexInformer

	biCtl, volCtl, repCtl, engCtl, pvcCtl, pvCtl, csiCtl, nodeCtl *controller

	broadcaster record.EventBroadcaster
	recorder    record.EventRecorder

	mu          sync.Mutex
	firstSeen   map[string]time.Time              // volume name -> first sync
	biStart     map[string]time.Time              // backing image name -> download start
	engineStart map[string]time.Time              // engine name -> start of "starting"
	rebuildFrom map[string]time.Time              // replica name -> start of its rebuild (WO)
	rebuilt     map[string]bool                   // replicas that went WO -> RW, until healthyAt is stamped
	nodeViews   map[string]nodeView               // node name -> what the controllers read about it
	inProgress  map[string]string                 // rebuilding replica let start -> its node
	expected    map[string]map[string]expectation // volume -> replicas created, not yet cached
	claimOf     map[string]string                 // volume -> key of the claim waiting for it
}

// newSim wires informers, handlers and controllers; opts must have defaults.
func newSim(kube kubernetes.Interface, dyn dynamic.Interface, opts Options) *sim {
	s := &sim{
		opts:        opts,
		log:         opts.Logger.With().Str("component", "longhorn-sim").Str("mode", opts.Mode).Logger(),
		kube:        kube,
		dyn:         dyn,
		firstSeen:   map[string]time.Time{},
		biStart:     map[string]time.Time{},
		engineStart: map[string]time.Time{},
		rebuildFrom: map[string]time.Time{},
		rebuilt:     map[string]bool{},
		nodeViews:   map[string]nodeView{},
		inProgress:  map[string]string{},
		expected:    map[string]map[string]expectation{},
		claimOf:     map[string]string{},
	}
	s.kubeInformers = informers.NewSharedInformerFactory(kube, 0)
	var resync time.Duration
	if opts.Mode == ModeLegacyQueueJam {
		// Longhorn 1.2 resynced every informer every 30 s; each resync is
		// an update event for every object, backing images included.
		resync = opts.ResyncPeriod
	}
	s.lhInformers = dynamicinformer.NewFilteredDynamicSharedInformerFactory(dyn, resync, Namespace, nil)

	s.nodes = s.kubeInformers.Core().V1().Nodes().Lister()
	s.pvcs = s.kubeInformers.Core().V1().PersistentVolumeClaims().Lister()
	s.pvs = s.kubeInformers.Core().V1().PersistentVolumes().Lister()
	s.classes = s.kubeInformers.Storage().V1().StorageClasses().Lister()
	s.csiVAs = s.kubeInformers.Storage().V1().VolumeAttachments().Informer()
	s.pods = s.kubeInformers.Core().V1().Pods().Informer()

	s.backingImages = s.lhInformers.ForResource(backingImageGVR).Informer()
	s.lhNodes = s.lhInformers.ForResource(lhNodeGVR).Informer()
	s.settings = s.lhInformers.ForResource(settingGVR).Informer()
	s.ims = s.lhInformers.ForResource(imGVR).Informer()
	s.volumes = s.lhInformers.ForResource(volumeGVR).Informer()
	s.replicas = s.lhInformers.ForResource(replicaGVR).Informer()
	s.engines = s.lhInformers.ForResource(engineGVR).Informer()
	s.lhvas = s.lhInformers.ForResource(lhvaGVR).Informer()

	mustIndex(s.replicas, cache.Indexers{byVolume: specIndex("volumeName"), byBackingImage: specIndex("backingImage"),
		byNode: specIndex("nodeID"), byDisk: specIndex("diskID")})
	mustIndex(s.engines, cache.Indexers{byVolume: specIndex("volumeName"), byNode: specIndex("nodeID")})
	mustIndex(s.pods, cache.Indexers{byClaim: func(obj any) ([]string, error) {
		p, ok := obj.(*corev1.Pod)
		if !ok {
			return nil, nil
		}
		var out []string
		for _, v := range p.Spec.Volumes {
			if v.PersistentVolumeClaim != nil {
				out = append(out, p.Namespace+"/"+v.PersistentVolumeClaim.ClaimName)
			}
		}
		return out, nil
	}})
	mustIndex(s.volumes, cache.Indexers{byBackingImage: specIndex("backingImage")})
	mustIndex(s.csiVAs, cache.Indexers{byPV: func(obj any) ([]string, error) {
		va, ok := obj.(*storagev1.VolumeAttachment)
		if !ok || va.Spec.Source.PersistentVolumeName == nil {
			return nil, nil
		}
		return []string{*va.Spec.Source.PersistentVolumeName}, nil
	}})

	w := opts.Workers
	s.biCtl = newController("backingimage", 2, s.log, s.syncBackingImage)
	s.volCtl = newController("volume", w, s.log, s.syncVolume)
	if opts.Mode == ModeLegacyQueueJam {
		// longhorn-manager 1.2: 5 workers, every enqueue rate-limited.
		limiter, bucket := longhornLimiter(opts.SpeedFactor)
		s.repCtl = newControllerWithLimiter("replica", legacyWorkers, true, limiter, s.log, s.syncReplica)
		if opts.Meter != nil {
			opts.Meter.replicaBucket.Store(bucket)
		}
	} else {
		s.repCtl = newController("replica", w, s.log, s.syncReplica)
	}
	s.engCtl = newController("engine", w, s.log, s.syncEngine)
	s.pvcCtl = newController("csi-provisioner", w, s.log, s.syncClaim)
	s.pvCtl = newController("csi-deleter", 2, s.log, s.syncPV)
	s.csiCtl = newController("csi-attacher", w, s.log, s.syncCSIAttachment)
	s.nodeCtl = newController("node", 2, s.log, s.syncLonghornNode)

	s.broadcaster = record.NewBroadcaster()
	s.recorder = s.broadcaster.NewRecorder(scheme.Scheme, corev1.EventSource{Component: DriverName})

	s.addHandlers()
	return s
}

func mustIndex(inf cache.SharedIndexInformer, idx cache.Indexers) {
	if err := inf.AddIndexers(idx); err != nil {
		// Only fails when the informer already started or an index name
		// repeats: a programming error.
		panic(fmt.Sprintf("add indexers: %v", err))
	}
}

// specIndex indexes unstructured objects by a string field of their spec.
func specIndex(field string) cache.IndexFunc {
	return func(obj any) ([]string, error) {
		u, ok := obj.(*unstructured.Unstructured)
		if !ok {
			return nil, nil
		}
		v, _, _ := unstructured.NestedString(u.Object, "spec", field)
		if v == "" {
			return nil, nil
		}
		return []string{v}, nil
	}
}

// handlerFunc builds an event handler that calls f with the object (the last
// known state for deletions).
func handlerFunc(f func(obj any)) cache.ResourceEventHandlerFuncs {
	return cache.ResourceEventHandlerFuncs{
		AddFunc:    f,
		UpdateFunc: func(_, obj any) { f(obj) },
		DeleteFunc: func(obj any) {
			if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
				obj = d.Obj
			}
			f(obj)
		},
	}
}

func nameOf(obj any) string {
	if m, ok := obj.(metav1.Object); ok {
		return m.GetName()
	}
	return ""
}

func specString(obj any, field string) string {
	u, ok := obj.(*unstructured.Unstructured)
	if !ok {
		return ""
	}
	v, _, _ := unstructured.NestedString(u.Object, "spec", field)
	return v
}

func statusString(obj any, field string) string {
	u, ok := obj.(*unstructured.Unstructured)
	if !ok {
		return ""
	}
	v, _, _ := unstructured.NestedString(u.Object, "status", field)
	return v
}

func (s *sim) addHandlers() {
	s.backingImages.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: func(obj any) { s.backingImageChanged(obj, true) },
		UpdateFunc: func(old, obj any) {
			changed := old.(metav1.Object).GetResourceVersion() != obj.(metav1.Object).GetResourceVersion()
			s.backingImageChanged(obj, changed)
		},
		DeleteFunc: func(obj any) {
			if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
				obj = d.Obj
			}
			s.backingImageChanged(obj, true)
		},
	})
	s.volumes.AddEventHandler(handlerFunc(func(obj any) {
		name := nameOf(obj)
		s.volCtl.add(name)
		s.enqueueCSIAttachments(name)
		if key, ok := s.claimWaitingFor(name); ok {
			s.pvcCtl.add(key)
		}
	}))
	s.replicas.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { s.replicaChanged(nil, obj) },
		UpdateFunc: func(old, obj any) { s.replicaChanged(old, obj) },
		DeleteFunc: func(obj any) {
			if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
				obj = d.Obj
			}
			s.replicaChanged(nil, obj)
		},
	})
	s.engines.AddEventHandler(handlerFunc(func(obj any) {
		s.engCtl.add(nameOf(obj))
		s.volCtl.add(specString(obj, "volumeName"))
	}))
	s.lhvas.AddEventHandler(handlerFunc(func(obj any) {
		vol := specString(obj, "volume")
		if vol == "" {
			vol = nameOf(obj)
		}
		s.volCtl.add(vol)
		s.enqueueCSIAttachments(vol)
	}))
	s.lhNodes.AddEventHandler(handlerFunc(func(obj any) {
		name := nameOf(obj)
		s.refreshNodeView(name)
		s.nodeCtl.add(name)
		s.enqueueVolumesOnNode(name)
		s.enqueueVolumesToSchedule()
	}))
	s.ims.AddEventHandler(handlerFunc(func(obj any) {
		// enqueueInstanceManagerChange: the replicas on the manager's node.
		node := specString(obj, "nodeID")
		s.refreshNodeView(node)
		reps, _ := s.replicas.GetIndexer().ByIndex(byNode, node)
		for _, r := range reps {
			s.repCtl.add(nameOf(r))
		}
		engs, _ := s.engines.GetIndexer().ByIndex(byNode, node)
		for _, e := range engs {
			s.engCtl.add(nameOf(e))
		}
	}))
	s.settings.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { s.settingChanged(nil, obj) },
		UpdateFunc: func(old, obj any) { s.settingChanged(old, obj) },
	})
	s.csiVAs.AddEventHandler(handlerFunc(func(obj any) { s.csiCtl.add(nameOf(obj)) }))
	s.kubeInformers.Core().V1().PersistentVolumeClaims().Informer().AddEventHandler(handlerFunc(func(obj any) {
		if key, err := cache.MetaNamespaceKeyFunc(obj); err == nil {
			s.pvcCtl.add(key)
		}
		if pvc, ok := obj.(*corev1.PersistentVolumeClaim); ok && pvc.Spec.VolumeName != "" {
			s.volCtl.add(s.volumeOfPV(pvc.Spec.VolumeName))
		}
	}))
	s.kubeInformers.Core().V1().PersistentVolumes().Informer().AddEventHandler(handlerFunc(func(obj any) {
		s.pvCtl.add(nameOf(obj))
		if pv, ok := obj.(*corev1.PersistentVolume); ok && pv.Spec.CSI != nil && pv.Spec.CSI.Driver == DriverName {
			s.volCtl.add(pv.Spec.CSI.VolumeHandle)
		}
	}))
	s.pods.AddEventHandler(handlerFunc(func(obj any) {
		p, ok := obj.(*corev1.Pod)
		if !ok {
			return
		}
		for _, v := range p.Spec.Volumes {
			if v.PersistentVolumeClaim == nil {
				continue
			}
			if pvc, err := s.pvcs.PersistentVolumeClaims(p.Namespace).Get(v.PersistentVolumeClaim.ClaimName); err == nil && pvc.Spec.VolumeName != "" {
				s.volCtl.add(s.volumeOfPV(pvc.Spec.VolumeName))
			}
		}
	}))
	s.kubeInformers.Core().V1().Nodes().Informer().AddEventHandler(handlerFunc(func(obj any) {
		s.nodeCtl.add(nameOf(obj))
		for _, k := range s.backingImages.GetStore().ListKeys() {
			s.biCtl.add(nameFromKey(k))
		}
	}))
	_ = s.kubeInformers.Storage().V1().StorageClasses().Informer()
}

// volumeOfPV is the Longhorn volume behind a PV (its CSI volume handle).
func (s *sim) volumeOfPV(pvName string) string {
	if pv, err := s.pvs.Get(pvName); err == nil && pv.Spec.CSI != nil && pv.Spec.CSI.Driver == DriverName {
		return pv.Spec.CSI.VolumeHandle
	}
	return ""
}

// replicaChanged enqueues a replica, its volume and its engine. A replica that stops
// rebuilding frees a rebuild slot on its node: the replica controller then
// looks again at the node's other rebuilding replicas
// (enqueueAllRebuildingReplicaOnCurrentNode).
func (s *sim) replicaChanged(old, obj any) {
	vol := specString(obj, "volumeName")
	s.repCtl.add(nameOf(obj))
	s.volCtl.add(vol)
	if vol != "" {
		// The engine monitors its replicas (replicaModeMap).
		s.engCtl.add(engineName(vol))
	}
	if old == nil {
		return
	}
	o, err1 := fromUnstructured[instance](old)
	n, err2 := fromUnstructured[instance](obj)
	if err1 == nil && err2 == nil && isRebuildingReplica(o) && !isRebuildingReplica(n) {
		s.enqueueRebuildingReplicas(n.Spec.NodeID)
	}
}

func (s *sim) enqueueRebuildingReplicas(node string) {
	reps, _ := listLH[instance](s.replicas, byNode, node)
	for _, r := range reps {
		if isRebuildingReplica(r) {
			s.repCtl.add(r.Name)
		}
	}
}

// settingChanged wakes what reads a setting that changed: volumes
// (replica counts, the replenishment wait), nodes (scheduling on cordoned
// nodes), and rebuilding replicas (the per-node rebuild limit).
func (s *sim) settingChanged(old, obj any) {
	if old != nil && old.(metav1.Object).GetResourceVersion() == obj.(metav1.Object).GetResourceVersion() {
		return
	}
	switch nameOf(obj) {
	case SettingConcurrentReplicaRebuildPerNodeLimit:
		for _, n := range s.nodeNames() {
			s.enqueueRebuildingReplicas(n)
		}
		fallthrough
	case SettingReplicaReplenishmentWaitInterval, SettingDefaultReplicaCount:
		for _, k := range s.volumes.GetStore().ListKeys() {
			s.volCtl.add(nameFromKey(k))
		}
	case SettingDisableSchedulingOnCordonedNode:
		for _, k := range s.lhNodes.GetStore().ListKeys() {
			s.nodeCtl.add(nameFromKey(k))
		}
	}
}

// enqueueVolumesToSchedule is the volume controller's enqueueNodeChange: on
// any Longhorn node change, the volumes with a replica that has no node
// (it may be scheduled now) or has failed (it may be reused). It also
// enqueues volumes without any replica, whose first replicas Longhorn
// creates once a node is schedulable (Longhorn's informer resync brings
// them back; the simulator's informers do not resync).
func (s *sim) enqueueVolumesToSchedule() {
	for _, key := range s.volumes.GetStore().ListKeys() {
		vol := nameFromKey(key)
		reps, _ := s.replicas.GetIndexer().ByIndex(byVolume, vol)
		wake := len(reps) == 0
		for _, r := range reps {
			if specString(r, "nodeID") == "" || specString(r, "failedAt") != "" {
				wake = true
				break
			}
		}
		if wake {
			s.volCtl.add(vol)
		}
	}
}

// enqueueVolumesOnNode enqueues the volumes with a replica or the engine on
// a node.
func (s *sim) enqueueVolumesOnNode(node string) {
	for _, inf := range []cache.SharedIndexInformer{s.replicas, s.engines} {
		objs, _ := inf.GetIndexer().ByIndex(byNode, node)
		for _, o := range objs {
			s.volCtl.add(specString(o, "volumeName"))
		}
	}
}

// backingImageChanged reacts to a backing image event. The replica
// controller's handler is where the two modes differ (Longhorn issue 3242).
// Legacy mode is longhorn-manager 1.2.2's enqueueBackingImageChange: for
// every disk in the image's diskFileStatusMap, every replica on that disk,
// whatever image it uses, for every event, resyncs included. Default mode is
// the fix (PR 1166): only the replicas that use the image, on real changes.
func (s *sim) backingImageChanged(obj any, changed bool) {
	name := nameOf(obj)
	if s.opts.Mode == ModeLegacyQueueJam {
		if u, ok := obj.(*unstructured.Unstructured); ok {
			files, _, _ := unstructured.NestedMap(u.Object, "status", "diskFileStatusMap")
			for disk := range files {
				reps, _ := s.replicas.GetIndexer().ByIndex(byDisk, disk)
				for _, r := range reps {
					s.repCtl.add(nameOf(r))
				}
			}
		}
	}
	if !changed {
		return
	}
	s.biCtl.add(name)
	if s.opts.Mode != ModeLegacyQueueJam {
		reps, _ := s.replicas.GetIndexer().ByIndex(byBackingImage, name)
		for _, r := range reps {
			s.repCtl.add(nameOf(r))
		}
	}
	vols, _ := s.volumes.GetIndexer().ByIndex(byBackingImage, name)
	for _, v := range vols {
		s.volCtl.add(nameOf(v))
	}
}

func (s *sim) enqueueCSIAttachments(vol string) {
	vas, _ := s.csiVAs.GetIndexer().ByIndex(byPV, vol)
	for _, va := range vas {
		s.csiCtl.add(nameOf(va))
	}
}

func nameFromKey(key string) string {
	_, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return key
	}
	return name
}

// run starts the informers and controllers and blocks until ctx ends.
func (s *sim) run(ctx context.Context) error {
	s.startManagers(ctx) // managers.go: queue metrics first, before anything is enqueued
	s.broadcaster.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: s.kube.CoreV1().Events("")})
	defer s.broadcaster.Shutdown()

	s.kubeInformers.Start(ctx.Done())
	s.lhInformers.Start(ctx.Done())
	synced := []cache.InformerSynced{s.backingImages.HasSynced, s.volumes.HasSynced, s.replicas.HasSynced,
		s.engines.HasSynced, s.lhvas.HasSynced, s.csiVAs.HasSynced, s.lhNodes.HasSynced, s.settings.HasSynced, s.ims.HasSynced}
	for _, ok := range s.kubeInformers.WaitForCacheSync(ctx.Done()) {
		if !ok {
			return fmt.Errorf("wait for Kubernetes caches: %w", context.Cause(ctx))
		}
	}
	if !cache.WaitForCacheSync(ctx.Done(), synced...) {
		return fmt.Errorf("wait for Longhorn caches: %w", context.Cause(ctx))
	}
	if err := s.ensureSettings(ctx); err != nil {
		return fmt.Errorf("create Longhorn settings: %w", err)
	}
	hook, err := s.startWebhook(ctx)
	if err != nil {
		return fmt.Errorf("start the admission webhook: %w", err)
	}
	defer s.stopWebhook(hook)
	s.log.Info().Int("workers", s.opts.Workers).Msg("Longhorn simulator running")

	var wg sync.WaitGroup
	for _, c := range s.controllers() {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.run(ctx)
		}()
	}
	wg.Wait()
	s.kubeInformers.Shutdown()
	s.lhInformers.Shutdown()
	return nil
}

func (s *sim) controllers() []*controller {
	return []*controller{s.biCtl, s.volCtl, s.repCtl, s.engCtl, s.pvcCtl, s.pvCtl, s.csiCtl, s.nodeCtl}
}

// nodeNames lists the cluster's nodes, sorted.
func (s *sim) nodeNames() []string {
	nodes, _ := s.nodes.List(labels.Everything())
	out := make([]string, 0, len(nodes))
	for _, n := range nodes {
		if n.DeletionTimestamp != nil {
			continue
		}
		out = append(out, n.Name)
	}
	sort.Strings(out)
	return out
}

// getLH returns a Longhorn object from an informer cache, converted.
func getLH[T any](inf cache.SharedIndexInformer, name string) (*T, error) {
	obj, ok, err := inf.GetStore().GetByKey(Namespace + "/" + name)
	if err != nil || !ok {
		return nil, err
	}
	return fromUnstructured[T](obj)
}

// listLH returns the converted objects of an index entry.
func listLH[T any](inf cache.SharedIndexInformer, index, value string) ([]*T, error) {
	objs, err := inf.GetIndexer().ByIndex(index, value)
	if err != nil {
		return nil, fmt.Errorf("index %s=%s: %w", index, value, err)
	}
	out := make([]*T, 0, len(objs))
	for _, o := range objs {
		t, err := fromUnstructured[T](o)
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, nil
}

// patch sends a JSON merge patch to a Longhorn object (or its status when
// sub is "status"). NotFound is not an error: the object went away.
func (s *sim) patch(ctx context.Context, gvr schema.GroupVersionResource, name string, body map[string]any, sub ...string) error {
	data, err := json.Marshal(body)
	if err != nil {
		return fmt.Errorf("marshal patch for %s %s: %w", gvr.Resource, name, err)
	}
	_, err = s.dyn.Resource(gvr).Namespace(Namespace).Patch(ctx, name, types.MergePatchType, data, metav1.PatchOptions{FieldManager: fieldManager}, sub...)
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("patch %s %s %v: %w", gvr.Resource, name, sub, err)
	}
	return nil
}

// create creates a Longhorn object; AlreadyExists is not an error.
func (s *sim) create(ctx context.Context, gvr schema.GroupVersionResource, obj any) error {
	u, err := toUnstructured(obj)
	if err != nil {
		return err
	}
	_, err = s.dyn.Resource(gvr).Namespace(Namespace).Create(ctx, u, metav1.CreateOptions{FieldManager: fieldManager})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("create %s %s: %w", gvr.Resource, u.GetName(), err)
	}
	return nil
}

func nowString() string { return time.Now().UTC().Format(time.RFC3339) }

// firstSeenAt returns when the simulator first saw a volume.
func (s *sim) firstSeenAt(vol string) time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.firstSeen[vol]
	if !ok {
		t = time.Now()
		s.firstSeen[vol] = t
	}
	return t
}

func (s *sim) forgetVolume(vol string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.firstSeen, vol)
	delete(s.expected, vol)
	delete(s.claimOf, vol)
}
