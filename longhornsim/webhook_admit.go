package longhornsim

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/url"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"

	admissionv1 "k8s.io/api/admission/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// The mutator puts longhornFinalizer (volume.go) on volumes, backing images
// and VolumeAttachments (webhook/common/common.go,
// GetLonghornFinalizerPatchOpIfNeeded: the API group name).

// Settings the webhook reads, with Longhorn's defaults (types/setting.go).
const (
	settingDefaultReplicaCount    = "default-replica-count"                      // 3
	settingDefaultMinBICopies     = "default-min-number-of-backing-image-copies" // 3
	settingDefaultDataLocality    = "default-data-locality"                      // disabled
	settingDefaultEngineImage     = "default-engine-image"
	settingBackupCompression      = "backup-compression-method" // lz4
	settingSnapshotMaxCount       = "snapshot-max-count"        // 250
	defaultSnapshotMaxCount       = 250
	defaultBackupCompressionValue = "lz4"
)

// admissionView is what the admission rules read besides the request: the
// simulator's informer caches (what longhorn-manager's datastore listers
// are) and the settings.
type admissionView interface {
	// object returns a cached Longhorn object ("backingimages", "volumes").
	object(resource, name string) (map[string]any, bool)
	// replicasUsing counts the replicas whose spec.backingImage is bi
	// (datastore.ListReplicasByBackingImage).
	replicasUsing(bi string) int
	// setting returns settings.longhorn.io/<name>'s value, if it exists.
	setting(ctx context.Context, name string) (string, bool)
}

// admission holds Longhorn's admission rules for the three resources the
// simulator models, as pure functions of the request and the view.
type admission struct{ view admissionView }

func (s *sim) mutate(ctx context.Context, req *admissionv1.AdmissionRequest) ([]patchOp, error) {
	return admission{view: &simView{s: s}}.mutate(ctx, req)
}

func (s *sim) validate(ctx context.Context, req *admissionv1.AdmissionRequest) ([]patchOp, error) {
	return nil, admission{view: &simView{s: s}}.validate(ctx, req)
}

// simView reads the simulator's informer caches, as longhorn-manager's
// admission reads its datastore's listers; one serves one request.
type simView struct {
	s *sim
}

func (v *simView) object(resource, name string) (map[string]any, bool) {
	inf := v.s.backingImages
	if resource == "volumes" {
		inf = v.s.volumes
	}
	obj, ok, err := inf.GetStore().GetByKey(Namespace + "/" + name)
	if err != nil || !ok {
		return nil, false
	}
	u, ok := obj.(*unstructured.Unstructured)
	if !ok {
		return nil, false
	}
	return u.Object, true
}

func (v *simView) replicasUsing(bi string) int {
	reps, _ := v.s.replicas.GetIndexer().ByIndex(byBackingImage, bi)
	return len(reps)
}

// setting reads settings.longhorn.io/<name> from the cache; a setting that
// does not exist is absent, and Longhorn's default applies, as in
// datastore.GetSettingWithAutoFillingRO. (A LIST from the API server per
// admitted request was a tenth of its requests at 2,500 volumes.)
func (v *simView) setting(_ context.Context, name string) (string, bool) {
	obj, ok, err := v.s.settings.GetStore().GetByKey(Namespace + "/" + name)
	if err != nil || !ok {
		return "", false
	}
	u, ok := obj.(*unstructured.Unstructured)
	if !ok {
		return "", false
	}
	val, _ := u.Object["value"].(string)
	return val, val != ""
}

// decodeObjects returns the request's new and old objects (nil when absent).
func decodeObjects(req *admissionv1.AdmissionRequest) (obj, old map[string]any, err error) {
	if len(req.Object.Raw) > 0 {
		if err := json.Unmarshal(req.Object.Raw, &obj); err != nil {
			return nil, nil, fmt.Errorf("decode object: %w", err)
		}
	}
	if len(req.OldObject.Raw) > 0 {
		if err := json.Unmarshal(req.OldObject.Raw, &old); err != nil {
			return nil, nil, fmt.Errorf("decode old object: %w", err)
		}
	}
	return obj, old, nil
}

