package localcluster

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Component names, in start order. They name the log and pid files.
const (
	compEtcd      = "etcd"
	compAPIServer = "kube-apiserver"
	compKCM       = "kube-controller-manager"
	compScheduler = "kube-scheduler"
	compKWOK      = "kwok"
)

var coreOrder = []string{compEtcd, compAPIServer, compKCM, compScheduler, compKWOK}

// ProcessState is what a pid file says about one process.
type ProcessState struct {
	Name  string
	Pid   int
	Alive bool // the pid runs and its command line names this cluster's folder
}

// ReadPIDs reads <dir>/pids/*.pid in stop order: add-ons (latest first),
// then the control plane in reverse start order.
func ReadPIDs(dir string) ([]ProcessState, error) {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("resolving %s: %w", dir, err)
	}
	entries, err := os.ReadDir(filepath.Join(dir, "pids"))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading pid folder: %w", err)
	}
	type rec struct {
		ProcessState
		mod  time.Time
		rank int
	}
	var recs []rec
	for _, e := range entries {
		name, ok := strings.CutSuffix(e.Name(), ".pid")
		if !ok || e.IsDir() {
			continue
		}
		path := filepath.Join(dir, "pids", e.Name())
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("reading %s: %w", path, err)
		}
		pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
		if err != nil || pid <= 0 {
			return nil, fmt.Errorf("pid file %s holds %q, not a pid", path, strings.TrimSpace(string(data)))
		}
		var mod time.Time
		if fi, err := e.Info(); err == nil {
			mod = fi.ModTime()
		}
		rank := -1 // add-ons stop first
		if i := slices.Index(coreOrder, name); i >= 0 {
			rank = len(coreOrder) - i
		}
		recs = append(recs, rec{ProcessState{Name: name, Pid: pid, Alive: belongs(pid, dir)}, mod, rank})
	}
	sort.SliceStable(recs, func(i, j int) bool {
		if recs[i].rank != recs[j].rank {
			return recs[i].rank < recs[j].rank
		}
		return recs[i].mod.After(recs[j].mod)
	})
	out := make([]ProcessState, len(recs))
	for i, r := range recs {
		out[i] = r.ProcessState
	}
	return out, nil
}

// belongs reports whether pid is alive and its command line mentions dir,
// so that a recycled pid of an unrelated process is never signalled.
func belongs(pid int, dir string) bool {
	cmdline, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "cmdline"))
	if err != nil {
		return false
	}
	if stat, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat")); err == nil {
		// A zombie is dead for our purposes.
		if i := strings.LastIndexByte(string(stat), ')'); i >= 0 && strings.HasPrefix(string(stat[i:]), ") Z") {
			return false
		}
	}
	return strings.Contains(string(cmdline), dir)
}

// StopDir stops the processes recorded in <dir>/pids in stop order with
// SIGTERM, then SIGKILL after grace, and removes their pid files. It is what
// `runner sim down` does; running it twice is harmless.
func StopDir(ctx context.Context, dir string, grace time.Duration) error {
	procs, err := ReadPIDs(dir)
	if err != nil {
		return err
	}
	var errs []error
	for _, p := range procs {
		if p.Alive {
			if err := stopPID(ctx, p.Pid, dir, grace); err != nil {
				errs = append(errs, fmt.Errorf("stopping %s (pid %d): %w", p.Name, p.Pid, err))
				continue
			}
		}
		if err := os.Remove(filepath.Join(dir, "pids", p.Name+".pid")); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, fmt.Errorf("removing pid file of %s: %w", p.Name, err))
		}
	}
	return errors.Join(errs...)
}

func stopPID(ctx context.Context, pid int, dir string, grace time.Duration) error {
	absDir, err := filepath.Abs(dir)
	if err != nil {
		return fmt.Errorf("resolving %s: %w", dir, err)
	}
	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("SIGTERM: %w", err)
	}
	if waitGone(ctx, pid, absDir, grace) {
		return nil
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("SIGKILL: %w", err)
	}
	if waitGone(context.WithoutCancel(ctx), pid, absDir, 5*time.Second) {
		return nil
	}
	return errors.New("still running 5s after SIGKILL")
}

func waitGone(ctx context.Context, pid int, dir string, d time.Duration) bool {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if !belongs(pid, dir) {
			return true
		}
		select {
		case <-ctx.Done():
			return !belongs(pid, dir)
		case <-time.After(50 * time.Millisecond):
		}
	}
	return !belongs(pid, dir)
}
