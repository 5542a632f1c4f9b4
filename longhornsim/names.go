package longhornsim

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"fmt"
)

// volumeNameForClaim is the name Longhorn's CSI driver gives the volume (and
// the PV) of a claim: the external provisioner names PVs pvc-<claim uid>.
func volumeNameForClaim(claimUID string) string {
	return "pvc-" + claimUID
}

// engineName is the name of a volume's engine.
func engineName(vol string) string {
	return vol + "-e-0"
}

// replicaName is the name of a new replica: <volume>-r-<8 random hex digits>.
func replicaName(vol string) string {
	return vol + "-r-" + randomHex(4)
}

// csiTicketID is the attachment ticket id the CSI plugin uses for attaching
// volume vol to node: <type>-<sha256(volume+node)>.
func csiTicketID(vol, node string) string {
	return ticketID(AttacherTypeCSIAttacher, hashHex(vol+node))
}

// ticketID follows longhorn-manager's GetAttachmentTicketID: <type>-<id>,
// cut to 253 characters.
func ticketID(attacherType, id string) string {
	s := attacherType + "-" + id
	if len(s) > 253 {
		return s[:253]
	}
	return s
}

// diskUUID is the stable fake UUID of the one default disk of a node.
func diskUUID(node string) string {
	h := sha256.Sum256([]byte("longhorn-sim-disk/" + node))
	x := hex.EncodeToString(h[:16])
	return fmt.Sprintf("%s-%s-%s-%s-%s", x[0:8], x[8:12], x[12:16], x[16:20], x[20:32])
}

// instanceManagerName is the fake instance manager running instances on node.
func instanceManagerName(node string) string {
	return "instance-manager-" + hashHex(node)[:32]
}

// backingImageUUID derives a backing image's 8-hex-digit UUID from its object
// UID, so it is stable across simulator restarts.
func backingImageUUID(objectUID string) string {
	return hashHex("bi/" + objectUID)[:8]
}

// backingImageChecksum is the SHA-512 "checksum" of a backing image's file:
// the one given in the spec, else a hash of its source.
func backingImageChecksum(specChecksum, name string, params map[string]string) string {
	if specChecksum != "" {
		return specChecksum
	}
	h := sha512.Sum512([]byte(name + "\x00" + params["url"]))
	return hex.EncodeToString(h[:])
}

func hashHex(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(fmt.Sprintf("crypto/rand failed: %v", err))
	}
	return hex.EncodeToString(b)
}