func (a admission) mutate(ctx context.Context, req *admissionv1.AdmissionRequest) ([]patchOp, error) {
	obj, old, err := decodeObjects(req)
	if err != nil || obj == nil {
		return nil, err
	}
	create := req.Operation == admissionv1.Create
	switch req.Resource.Resource {
	case "volumes":
		return a.mutateVolume(ctx, obj, create), nil
	case "backingimages":
		return a.mutateBackingImage(ctx, obj, old, create)
	case "volumeattachments":
		return a.mutateVolumeAttachment(obj, old, create)
	}
	return nil, nil
}

func (a admission) validate(_ context.Context, req *admissionv1.AdmissionRequest) error {
	obj, old, err := decodeObjects(req)
	if err != nil {
		return err
	}
	switch req.Resource.Resource + "/" + string(req.Operation) {
	case "volumes/CREATE":
		return a.validateVolumeCreate(obj)
	case "volumes/UPDATE":
		return validateVolumeUpdate(old, obj)
	case "backingimages/CREATE":
		return validateBackingImage(obj, true)
	case "backingimages/UPDATE":
		return validateBackingImage(obj, false)
	case "backingimages/DELETE":
		return a.validateBackingImageDelete(old)
	case "volumeattachments/CREATE":
		return validateTicketIDs(obj)
	case "volumeattachments/UPDATE":
		return a.validateVolumeAttachmentUpdate(old, obj)
	}
	return nil
}

// patches collects JSON patch operations; "add" sets a member whether or not
// it exists (Longhorn writes "replace", which the API server's JSON patch
// accepts for missing members too).
type patches []patchOp

func (p *patches) set(path string, value any) {
	*p = append(*p, patchOp{Op: "add", Path: path, Value: value})
}

func field(obj map[string]any, path ...string) any {
	v, _, _ := unstructured.NestedFieldNoCopy(obj, path...)
	return v
}

func fieldString(obj map[string]any, path ...string) string {
	s, _ := field(obj, path...).(string)
	return s
}

func fieldInt(obj map[string]any, path ...string) int64 {
	switch n := field(obj, path...).(type) {
	case int64:
		return n
	case float64:
		return int64(n)
	case string:
		i, _ := strconv.ParseInt(n, 10, 64)
		return i
	}
	return 0
}

// ensureSpec makes /spec exist before members are set in it.
func ensureSpec(p *patches, obj map[string]any) {
	if _, ok := obj["spec"].(map[string]any); !ok {
		p.set("/spec", map[string]any{})
	}
}

// finalizerPatch is GetLonghornFinalizerPatchOpIfNeeded: add longhorn.io
// unless the object is being deleted or has it.
func finalizerPatch(p *patches, obj map[string]any) {
	if field(obj, "metadata", "deletionTimestamp") != nil {
		return
	}
	var fins []any
	if f, ok := field(obj, "metadata", "finalizers").([]any); ok {
		fins = f
	}
	for _, f := range fins {
		if f == longhornFinalizer {
			return
		}
	}
	p.set("/metadata/finalizers", append(slices.Clone(fins), longhornFinalizer))
}

// labelsPatch is GetLonghornLabelsPatchOp: the object's labels plus more.
func labelsPatch(p *patches, obj map[string]any, more map[string]string) {
	labels := map[string]any{}
	if l, ok := field(obj, "metadata", "labels").(map[string]any); ok {
		for k, v := range l {
			labels[k] = v
		}
	}
	for k, v := range more {
		labels[k] = v
	}
	p.set("/metadata/labels", labels)
}

// volumeSpecDefaults are the empty-string defaults of the volume mutator's
// shared mutate() (webhook/resources/volume/mutator.go), create and update.
var volumeSpecDefaults = []struct{ field, value string }{
	{"replicaAutoBalance", "ignored"},
	{"snapshotDataIntegrity", "ignored"},
	{"restoreVolumeRecurringJob", "ignored"},
	{"replicaSoftAntiAffinity", "ignored"},
	{"replicaZoneSoftAntiAffinity", "ignored"},
	{"replicaDiskSoftAntiAffinity", "ignored"},
	{"dataEngine", "v1"},
	{"freezeFilesystemForSnapshot", "ignored"},
	{"offlineRebuilding", "ignored"},
}

