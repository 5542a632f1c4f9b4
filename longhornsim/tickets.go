package longhornsim

import (
	"fmt"
	"sort"
)

// Attacher types, as in longhorn-manager's AttacherType.
const (
	AttacherTypeCSIAttacher        = "csi-attacher"
	AttacherTypeLonghornAPI        = "longhorn-api"
	AttacherTypeSnapshotController = "snapshot-controller"
	AttacherTypeBackupController   = "backup-controller"
)

// attacherPriority follows longhorn-manager's GetAttacherPriorityLevel for
// the common types; unknown types get 0.
func attacherPriority(t string) int {
	switch t {
	case "volume-restore-controller", "volume-expansion-controller":
		return 2000
	case AttacherTypeLonghornAPI:
		return 1000
	case AttacherTypeCSIAttacher, "salvage-controller", "share-manager-controller":
		return 900
	case AttacherTypeSnapshotController, AttacherTypeBackupController, "volume-clone-controller",
		"volume-eviction-controller", "bim-ds-controller", "volume-rebuilding-controller":
		return 800
	default:
		return 0
	}
}

// desiredNode decides which node a volume should be attached to, given its
// attachment tickets and the node it is currently meant for. A volume keeps
// its node while some ticket asks for it; otherwise the ticket with the
// highest priority (then the smallest id) wins. No ticket means detach ("").
func desiredNode(tickets map[string]*attachmentTicket, current string) string {
	if t := desiredTicket(tickets, current); t != nil {
		return t.NodeID
	}
	return ""
}

// desiredTicket is the ticket desiredNode follows, nil for none.
func desiredTicket(tickets map[string]*attachmentTicket, current string) *attachmentTicket {
	ids := make([]string, 0, len(tickets))
	for id, t := range tickets {
		if t == nil || t.NodeID == "" {
			continue
		}
		ids = append(ids, id)
	}
	if len(ids) == 0 {
		return nil
	}
	sort.Slice(ids, func(i, j int) bool {
		ti, tj := tickets[ids[i]], tickets[ids[j]]
		if current != "" && (ti.NodeID == current) != (tj.NodeID == current) {
			return ti.NodeID == current
		}
		pi, pj := attacherPriority(ti.Type), attacherPriority(tj.Type)
		if pi != pj {
			return pi > pj
		}
		return ids[i] < ids[j]
	})
	return tickets[ids[0]]
}

// attachState is what the tickets' statuses depend on.
type attachState struct {
	node            string // where the volume is attached, "" when it is not
	disableFrontend bool   // the volume's spec.disableFrontend
	wantNode        string // where it should attach
	blocked         string // why it cannot attach to wantNode, if known
}

// ticketStatuses computes status.attachmentTicketStatuses for the tickets of
// a volume, after longhorn-manager's updateStatusForDesiredAttachingTicket
// (controller/volume_attachment_controller.go). A ticket is satisfied when
// the volume is attached to the ticket's node with the ticket's
// disableFrontend parameter; the status carries the ticket's generation.
// Conditions keep their transition time while their status does not change.
//
// Where Longhorn leaves the condition's message empty while the volume is not
// attached (a TODO there says "check if the node is down"), the simulator
// writes why when it knows: the message Longhorn's API gives for an attach
// to a node that is not ready.
func ticketStatuses(tickets map[string]*attachmentTicket, prev map[string]*attachmentTicketStatus, st attachState, now string) map[string]*attachmentTicketStatus {
	out := make(map[string]*attachmentTicketStatus, len(tickets))
	for id, t := range tickets {
		if t == nil {
			continue
		}
		satisfied := st.node != "" && t.NodeID == st.node
		c := condition{Type: "Satisfied", Status: "True"}
		switch {
		case satisfied && (t.Parameters["disableFrontend"] == "true") != st.disableFrontend:
			satisfied = false
			c = condition{Type: "Satisfied", Status: "False", Reason: "AttachedWithIncompatibleParameters",
				Message: fmt.Sprintf("volume has already attached to node %v with incompatible parameters", st.node)}
		case satisfied:
		case st.node != "":
			c = condition{Type: "Satisfied", Status: "False", Reason: "VolumeAttachedToOtherNode",
				Message: fmt.Sprintf("the volume is currently attached to a different node %v", st.node)}
		case st.blocked != "" && t.NodeID == st.wantNode:
			c = condition{Type: "Satisfied", Status: "False", Reason: "Waiting", Message: st.blocked}
		default:
			c = condition{Type: "Satisfied", Status: "False", Reason: "Waiting",
				Message: fmt.Sprintf("waiting for the volume to be attached to node %v", t.NodeID)}
		}
		c.LastTransitionTime = now
		if p := prev[id]; p != nil {
			for _, pc := range p.Conditions {
				if pc.Type == c.Type && pc.Status == c.Status && pc.LastTransitionTime != "" {
					c.LastTransitionTime = pc.LastTransitionTime
				}
			}
		}
		out[id] = &attachmentTicketStatus{ID: id, Satisfied: satisfied, Generation: t.Generation, Conditions: []condition{c}}
	}
	return out
}

// ticketSatisfied mirrors longhorn-manager's IsAttachmentTicketSatisfied.
func ticketSatisfied(id string, va *lhVolumeAttachment) bool {
	if va == nil {
		return false
	}
	t, ok := va.Spec.AttachmentTickets[id]
	if !ok || t == nil {
		return false
	}
	s, ok := va.Status.AttachmentTicketStatuses[id]
	if !ok || s == nil {
		return false
	}
	return s.Satisfied && s.Generation == t.Generation
}
