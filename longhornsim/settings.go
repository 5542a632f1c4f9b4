package longhornsim

import (
	"context"
	"encoding/json"
	"strconv"
	"strings"
	"time"
)

// Longhorn setting names the simulator honours (longhorn-manager
// types/setting.go, SettingName*).
const (
	SettingDefaultReplicaCount                         = "default-replica-count"
	SettingReplicaReplenishmentWaitInterval            = "replica-replenishment-wait-interval"
	SettingDefaultMinNumberOfBackingImageCopies        = "default-min-number-of-backing-image-copies"
	SettingConcurrentReplicaRebuildPerNodeLimit        = "concurrent-replica-rebuild-per-node-limit"
	SettingDisableSchedulingOnCordonedNode             = "disable-scheduling-on-cordoned-node"
	SettingDetachManuallyAttachedVolumesWhenCordoned   = "detach-manually-attached-volumes-when-cordoned"
	SettingReplicaSoftAntiAffinity                     = "replica-soft-anti-affinity"
	SettingAllowVolumeCreationWithDegradedAvailability = "allow-volume-creation-with-degraded-availability"
)

// settingDefaults are Longhorn's defaults for those settings (the Default of
// each SettingDefinition in types/setting.go). default-replica-count is data
// engine specific since 1.8 and written as JSON, like Longhorn writes it.
var settingDefaults = map[string]string{
	SettingDefaultReplicaCount:                         `{"v1":"3","v2":"3"}`,
	SettingReplicaReplenishmentWaitInterval:            "600",
	SettingDefaultMinNumberOfBackingImageCopies:        "3",
	SettingConcurrentReplicaRebuildPerNodeLimit:        "5",
	SettingDisableSchedulingOnCordonedNode:             "true",
	SettingDetachManuallyAttachedVolumesWhenCordoned:   "false",
	SettingReplicaSoftAntiAffinity:                     "false",
	SettingAllowVolumeCreationWithDegradedAvailability: "true",
}

// ensureSettings creates the settings that do not exist yet with their
// defaults, as longhorn-manager does when it starts (datastore
// InitSettings); existing values are kept.
func (s *sim) ensureSettings(ctx context.Context) error {
	for name, value := range settingDefaults {
		if _, ok, _ := s.settings.GetStore().GetByKey(Namespace + "/" + name); ok {
			continue
		}
		obj := map[string]any{
			"apiVersion": "longhorn.io/v1beta2",
			"kind":       "Setting",
			"metadata":   map[string]any{"name": name, "namespace": Namespace},
			"value":      value,
		}
		if err := s.create(ctx, settingGVR, obj); err != nil {
			return err
		}
	}
	return nil
}

// settingValue returns a setting's live value from the informer cache, its
// default when the object is missing.
func (s *sim) settingValue(name string) string {
	obj, ok, _ := s.settings.GetStore().GetByKey(Namespace + "/" + name)
	if ok {
		if st, err := fromUnstructured[setting](obj); err == nil {
			return st.Value
		}
	}
	return settingDefaults[name]
}

// settingInt reads an integer setting. A data-engine specific value
// ({"v1":"3","v2":"3"}) yields its v1 entry, as
// datastore.GetSettingAsIntByDataEngine does; an unparsable value yields
// the default.
func (s *sim) settingInt(name string) int64 {
	if n, ok := parseSettingInt(s.settingValue(name)); ok {
		return n
	}
	n, _ := parseSettingInt(settingDefaults[name])
	return n
}

func parseSettingInt(v string) (int64, bool) {
	v = strings.TrimSpace(v)
	if strings.HasPrefix(v, "{") {
		var m map[string]string
		if err := json.Unmarshal([]byte(v), &m); err != nil {
			return 0, false
		}
		v = m["v1"]
	}
	n, err := strconv.ParseInt(v, 10, 64)
	return n, err == nil
}

func (s *sim) settingBool(name string) bool {
	b, err := strconv.ParseBool(s.settingValue(name))
	if err != nil {
		b, _ = strconv.ParseBool(settingDefaults[name])
	}
	return b
}

// replenishWait is replica-replenishment-wait-interval (seconds), divided by
// the speed factor like every simulated duration.
func (s *sim) replenishWait() time.Duration {
	return s.scaled(time.Duration(s.settingInt(SettingReplicaReplenishmentWaitInterval)) * time.Second)
}

// scaled divides a Longhorn duration by the speed factor.
func (s *sim) scaled(d time.Duration) time.Duration {
	return time.Duration(float64(d) / s.opts.SpeedFactor)
}