// mutateVolume models webhook/resources/volume/mutator.go Create/Update and
// mutate(): the finalizer, the longhornvolume label, the size rounded up to
// 2 MiB, the engine image, numberOfReplicas from default-replica-count,
// dataLocality from default-data-locality, accessMode rwo, and the
// "ignored" defaults. It does not default spec.frontend: Longhorn does not,
// and its validator refuses a v1 volume without one.
func (a admission) mutateVolume(ctx context.Context, obj map[string]any, create bool) []patchOp {
	var p patches
	ensureSpec(&p, obj)
	spec, _ := obj["spec"].(map[string]any)
	str := func(f string) string { s, _ := spec[f].(string); return s }
	engine := str("dataEngine")
	if engine == "" {
		engine = "v1"
	}
	size := fieldInt(obj, "spec", "size")
	if create {
		if fieldInt(obj, "spec", "numberOfReplicas") == 0 {
			p.set("/spec/numberOfReplicas", a.settingInt(ctx, settingDefaultReplicaCount, engine, 3))
		}
		if str("dataLocality") == "" {
			p.set("/spec/dataLocality", a.settingString(ctx, settingDefaultDataLocality, "disabled"))
		}
		// Create always writes the rounded size and the default image.
		p.set("/spec/size", strconv.FormatInt(roundUpSize(size), 10))
		p.set("/spec/image", a.settingString(ctx, settingDefaultEngineImage, longhornEngineImage))
		if str("backupCompressionMethod") == "" {
			p.set("/spec/backupCompressionMethod", a.settingString(ctx, settingBackupCompression, defaultBackupCompressionValue))
		}
	} else {
		if rounded := roundUpSize(size); rounded != size {
			p.set("/spec/size", strconv.FormatInt(rounded, 10))
		}
		if str("backupCompressionMethod") == "" {
			p.set("/spec/backupCompressionMethod", "gzip")
		}
	}
	if str("accessMode") == "" {
		p.set("/spec/accessMode", "rwo")
	}
	if fieldInt(obj, "spec", "snapshotMaxCount") == 0 {
		p.set("/spec/snapshotMaxCount", a.settingInt(ctx, settingSnapshotMaxCount, engine, defaultSnapshotMaxCount))
	}
	finalizerPatch(&p, obj)
	for _, d := range volumeSpecDefaults {
		if str(d.field) == "" {
			p.set("/spec/"+d.field, d.value)
		}
	}
	if engine == "v2" {
		p.set("/spec/unmapMarkSnapChainRemoved", "disabled")
	} else if str("unmapMarkSnapChainRemoved") == "" {
		p.set("/spec/unmapMarkSnapChainRemoved", "ignored")
	}
	if spec["diskSelector"] == nil {
		p.set("/spec/diskSelector", []any{})
	}
	if spec["nodeSelector"] == nil {
		p.set("/spec/nodeSelector", []any{})
	}
	labelsPatch(&p, obj, map[string]string{"longhornvolume": fieldString(obj, "metadata", "name")})
	return p
}

