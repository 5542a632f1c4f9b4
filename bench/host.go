package bench

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Machine describes the host the benchmarks ran on.
type Machine struct {
	CPU       string  `json:"cpu"`
	Cores     int     `json:"cores"`
	MemoryGiB float64 `json:"memoryGiB"`
	Kernel    string  `json:"kernel"`
	Go        string  `json:"go"`
}

// ReadMachine reads /proc for the CPU model and memory, and uname.
func ReadMachine() Machine {
	m := Machine{Cores: runtime.NumCPU(), Go: runtime.Version()}
	if data, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(data), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPU = strings.TrimSpace(v)
				break
			}
		}
	}
	if data, err := os.ReadFile("/proc/meminfo"); err == nil {
		var kb float64
		if _, err := fmt.Sscanf(string(data), "MemTotal: %f kB", &kb); err == nil {
			m.MemoryGiB = float64(int(kb/1024/1024*10+0.5)) / 10
		}
	}
	var u syscall.Utsname
	if syscall.Uname(&u) == nil {
		m.Kernel = utsString(u.Sysname[:]) + " " + utsString(u.Release[:])
	}
	return m
}

func utsString(b []int8) string {
	var s strings.Builder
	for _, c := range b {
		if c == 0 {
			break
		}
		s.WriteByte(byte(c))
	}
	return s.String()
}

// HostSample is a reading of how much CPU time the whole machine and this
// process tree (the driver, the cluster, the tools) have used.
type HostSample struct {
	At    time.Time
	Busy  float64 // CPU seconds of the machine, all cores, since boot
	Ours  float64 // CPU seconds of this process and its descendants
	Load1 float64 // 1-minute load average
}

// clockTick is USER_HZ, the unit of /proc's CPU times (100 on Linux).
const clockTick = 100.0

// SampleHost reads /proc/stat, /proc/loadavg and the stat file of this
// process and of every descendant.
func SampleHost() HostSample {
	s := HostSample{At: time.Now()}
	if data, err := os.ReadFile("/proc/stat"); err == nil {
		line, _, _ := strings.Cut(string(data), "\n")
		f := strings.Fields(line)
		// cpu user nice system idle iowait irq softirq steal ...
		for i, v := range f[1:] {
			if i == 3 || i == 4 || i >= 8 { // idle, iowait, guest (already in user)
				continue
			}
			n, _ := strconv.ParseFloat(v, 64)
			s.Busy += n / clockTick
		}
	}
	if data, err := os.ReadFile("/proc/loadavg"); err == nil {
		s.Load1, _ = strconv.ParseFloat(strings.Fields(string(data))[0], 64)
	}
	s.Ours = treeCPU(os.Getpid())
	return s
}

// Foreign is the average number of cores busy with work that is not ours
// between a and b: other people's builds and tests on a shared machine.
func Foreign(a, b HostSample) float64 {
	d := b.At.Sub(a.At).Seconds()
	if d <= 0 {
		return 0
	}
	return max(0, (b.Busy-a.Busy)-(b.Ours-a.Ours)) / d
}

// treeCPU sums utime, stime, cutime and cstime of root and its live
// descendants: a reaped child's time is in its parent's cutime.
func treeCPU(root int) float64 {
	paths, _ := filepath.Glob("/proc/[0-9]*/stat")
	type proc struct {
		ppid int
		cpu  float64
	}
	procs := make(map[int]proc, len(paths))
	for _, p := range paths {
		pid, err := strconv.Atoi(filepath.Base(filepath.Dir(p)))
		if err != nil {
			continue
		}
		ppid, cpu, ok := readStat(p)
		if ok {
			procs[pid] = proc{ppid, cpu}
		}
	}
	total := 0.0
	for pid, p := range procs {
		for q := pid; q > 1; q = procs[q].ppid {
			if q == root {
				total += p.cpu
				break
			}
			if _, ok := procs[q]; !ok {
				break
			}
		}
	}
	return total
}

// readStat reads the parent pid and utime+stime+cutime+cstime (seconds) of
// a /proc/<pid>/stat file.
func readStat(path string) (int, float64, bool) {
	f, err := os.Open(path)
	if err != nil {
		return 0, 0, false
	}
	defer f.Close()
	line, err := bufio.NewReader(f).ReadString('\n')
	if err != nil && line == "" {
		return 0, 0, false
	}
	// The command name is in parentheses and may hold spaces: fields start
	// after the last ')'. Then: state ppid ... utime(14) stime cutime cstime.
	i := strings.LastIndexByte(line, ')')
	if i < 0 {
		return 0, 0, false
	}
	f2 := strings.Fields(line[i+1:])
	if len(f2) < 15 {
		return 0, 0, false
	}
	ppid, _ := strconv.Atoi(f2[1])
	cpu := 0.0
	for _, v := range f2[11:15] {
		n, _ := strconv.ParseFloat(v, 64)
		cpu += n / clockTick
	}
	return ppid, cpu, true
}

// ProcCPU reads the utime+stime (no children) of pid in seconds, and its
// VmHWM (peak resident set) in bytes, while it runs.
func ProcCPU(pid int) (cpu float64, hwm int64) {
	if _, c, ok := readStat(fmt.Sprintf("/proc/%d/stat", pid)); ok {
		cpu = c
	}
	if data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid)); err == nil {
		for _, line := range strings.Split(string(data), "\n") {
			if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
				kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
				hwm = kb * 1024
			}
		}
	}
	return cpu, hwm
}
