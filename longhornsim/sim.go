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
)

// Run installs the CRDs (idempotent) and runs the simulated Longhorn
// controllers against the cluster at cfg until ctx ends. It returns nil when
// ctx ends and an error when it cannot start.
func Run(ctx context.Context, cfg *rest.Config, opts Options) error {
	opts, err := opts.withDefaults()
	if err != nil {
		return err
	}
	cfg = rest.CopyConfig(cfg)
	cfg.QPS, cfg.Burst = opts.QPS, opts.Burst
	cfg.UserAgent = "longhorn-sim"
	cfg.WarningHandler = rest.NoWarnings{} // e.g. the API server's advice on the finalizer name longhorn.io
	kube, err := kubernetes.NewForConfig(cfg)
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

	backingImages cache.SharedIndexInformer
	volumes       cache.SharedIndexInformer
	replicas      cache.SharedIndexInformer
	engines       cache.SharedIndexInformer
	lhvas         cache.SharedIndexInformer

	biCtl, volCtl, repCtl, engCtl, pvcCtl, pvCtl, csiCtl *controller
	finCtl                                               *controller // webhook_finalizers.go

	broadcaster record.EventBroadcaster
	recorder    record.EventRecorder

	mu          sync.Mutex
	firstSeen   map[string]time.Time              // volume name -> first sync
	biStart     map[string]time.Time              // backing image name -> download start
	engineStart map[string]time.Time              // engine name -> start of "starting"
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
		expected:    map[string]map[string]expectation{},
		claimOf:     map[string]string{},
	}
	s.kubeInformers = informers.NewSharedInformerFactory(kube, 0)
	s.lhInformers = dynamicinformer.NewFilteredDynamicSharedInformerFactory(dyn, 0, Namespace, nil)

	s.nodes = s.kubeInformers.Core().V1().Nodes().Lister()
	s.pvcs = s.kubeInformers.Core().V1().PersistentVolumeClaims().Lister()
	s.pvs = s.kubeInformers.Core().V1().PersistentVolumes().Lister()
	s.classes = s.kubeInformers.Storage().V1().StorageClasses().Lister()
	s.csiVAs = s.kubeInformers.Storage().V1().VolumeAttachments().Informer()

	if opts.Mode == ModeLegacyQueueJam {
		// Longhorn 1.2 resynced every informer periodically, and the backing
		// image manager refreshed backing image status; each of those became
		// an update event in the replica controller's backing image handler.
		s.backingImages = dynamicinformer.NewFilteredDynamicInformer(dyn, backingImageGVR, Namespace, opts.BackingImageRefresh, cache.Indexers{}, nil).Informer()
	} else {
		s.backingImages = s.lhInformers.ForResource(backingImageGVR).Informer()
	}
	s.volumes = s.lhInformers.ForResource(volumeGVR).Informer()
	s.replicas = s.lhInformers.ForResource(replicaGVR).Informer()
	s.engines = s.lhInformers.ForResource(engineGVR).Informer()
	s.lhvas = s.lhInformers.ForResource(lhvaGVR).Informer()

	mustIndex(s.replicas, cache.Indexers{byVolume: specIndex("volumeName"), byBackingImage: specIndex("backingImage")})
	mustIndex(s.engines, cache.Indexers{byVolume: specIndex("volumeName")})
	mustIndex(s.volumes, cache.Indexers{byBackingImage: specIndex("backingImage")})
	mustIndex(s.csiVAs, cache.Indexers{byPV: func(obj any) ([]string, error) {
		va, ok := obj.(*storagev1.VolumeAttachment)
		if !ok || va.Spec.Source.PersistentVolumeName == nil {
			return nil, nil
		}
		return []string{*va.Spec.Source.PersistentVolumeName}, nil
	}})

	w := opts.Workers
	s.biCtl = newController("backingimage", 2, 0, s.log, s.syncBackingImage)
	s.volCtl = newController("volume", w, 0, s.log, s.syncVolume)
	if opts.Mode == ModeLegacyQueueJam {
		s.repCtl = newController("replica", 1, opts.JamItemCost, s.log, s.syncReplica)
	} else {
		s.repCtl = newController("replica", w, 0, s.log, s.syncReplica)
	}
	s.engCtl = newController("engine", w, 0, s.log, s.syncEngine)
	s.pvcCtl = newController("csi-provisioner", w, 0, s.log, s.syncClaim)
	s.pvCtl = newController("csi-deleter", 2, 0, s.log, s.syncPV)
	s.csiCtl = newController("csi-attacher", w, 0, s.log, s.syncCSIAttachment)

	s.broadcaster = record.NewBroadcaster()
	s.recorder = s.broadcaster.NewRecorder(scheme.Scheme, corev1.EventSource{Component: DriverName})

	s.addHandlers()
	s.addFinalizerHandlers()
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
	s.replicas.AddEventHandler(handlerFunc(func(obj any) {
		s.repCtl.add(nameOf(obj))
		s.volCtl.add(specString(obj, "volumeName"))
	}))
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
	s.csiVAs.AddEventHandler(handlerFunc(func(obj any) { s.csiCtl.add(nameOf(obj)) }))
	s.kubeInformers.Core().V1().PersistentVolumeClaims().Informer().AddEventHandler(handlerFunc(func(obj any) {
		if key, err := cache.MetaNamespaceKeyFunc(obj); err == nil {
			s.pvcCtl.add(key)
		}
	}))
	s.kubeInformers.Core().V1().PersistentVolumes().Informer().AddEventHandler(handlerFunc(func(obj any) {
		s.pvCtl.add(nameOf(obj))
	}))
	s.kubeInformers.Core().V1().Nodes().Informer().AddEventHandler(handlerFunc(func(any) {
		for _, k := range s.backingImages.GetStore().ListKeys() {
			s.biCtl.add(nameFromKey(k))
		}
	}))
	_ = s.kubeInformers.Storage().V1().StorageClasses().Informer()
}