// validateVolumeCreate models webhook/resources/volume/validator.go Create,
// the checks that concern the simulator: the backing image exists, has the
// volume's data engine and is not larger (virtual size) than the volume;
// the engine image is set; the frontend suits the data engine; migratable
// needs rwx.
func (a admission) validateVolumeCreate(obj map[string]any) error {
	engine := fieldString(obj, "spec", "dataEngine")
	if bi := fieldString(obj, "spec", "backingImage"); bi != "" {
		b, ok := a.view.object("backingimages", bi)
		if !ok {
			// The lister's NotFound, passed on as it is.
			return invalid("", "backingimage.longhorn.io %q not found", bi)
		}
		if fieldString(b, "spec", "dataEngine") != engine {
			return invalid("", "volume should have the same data engine as the backing image")
		}
		if fieldInt(obj, "spec", "size") < fieldInt(b, "status", "virtualSize") {
			return invalid("", "volume size should be larger than the backing image size")
		}
	}
	if fieldString(obj, "spec", "image") == "" {
		return invalid("", "BUG: Invalid empty Setting.EngineImage")
	}
	if standby, _ := field(obj, "spec", "Standby").(bool); !standby {
		frontend := fieldString(obj, "spec", "frontend")
		ok := true
		switch engine {
		case "v1":
			ok = frontend == "blockdev" || frontend == "iscsi"
		case "v2":
			ok = frontend == "blockdev" || frontend == "nvmf" || frontend == "ublk"
		}
		if !ok {
			// Longhorn's message ends with a space.
			return invalid("", "invalid volume frontend specified: %v for data engine %v ", frontend, engine)
		}
	}
	if migratable, _ := field(obj, "spec", "migratable").(bool); migratable && fieldString(obj, "spec", "accessMode") != "rwx" {
		return invalid("", "migratable volumes are only supported in ReadWriteMany (rwx) access mode")
	}
	return nil
}

// validateVolumeUpdate models the update check the simulator's scenarios can
// meet: the data engine cannot change.
func validateVolumeUpdate(old, obj map[string]any) error {
	if was := fieldString(old, "spec", "dataEngine"); was != "" && was != fieldString(obj, "spec", "dataEngine") {
		return invalid("", "changing data engine for volume %v is not supported", fieldString(old, "metadata", "name"))
	}
	return nil
}

// mutateBackingImage models webhook/resources/backingimage/mutator.go:
// Create trims the checksum and source parameters, fills disks and
// diskFileSpecMap, minNumberOfCopies from the setting
// default-min-number-of-backing-image-copies and dataEngine v1; Update
// refuses a data engine change and fills sourceType download; both add the
// finalizer.
func (a admission) mutateBackingImage(ctx context.Context, obj, old map[string]any, create bool) ([]patchOp, error) {
	var p patches
	ensureSpec(&p, obj)
	spec, _ := obj["spec"].(map[string]any)
	if !create && fieldString(old, "spec", "dataEngine") != fieldString(obj, "spec", "dataEngine") {
		return nil, invalid("", "changing data engine for BackingImage %v is not supported", fieldString(old, "metadata", "name"))
	}
	finalizerPatch(&p, obj)
	if create {
		p.set("/spec/checksum", strings.TrimSpace(fieldString(obj, "spec", "checksum")))
		params := map[string]any{}
		if m, ok := spec["sourceParameters"].(map[string]any); ok {
			for k, v := range m {
				s, _ := v.(string)
				params[k] = strings.TrimSpace(s)
			}
		}
		p.set("/spec/sourceParameters", params)
		if fieldInt(obj, "spec", "minNumberOfCopies") == 0 {
			p.set("/spec/minNumberOfCopies", a.settingInt(ctx, settingDefaultMinBICopies, "", defaultMinNumberOfCopies))
		}
		if fieldString(obj, "spec", "dataEngine") == "" {
			p.set("/spec/dataEngine", "v1")
		}
	} else {
		if fieldString(obj, "spec", "sourceType") == "" {
			p.set("/spec/sourceType", "download")
		}
		if spec["sourceParameters"] == nil {
			p.set("/spec/sourceParameters", map[string]any{})
		}
	}
	if spec["disks"] == nil {
		p.set("/spec/disks", map[string]any{})
	}
	if spec["diskFileSpecMap"] == nil {
		p.set("/spec/diskFileSpecMap", map[string]any{})
	}
	return p, nil
}

var sha512Hex = regexp.MustCompile(`^[a-f0-9]{128}$`)

