package bench

import (
	"os"
	"syscall"
	"testing"
	"time"
)

func TestSampleHostCountsOurOwnCPU(t *testing.T) {
	a := SampleHost()
	start := selfCPU()
	for selfCPU()-start < 0.3 { // 300 ms of CPU, however busy the machine
	}
	b := SampleHost()
	if d := b.Ours - a.Ours; d < 0.25 {
		t.Errorf("300 ms of CPU counted as %.2f s of ours", d)
	}
	if b.Busy < a.Busy {
		t.Errorf("machine busy time went backwards: %v -> %v", a.Busy, b.Busy)
	}
	if f := Foreign(a, b); f < 0 || f > float64(ReadMachine().Cores) {
		t.Errorf("foreign load %v cores is out of range", f)
	}
}

func selfCPU() float64 {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}

func TestProcCPU(t *testing.T) {
	_, hwm := ProcCPU(os.Getpid())
	if hwm <= 0 {
		t.Errorf("VmHWM of the test process = %d", hwm)
	}
}

func TestReadMachine(t *testing.T) {
	m := ReadMachine()
	if m.Cores < 1 || m.MemoryGiB <= 0 || m.Kernel == "" {
		t.Errorf("ReadMachine() = %+v", m)
	}
}
