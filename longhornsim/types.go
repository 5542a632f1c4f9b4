package longhornsim

import (
	"fmt"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// Namespace is where every Longhorn object lives.
const Namespace = "longhorn-system"

// DriverName is Longhorn's CSI driver name.
const DriverName = "driver.longhorn.io"

// The Longhorn resources the simulator serves.
var (
	backingImageGVR = lhGVR("backingimages")
	volumeGVR       = lhGVR("volumes")
	replicaGVR      = lhGVR("replicas")
	engineGVR       = lhGVR("engines")
	lhvaGVR         = lhGVR("volumeattachments")
	lhNodeGVR       = lhGVR("nodes")
	settingGVR      = lhGVR("settings")
	imGVR           = lhGVR("instancemanagers")
)

func lhGVR(resource string) schema.GroupVersionResource {
	return schema.GroupVersionResource{Group: "longhorn.io", Version: "v1beta2", Resource: resource}
}

// The structs below hold the subset of Longhorn's v1beta2 types that the
// simulator reads or writes. Field names and JSON tags follow
// longhorn-manager's k8s/pkg/apis/longhorn/v1beta2.

type condition struct {
	Type               string `json:"type"`
	Status             string `json:"status"`
	LastProbeTime      string `json:"lastProbeTime,omitempty"`
	LastTransitionTime string `json:"lastTransitionTime,omitempty"`
	Reason             string `json:"reason,omitempty"`
	Message            string `json:"message,omitempty"`
}

type backingImage struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`
	Spec              struct {
		SourceType        string            `json:"sourceType,omitempty"`
		SourceParameters  map[string]string `json:"sourceParameters,omitempty"`
		Checksum          string            `json:"checksum,omitempty"`
		MinNumberOfCopies int               `json:"minNumberOfCopies,omitempty"`
	} `json:"spec"`
	Status struct {
		OwnerID           string                     `json:"ownerID,omitempty"`
		UUID              string                     `json:"uuid,omitempty"`
		Size              int64                      `json:"size,omitempty"`
		Checksum          string                     `json:"checksum,omitempty"`
		DiskFileStatusMap map[string]*diskFileStatus `json:"diskFileStatusMap,omitempty"`
	} `json:"status"`
}

type diskFileStatus struct {
	DataEngine              string `json:"dataEngine,omitempty"`
	State                   string `json:"state"`
	Progress                int    `json:"progress"`
	Message                 string `json:"message"`
	LastStateTransitionTime string `json:"lastStateTransitionTime"`
}

type volume struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`
	Spec              struct {
		Size             string `json:"size,omitempty"`
		NumberOfReplicas int    `json:"numberOfReplicas,omitempty"`
		BackingImage     string `json:"backingImage,omitempty"`
		Frontend         string `json:"frontend,omitempty"`
		DataEngine       string `json:"dataEngine,omitempty"`
		NodeID           string `json:"nodeID,omitempty"`
		DisableFrontend  bool   `json:"disableFrontend,omitempty"`
		// StaleReplicaTimeout is in minutes.
		StaleReplicaTimeout int `json:"staleReplicaTimeout,omitempty"`
	} `json:"spec"`
	Status volumeStatus `json:"status"`
}

type volumeStatus struct {
	State            string            `json:"state,omitempty"`
	Robustness       string            `json:"robustness,omitempty"`
	CurrentNodeID    string            `json:"currentNodeID,omitempty"`
	OwnerID          string            `json:"ownerID,omitempty"`
	Conditions       []condition       `json:"conditions,omitempty"`
	FrontendDisabled bool              `json:"frontendDisabled,omitempty"`
	LastDegradedAt   string            `json:"lastDegradedAt,omitempty"`
	KubernetesStatus *kubernetesStatus `json:"kubernetesStatus,omitempty"`
}

// kubernetesStatus is Longhorn's KubernetesStatus (volume.go), written by
// the Kubernetes PV controller of longhorn-manager.
type kubernetesStatus struct {
	PVName          string           `json:"pvName"`
	PVStatus        string           `json:"pvStatus"`
	Namespace       string           `json:"namespace"`
	PVCName         string           `json:"pvcName"`
	LastPVCRefAt    string           `json:"lastPVCRefAt"`
	WorkloadsStatus []workloadStatus `json:"workloadsStatus"`
	LastPodRefAt    string           `json:"lastPodRefAt"`
}

