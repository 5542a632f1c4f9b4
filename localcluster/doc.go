// Package localcluster runs a small, real Kubernetes control plane on the
// loopback interface for runner's scenarios and tests: etcd, kube-apiserver,
// kube-controller-manager and kube-scheduler as child processes, plus KWOK to
// fake the kubelets of a handful of nodes, so that pods get scheduled and go
// Running, PVCs bind and VolumeAttachments are created, without Docker or VMs.
//
// It generates its own PKI and kubeconfigs, picks free ports so several
// clusters can run side by side, keeps each component's log in
// <Dir>/logs/<component>.log and its pid in <Dir>/pids/<component>.pid, tells a
// component that exited apart from one that is not ready yet, and stops
// components in reverse order with SIGTERM, then SIGKILL after a grace period.
//
// The binaries are looked up, in order, in Options.BinDir,
// $RUNNER_CLUSTER_BIN_DIR and the user cache folder that build.sh fills
// (see DefaultBinDir). This package never builds or downloads them itself;
// the clustertest helper may run build.sh.
//
// It must not know about Longhorn or scenarios: extra controllers are plugged
// in through Options.Addons.
package localcluster