// validateBackingImage models webhook/resources/backingimage/validator.go
// Create and Update for the download source the seed uses (the URL checks
// are Longhorn 1.12's; 1.9 and 1.10 had none).
func validateBackingImage(obj map[string]any, create bool) error {
	if create {
		if fieldString(obj, "spec", "dataEngine") == "v2" {
			return invalid("", "v2 backing image is not supported")
		}
		if sum := fieldString(obj, "spec", "checksum"); sum != "" && !sha512Hex.MatchString(sum) {
			return invalid("", "invalid checksum %v", sum)
		}
	}
	// types.ValidateMinNumberOfBackingIamgeCopies prints the range's maximum
	// (unset, so 0) where it means the minimum (1).
	if n := fieldInt(obj, "spec", "minNumberOfCopies"); n < 1 {
		return invalid("", "minimum number of backing image copies %v must larger than %v", n, 0)
	}
	if fieldString(obj, "spec", "sourceType") != "download" {
		return nil
	}
	const f = "spec.sourceParameters[url]"
	raw := fieldString(obj, "spec", "sourceParameters", "url")
	if raw == "" {
		return invalid(f, "download URL is not provided")
	}
	u, err := url.ParseRequestURI(raw)
	if err != nil {
		return invalid(f, "invalid download URL: %s", err.Error())
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return invalid(f, "invalid download URL scheme %q", u.Scheme)
	}
	if isLoopbackHost(u.Hostname()) {
		return invalid(f, "download URL must not target a loopback address")
	}
	return nil
}

// isLoopbackHost is go-common-libs' net.IsLoopbackHost: localhost or a
// loopback IP.
func isLoopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// validateBackingImageDelete is the validator's Delete: refused while any
// replica uses the image.
func (a admission) validateBackingImageDelete(old map[string]any) error {
	name := fieldString(old, "metadata", "name")
	if a.view.replicasUsing(name) > 0 {
		return invalid("", "cannot delete backing image %v since there are replicas using it", name)
	}
	return nil
}

// mutateVolumeAttachment models webhook/resources/volumeattachment/mutator.go:
// Create needs the volume, adds the longhornvolume label and, without
// owners, the volume as owner; Update fills attachmentTickets and bumps the
// generation of every ticket that changed (a new ticket continues from its
// status' generation); both add the finalizer.
func (a admission) mutateVolumeAttachment(obj, old map[string]any, create bool) ([]patchOp, error) {
	var p patches
	ensureSpec(&p, obj)
	finalizerPatch(&p, obj)
	if create {
		vol := fieldString(obj, "spec", "volume")
		v, ok := a.view.object("volumes", vol)
		if !ok {
			return nil, invalid("spec.Volume", "failed to get volume %v: volume.longhorn.io %q not found", vol, vol)
		}
		labelsPatch(&p, obj, map[string]string{"longhornvolume": vol})
		if owners, _ := field(obj, "metadata", "ownerReferences").([]any); len(owners) == 0 {
			p.set("/metadata/ownerReferences", []any{map[string]any{
				"apiVersion": "longhorn.io/v1beta2", "kind": "Volume", "name": vol, "uid": fieldString(v, "metadata", "uid"),
			}})
		}
		return p, nil
	}
	tickets, _ := field(obj, "spec", "attachmentTickets").(map[string]any)
	if tickets == nil {
		p.set("/spec/attachmentTickets", map[string]any{})
		return p, nil
	}
	oldTickets, _ := field(old, "spec", "attachmentTickets").(map[string]any)
	statuses, _ := field(obj, "status", "attachmentTicketStatuses").(map[string]any)
	bumped := bumpTicketGenerations(tickets, oldTickets, statuses)
	if !reflect.DeepEqual(bumped, tickets) {
		p.set("/spec/attachmentTickets", bumped)
	}
	return p, nil
}

// bumpTicketGenerations returns a copy of tickets where a ticket that is new
// gets its status' generation + 1 (when it has a status) and one that
// changed gets generation + 1; negative generations (overflow) become 0.
func bumpTicketGenerations(tickets, oldTickets, statuses map[string]any) map[string]any {
	out := make(map[string]any, len(tickets))
	for id, t := range tickets {
		tm, ok := t.(map[string]any)
		if !ok {
			out[id] = t
			continue
		}
		nt := make(map[string]any, len(tm))
		for k, v := range tm {
			nt[k] = v
		}
		gen := fieldInt(tm, "generation")
		if ot, existed := oldTickets[id]; !existed {
			if st, ok := statuses[id].(map[string]any); ok {
				gen = fieldInt(st, "generation") + 1
			}
		} else if !ticketsEqual(tm, ot) {
			gen++
		}
		if gen < 0 {
			gen = 0
		}
		nt["generation"] = gen
		out[id] = nt
	}
	return out
}