type workloadStatus struct {
	PodName      string `json:"podName"`
	PodStatus    string `json:"podStatus"`
	WorkloadName string `json:"workloadName"`
	WorkloadType string `json:"workloadType"`
}

// instance is a Replica or an Engine.
type instance struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`
	Spec              struct {
		VolumeName   string `json:"volumeName,omitempty"`
		NodeID       string `json:"nodeID,omitempty"`
		DesireState  string `json:"desireState,omitempty"`
		DiskID       string `json:"diskID,omitempty"`
		BackingImage string `json:"backingImage,omitempty"`
		HealthyAt    string `json:"healthyAt,omitempty"`
		FailedAt     string `json:"failedAt,omitempty"`
		VolumeSize   string `json:"volumeSize,omitempty"`
		// RebuildRetryCount is non-zero on a replica being rebuilt.
		RebuildRetryCount int  `json:"rebuildRetryCount,omitempty"`
		DisableFrontend   bool `json:"disableFrontend,omitempty"`
	} `json:"spec"`
	Status struct {
		CurrentState        string            `json:"currentState,omitempty"`
		InstanceManagerName string            `json:"instanceManagerName,omitempty"`
		OwnerID             string            `json:"ownerID,omitempty"`
		Started             bool              `json:"started,omitempty"`
		ReplicaModeMap      map[string]string `json:"replicaModeMap,omitempty"`
		Endpoint            string            `json:"endpoint,omitempty"`
	} `json:"status"`
}

type attachmentTicket struct {
	ID         string            `json:"id"`
	Type       string            `json:"type"`
	NodeID     string            `json:"nodeID"`
	Parameters map[string]string `json:"parameters,omitempty"`
	Generation int64             `json:"generation"`
}

type attachmentTicketStatus struct {
	ID         string      `json:"id"`
	Satisfied  bool        `json:"satisfied"`
	Conditions []condition `json:"conditions"`
	Generation int64       `json:"generation"`
}

type lhVolumeAttachment struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`
	Spec              struct {
		Volume            string                       `json:"volume"`
		AttachmentTickets map[string]*attachmentTicket `json:"attachmentTickets,omitempty"`
	} `json:"spec"`
	Status struct {
		AttachmentTicketStatuses map[string]*attachmentTicketStatus `json:"attachmentTicketStatuses,omitempty"`
	} `json:"status"`
}

type setting struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`
	Value             string `json:"value"`
}

// lhNode is a nodes.longhorn.io object.
type lhNode struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`
	Spec              struct {
		AllowScheduling   bool                `json:"allowScheduling"`
		EvictionRequested bool                `json:"evictionRequested"`
		Disks             map[string]diskSpec `json:"disks,omitempty"`
	} `json:"spec"`
	Status struct {
		Conditions []condition `json:"conditions,omitempty"`
	} `json:"status"`
}

type diskSpec struct {
	Path              string `json:"path"`
	AllowScheduling   bool   `json:"allowScheduling"`
	EvictionRequested bool   `json:"evictionRequested"`
}

// fromUnstructured converts an informer object into one of the structs above.
func fromUnstructured[T any](obj any) (*T, error) {
	u, ok := obj.(*unstructured.Unstructured)
	if !ok {
		return nil, fmt.Errorf("unexpected object type %T", obj)
	}
	out := new(T)
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, out); err != nil {
		return nil, fmt.Errorf("convert %s %s: %w", u.GetKind(), u.GetName(), err)
	}
	return out, nil
}

// toUnstructured converts a struct into an object for the dynamic client.
func toUnstructured(obj any) (*unstructured.Unstructured, error) {
	if m, ok := obj.(map[string]any); ok {
		return &unstructured.Unstructured{Object: m}, nil
	}
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	if err != nil {
		return nil, fmt.Errorf("convert %T: %w", obj, err)
	}
	return &unstructured.Unstructured{Object: m}, nil
}

// toUnstructuredMust is toUnstructured for values known to convert.
func toUnstructuredMust(obj any) *unstructured.Unstructured {
	u, err := toUnstructured(obj)
	if err != nil {
		panic(err)
	}
	return u
}
