package localcluster

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/yaml"
)

func TestPinnedVersions(t *testing.T) {
	v := PinnedVersions()
	for name, got := range map[string]string{"Kubernetes": v.Kubernetes, "Etcd": v.Etcd, "KWOK": v.KWOK} {
		if !strings.HasPrefix(got, "v") {
			t.Errorf("%s version %q: want a v-prefixed version from versions.env", name, got)
		}
	}
	if want := "k8s-" + v.Kubernetes + "-etcd-" + v.Etcd + "-kwok-" + v.KWOK; v.Key() != want {
		t.Errorf("Key() = %q, want %q", v.Key(), want)
	}
}

func TestWithDefaults(t *testing.T) {
	t.Setenv("RUNNER_CLUSTER_BIN_DIR", "/bins")
	tests := []struct {
		name  string
		in    Options
		check func(t *testing.T, o Options, own bool)
	}{
		{"zero value", Options{Dir: t.TempDir()}, func(t *testing.T, o Options, own bool) {
			if o.Nodes != 3 || o.NodeCPU != "4" || o.NodeMemory != "8Gi" || o.NodePods != "110" {
				t.Errorf("node defaults: %d %s %s %s", o.Nodes, o.NodeCPU, o.NodeMemory, o.NodePods)
			}
			if o.BinDir != "/bins" || own {
				t.Errorf("BinDir %q own %v", o.BinDir, own)
			}
			if len(o.Namespaces) != 1 || o.Namespaces[0] != "longhorn-system" {
				t.Errorf("Namespaces %v", o.Namespaces)
			}
		}},
		{"no nodes", Options{Dir: t.TempDir(), Nodes: -1}, func(t *testing.T, o Options, _ bool) {
			if o.Nodes != 0 {
				t.Errorf("Nodes = %d, want 0", o.Nodes)
			}
		}},
		{"temp dir", Options{}, func(t *testing.T, o Options, own bool) {
			defer os.RemoveAll(o.Dir)
			if !own || !filepath.IsAbs(o.Dir) {
				t.Errorf("Dir %q own %v", o.Dir, own)
			}
		}},
		{"explicit namespaces kept", Options{Dir: t.TempDir(), Namespaces: []string{}}, func(t *testing.T, o Options, _ bool) {
			if len(o.Namespaces) != 0 {
				t.Errorf("Namespaces %v", o.Namespaces)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o, own, err := tt.in.withDefaults()
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, o, own)
		})
	}
}

func TestGeneratePKI(t *testing.T) {
	p, err := generatePKI(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	load := func(name string) *x509.Certificate {
		data, err := os.ReadFile(p.path(name))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := pem.Decode(data)
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	roots := x509.NewCertPool()
	roots.AddCert(load(caCert))
	fpRoots := x509.NewCertPool()
	fpRoots.AddCert(load(frontProxyCACert))
	tests := []struct {
		cert  string
		roots *x509.CertPool
		usage x509.ExtKeyUsage
		host  string
	}{
		{apiserverCert, roots, x509.ExtKeyUsageServerAuth, "127.0.0.1"},
		{apiserverCert, roots, x509.ExtKeyUsageServerAuth, "localhost"},
		{"admin.crt", roots, x509.ExtKeyUsageClientAuth, ""},
		{"controller-manager.crt", roots, x509.ExtKeyUsageClientAuth, ""},
		{"scheduler.crt", roots, x509.ExtKeyUsageClientAuth, ""},
		{"kwok.crt", roots, x509.ExtKeyUsageClientAuth, ""},
		{frontProxyCert, fpRoots, x509.ExtKeyUsageClientAuth, ""},
	}
	for _, tt := range tests {
		t.Run(tt.cert+" "+tt.host, func(t *testing.T) {
			_, err := load(tt.cert).Verify(x509.VerifyOptions{Roots: tt.roots, DNSName: tt.host, KeyUsages: []x509.ExtKeyUsage{tt.usage}})
			if err != nil {
				t.Error(err)
			}
		})
	}
	if admin := load("admin.crt"); len(admin.Subject.Organization) != 1 || admin.Subject.Organization[0] != "system:masters" {
		t.Errorf("admin groups %v, want system:masters", admin.Subject.Organization)
	}
	for _, f := range []string{serviceAccountKey, serviceAccountPub} {
		if _, err := os.Stat(p.path(f)); err != nil {
			t.Error(err)
		}
	}
}

func TestScrubEnv(t *testing.T) {
	got := scrubEnv([]string{"PATH=/bin", "ETCD_NAME=x", "ETCDCTL_API=3", "HOME=/root", "ETCD_DATA_DIR=/d"}, "ETCD_")
	want := "PATH=/bin ETCDCTL_API=3 HOME=/root"
	if strings.Join(got, " ") != want {
		t.Errorf("scrubEnv = %v, want %s", got, want)
	}
}

func TestLogTail(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.log")
	var b strings.Builder
	for i := range 2000 {
		b.WriteString("line " + strconv.Itoa(i) + "\n")
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	tail := logTail(path)
	if !strings.HasSuffix(tail, "line 1999") || !strings.HasPrefix(tail, "line ") || len(tail) > tailBytes {
		t.Errorf("tail starts %q ends %q (%d bytes)", tail[:10], tail[len(tail)-10:], len(tail))
	}
}

// TestProcessExitedVsNotReady uses /bin/sh as a stand-in component.
func TestProcessExitedVsNotReady(t *testing.T) {
	dir := t.TempDir()
	notYet := func(context.Context) error { return errors.New("no answer") }
	tests := []struct {
		name    string
		script  string
		wantErr func(error) bool
	}{
		{"exits early", "echo starting; echo 'unknown flag: --bogus' >&2; exit 3", func(err error) bool {
			var ee *ExitedError
			return errors.As(err, &ee) && ee.Component == "exits early" && strings.Contains(ee.LogTail, "unknown flag: --bogus") &&
				strings.Contains(ee.Err.Error(), "exit status 3")
		}},
		{"never ready", "sleep 30", func(err error) bool {
			var nr *NotReadyError
			return errors.As(err, &nr) && nr.Last.Error() == "no answer"
		}},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := &process{
				name:    tt.name,
				path:    "/bin/sh",
				args:    []string{"-c", tt.script},
				logPath: filepath.Join(dir, "logs", strconv.Itoa(i)+".log"),
				pidPath: filepath.Join(dir, "pids", strconv.Itoa(i)+".pid"),
			}
			if err := p.start(); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			defer cancel()
			err := p.waitReady(ctx, notYet)
			if !tt.wantErr(err) {
				t.Errorf("waitReady: unexpected error %T: %v", err, err)
			}
			if err := p.stop(context.Background(), time.Second); err != nil {
				t.Error(err)
			}
			if _, err := os.Stat(p.pidPath); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("pid file left behind: %v", err)
			}
		})
	}
}