// ticketsEqual compares two tickets as Longhorn's typed structs would:
// generation numbers by value, absent parameters equal to empty ones.
func ticketsEqual(a any, b any) bool {
	am, _ := a.(map[string]any)
	bm, _ := b.(map[string]any)
	for _, k := range []string{"id", "type", "nodeID"} {
		if fieldString(am, k) != fieldString(bm, k) {
			return false
		}
	}
	if fieldInt(am, "generation") != fieldInt(bm, "generation") {
		return false
	}
	ap, _ := am["parameters"].(map[string]any)
	bp, _ := bm["parameters"].(map[string]any)
	if len(ap) != len(bp) {
		return false
	}
	for k, v := range ap {
		if bp[k] != v {
			return false
		}
	}
	return true
}

// validateTicketIDs is verifyAttachmentTicketIDConsistency.
func validateTicketIDs(obj map[string]any) error {
	tickets, _ := field(obj, "spec", "attachmentTickets").(map[string]any)
	ids := make([]string, 0, len(tickets))
	for id := range tickets {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		t, _ := tickets[id].(map[string]any)
		if got := fieldString(t, "id"); got != id {
			return invalid("", "the attachmentTickets map contains inconsistent attachment ticket ID: %v vs %v", id, got)
		}
	}
	return nil
}

// validateVolumeAttachmentUpdate models the validator's Update: removing
// the finalizer of a deleted object always passes; spec.volume and the
// owners are immutable; the volume must exist; ticket ids must match.
func (a admission) validateVolumeAttachmentUpdate(old, obj map[string]any) error {
	if removingLonghornFinalizer(old, obj) {
		return nil
	}
	vol := fieldString(obj, "spec", "volume")
	if vol != fieldString(old, "spec", "volume") {
		return invalid("spec.volume", "spec.volume field is immutable")
	}
	oldOwners, _ := field(old, "metadata", "ownerReferences").([]any)
	if len(oldOwners) != 0 && !reflect.DeepEqual(oldOwners, field(obj, "metadata", "ownerReferences")) {
		return invalid("metadata.ownerReferences", "VolumeAttachment's OwnerReferences field is immutable")
	}
	if _, ok := a.view.object("volumes", vol); !ok {
		return invalid("spec.volume", "failed to get volume %v for validating volumeattachment update: volume.longhorn.io %q not found", vol, vol)
	}
	return validateTicketIDs(obj)
}

// removingLonghornFinalizer is common.IsRemovingLonghornFinalizer: the
// object is being deleted and the update drops longhorn.io.
func removingLonghornFinalizer(old, obj map[string]any) bool {
	if field(obj, "metadata", "deletionTimestamp") == nil {
		return false
	}
	has := func(o map[string]any) bool {
		fins, _ := field(o, "metadata", "finalizers").([]any)
		return slices.Contains(fins, any(longhornFinalizer))
	}
	return has(old) && !has(obj)
}

func (a admission) settingString(ctx context.Context, name, def string) string {
	if v, ok := a.view.setting(ctx, name); ok {
		return v
	}
	return def
}

// settingInt reads an integer setting; a data-engine specific value
// ({"v1":"3","v2":"2"}, Longhorn ≥ 1.10) is read for dataEngine.
func (a admission) settingInt(ctx context.Context, name, dataEngine string, def int) int {
	v, ok := a.view.setting(ctx, name)
	if !ok {
		return def
	}
	if n, err := strconv.Atoi(v); err == nil {
		return n
	}
	var perEngine map[string]string
	if json.Unmarshal([]byte(v), &perEngine) == nil {
		if n, err := strconv.Atoi(perEngine[dataEngine]); err == nil {
			return n
		}
	}
	return def
}
