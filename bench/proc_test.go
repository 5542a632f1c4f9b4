package bench

import (
	"context"
	"testing"
	"time"
)

// Ready is closed at the first line holding Cmd.Ready, while the process
// still runs, and Result.ReadyAt is that line's arrival.
func TestRunningReady(t *testing.T) {
	r, err := Start(context.Background(), Cmd{Path: "/bin/sh", Args: []string{"-c", "echo starting; echo 0/3 satisfied; echo 2/3 satisfied; exec sleep 5"},
		Ready: "/3 satisfied", Timeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-r.Ready():
	case <-r.Done():
		t.Fatal("exited before its ready line was seen")
	case <-time.After(10 * time.Second):
		t.Fatal("ready line not seen")
	}
	if r.Exited() {
		t.Error("ready only once the process had exited")
	}
	r.Stop(time.Second)
	res := r.Wait()
	if res.ReadyAt.IsZero() || res.ReadyAt.Before(res.Start) || res.ReadyAt.After(res.End) {
		t.Errorf("ReadyAt %v outside the run %v–%v", res.ReadyAt, res.Start, res.End)
	}
}

// Without a ready line, Ready never closes.
func TestRunningNotReady(t *testing.T) {
	r, err := Start(context.Background(), Cmd{Path: "/bin/sh", Args: []string{"-c", "echo 0/1 satisfied"}, Ready: "/3 satisfied", Timeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	res := r.Wait()
	select {
	case <-r.Ready():
		t.Error("ready without the line")
	default:
	}
	if !res.ReadyAt.IsZero() {
		t.Errorf("ReadyAt = %v", res.ReadyAt)
	}
}
