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
	if len(tickets) == 0 {
		return ""
	}
	ids := make([]string, 0, len(tickets))
	for id, t := range tickets {
		if t == nil || t.NodeID == "" {
			continue
		}
		if current != "" && t.NodeID == current {
			return current
		}
		ids = append(ids, id)
	}
	if len(ids) == 0 {
		return ""
	}
	sort.Slice(ids, func(i, j int) bool {
		pi, pj := attacherPriority(tickets[ids[i]].Type), attacherPriority(tickets[ids[j]].Type)
		if pi != pj {
			return pi > pj
		}
		return ids[i] < ids[j]
	})
	return tickets[ids[0]].NodeID
}

// ticketStatuses computes status.attachmentTicketStatuses for the tickets of
// a volume that is attached to attachedNode ("" when not attached). A ticket
// is satisfied when the volume is attached to the ticket's node; the status
// carries the ticket's generation. Conditions keep their transition time
// while their status does not change.
func ticketStatuses(tickets map[string]*attachmentTicket, prev map[string]*attachmentTicketStatus, attachedNode, now string) map[string]*attachmentTicketStatus {
	out := make(map[string]*attachmentTicketStatus, len(tickets))
	for id, t := range tickets {
		if t == nil {
			continue
		}
		satisfied := attachedNode != "" && t.NodeID == attachedNode
		c := condition{Type: "Satisfied", Status: "True"}
		if !satisfied {
			c.Status = "False"
			if attachedNode != "" {
				c.Reason = "VolumeAttachedToOtherNode"
				c.Message = fmt.Sprintf("the volume is currently attached to a different node %v", attachedNode)
			} else {
				c.Reason = "Waiting"
				c.Message = fmt.Sprintf("waiting for the volume to be attached to node %v", t.NodeID)
			}
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
