// Package podexec is the kubelet endpoint of the local cluster's fake
// (KWOK) nodes: it serves pods/exec itself, with each command confined, and
// passes every other kubelet request (logs, attach, port-forward) on to
// KWOK's own server.
//
// KWOK v0.8.0 serves exec too, but runs the command on the host as KWOK's
// user (root here), reports exit codes as "Internal error ... exit status
// N" and never closes stdin. This server instead runs the command
//
//   - in a private mount namespace whose root is a fresh tmpfs holding the
//     host's /usr (and its /bin, /lib links) and /etc read-only, /dev/null,
//     zero, random, urandom and full, and an empty /tmp;
//   - with each mounted volume of the container bound at its mount path: an
//     emptyDir is a folder per pod; a CSI volume is <DataDir>/<driver>/<volume
//     handle>/ when that folder exists and a storage VolumeAttachment says the
//     volume is attached to the pod's node, else an empty read-only folder
//     (reads fail, writes fail as on a volume remounted read-only); other
//     volume kinds are empty and read-only;
//   - as nobody (65534), nosuid, in new PID, network, IPC and UTS
//     namespaces (no network, no other processes);
//
// reports the command's exit code as an exit code (the kubelet's
// NonZeroExitCode status), or an error when its output could not all be
// delivered, closes its stdin at the end of the stream, and kills it when
// the stream goes away (Ctrl-C, the caller's timeout).
//
// Each command's namespaces belong to an OS thread locked for it, which ends
// with the command: a process that serves exec in-process and starts other
// children with Pdeathsig must fork them from a thread that stays (as
// localcluster and bench do), or they die with the thread.
//
// It needs root (CAP_SYS_ADMIN) and Linux. It must not run a command on the
// host outside that sandbox, and it keeps no state outside StateDir.
package podexec