// backingImageChanged reacts to a backing image event. The replica
// controller's handler is where the two modes differ (Longhorn issue 3242):
// legacy mode enqueues every replica for every event, resyncs included;
// default mode enqueues only the replicas that use the image, and only on
// real changes.
func (s *sim) backingImageChanged(obj any, changed bool) {
	name := nameOf(obj)
	if s.opts.Mode == ModeLegacyQueueJam {
		for _, k := range s.replicas.GetStore().ListKeys() {
			s.repCtl.add(nameFromKey(k))
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
	s.broadcaster.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: s.kube.CoreV1().Events("")})
	defer s.broadcaster.Shutdown()

	s.kubeInformers.Start(ctx.Done())
	s.lhInformers.Start(ctx.Done())
	if s.opts.Mode == ModeLegacyQueueJam {
		go s.backingImages.Run(ctx.Done())
	}
	synced := []cache.InformerSynced{s.backingImages.HasSynced, s.volumes.HasSynced, s.replicas.HasSynced,
		s.engines.HasSynced, s.lhvas.HasSynced, s.csiVAs.HasSynced}
	for _, ok := range s.kubeInformers.WaitForCacheSync(ctx.Done()) {
		if !ok {
			return fmt.Errorf("wait for Kubernetes caches: %w", context.Cause(ctx))
		}
	}
	if !cache.WaitForCacheSync(ctx.Done(), synced...) {
		return fmt.Errorf("wait for Longhorn caches: %w", context.Cause(ctx))
	}
	hook, err := s.startWebhook(ctx)
	if err != nil {
		return fmt.Errorf("start the admission webhook: %w", err)
	}
	defer s.stopWebhook(hook)
	s.log.Info().Msg("Longhorn simulator running")

	var wg sync.WaitGroup
	for _, c := range []*controller{s.biCtl, s.volCtl, s.repCtl, s.engCtl, s.pvcCtl, s.pvCtl, s.csiCtl, s.finCtl} {
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