func TestStopDirOrderAndIdempotence(t *testing.T) {
	dir := t.TempDir()
	// Components that ignore SIGTERM must get SIGKILL after the grace.
	var started []*process
	for _, name := range []string{compEtcd, compAPIServer, "addon"} {
		p := &process{
			name:     name,
			path:     "/bin/sh",
			args:     []string{"-c", "trap '' TERM; sleep 60 & wait; : " + dir},
			logPath:  filepath.Join(dir, "logs", name+".log"),
			pidPath:  filepath.Join(dir, "pids", name+".pid"),
			detached: true,
		}
		if err := p.start(); err != nil {
			t.Fatal(err)
		}
		started = append(started, p)
	}
	procs, err := ReadPIDs(dir)
	if err != nil {
		t.Fatal(err)
	}
	var order []string
	for _, p := range procs {
		order = append(order, p.Name)
		if !p.Alive {
			t.Errorf("%s (pid %d) not seen alive", p.Name, p.Pid)
		}
	}
	if got, want := strings.Join(order, ","), "addon,kube-apiserver,etcd"; got != want {
		t.Errorf("stop order %s, want %s", got, want)
	}
	for range 2 {
		if err := StopDir(context.Background(), dir, 200*time.Millisecond); err != nil {
			t.Fatal(err)
		}
	}
	for _, p := range started {
		select {
		case <-p.exited:
		case <-time.After(5 * time.Second):
			t.Errorf("%s still running after StopDir", p.name)
		}
	}
	if procs, _ := ReadPIDs(dir); len(procs) != 0 {
		t.Errorf("pid files left: %v", procs)
	}
}

// TestToolsModulesMatchVersions keeps the tools modules in step with
// versions.env (build.sh regenerates them when they drift).
func TestToolsModulesMatchVersions(t *testing.T) {
	v := PinnedVersions()
	tests := []struct {
		file string
		want []string
	}{
		{"tools/k8s/go.mod", []string{"k8s.io/kubernetes " + v.Kubernetes + "\n", "=> k8s.io/api v0." + strings.TrimPrefix(v.Kubernetes, "v1.") + "\n"}},
		{"tools/etcd/go.mod", []string{"go.etcd.io/etcd/server/v3 " + v.Etcd + "\n"}},
	}
	for _, tt := range tests {
		data, err := os.ReadFile(tt.file)
		if err != nil {
			t.Fatal(err)
		}
		for _, w := range tt.want {
			if !strings.Contains(string(data), w) {
				t.Errorf("%s lacks %q: run localcluster/build.sh to regenerate it from versions.env", tt.file, strings.TrimSpace(w))
			}
		}
	}
}

// TestWriteStages: every embedded KWOK stage, ours included, is written to
// the config and parses as a Stage for the kind it is meant for.
func TestWriteStages(t *testing.T) {
	path := filepath.Join(t.TempDir(), "kwok.yaml")
	if err := writeStages(path); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	type stage struct {
		Kind     string `json:"kind"`
		Metadata struct {
			Name string `json:"name"`
		} `json:"metadata"`
		Spec struct {
			ResourceRef struct {
				Kind string `json:"kind"`
			} `json:"resourceRef"`
			Selector struct {
				MatchExpressions []struct {
					Key string `json:"key"`
				} `json:"matchExpressions"`
			} `json:"selector"`
		} `json:"spec"`
	}
	got := map[string]stage{}
	for _, doc := range strings.Split(string(data), "---\n")[1:] {
		var s stage
		if err := yaml.Unmarshal([]byte(doc), &s); err != nil {
			t.Fatalf("a stage does not parse: %v\n%s", err, doc)
		}
		got[s.Metadata.Name] = s
	}
	tests := []struct{ name, kind string }{
		{"node-initialize", "Node"},
		{"node-heartbeat-with-lease", "Node"},
		{"pod-create", "Pod"},
		{"pod-ready", "Pod"},
		{"pod-ready-again", "Pod"},
		{"pod-complete", "Pod"},
		{"pod-delete", "Pod"},
	}
	for _, tt := range tests {
		s, ok := got[tt.name]
		if !ok {
			t.Errorf("stage %s missing from %s", tt.name, path)
			continue
		}
		if s.Kind != "Stage" || s.Spec.ResourceRef.Kind != tt.kind || len(s.Spec.Selector.MatchExpressions) == 0 {
			t.Errorf("stage %s: kind %q, for %q, %d selector expressions; want a Stage for %s with a selector",
				tt.name, s.Kind, s.Spec.ResourceRef.Kind, len(s.Spec.Selector.MatchExpressions), tt.kind)
		}
	}
}
