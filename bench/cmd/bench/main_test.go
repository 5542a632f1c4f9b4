package main

import (
	"slices"
	"strings"
	"testing"
	"time"
)

func TestParseFlagsDefaults(t *testing.T) {
	c, err := parseFlags(nil)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(c.suites, allSuites) {
		t.Errorf("suites %v, want %v", c.suites, allSuites)
	}
	if i, j := slices.Index(c.suites, "large"), slices.Index(c.suites, "seed"); i < 0 || i > j {
		t.Errorf("large must run before seed: %v", c.suites)
	}
	if c.largeObjects != 100000 || c.largeTail != 100 || c.largeTrials != 10 || c.largeChainsawTrials != 3 {
		t.Errorf("large suite: %d objects, tail %d, %d trials, chainsaw %d", c.largeObjects, c.largeTail, c.largeTrials, c.largeChainsawTrials)
	}
	if !slices.Equal(c.seedReplicas, []int{25, 250, 1000}) {
		t.Errorf("seed replicas %v", c.seedReplicas)
	}
	if c.maxTime != 4*time.Hour || seedTimeout < 90*time.Minute || seedTimeout >= c.maxTime {
		t.Errorf("--max-time %s, seed run timeout %s: a 10,000-volume run (about an hour) must fit", c.maxTime, seedTimeout)
	}
	if c.qps != 0 {
		t.Errorf("--qps %v: the fixed-limit pair should be off by default", c.qps)
	}
}

func TestParseFlags(t *testing.T) {
	c, err := parseFlags(strings.Fields("--suites large --large-objects 3000 --large-tail 10 --large-trials 3 --large-chainsaw-trials 0 --memory-rounds 1 --large-memory-for 20s"))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(c.suites, []string{"large"}) || c.largeObjects != 3000 || c.largeTail != 10 || c.largeTrials != 3 ||
		c.largeChainsawTrials != 0 || c.memRounds != 1 || c.largeMemFor != 20*time.Second {
		t.Errorf("got %+v", c)
	}
	for _, bad := range []string{
		"--suites larger",
		"--large-tail 0",
		"--large-objects 50 --large-tail 100",
		"--large-trials 0",
		"--large-chainsaw-trials -1",
		"--seed-replicas 25,x",
		"extra",
	} {
		if _, err := parseFlags(strings.Fields(bad)); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

func TestRoughly(t *testing.T) {
	for d, want := range map[time.Duration]string{100000 * kubectlPerObject: "4.2 h", 3000 * kubectlPerObject: "8 min", 40 * time.Second: "40 s"} {
		if got := roughly(d); got != want {
			t.Errorf("roughly(%s) = %q, want %q", d, got, want)
		}
	}
}

func TestSeedNodes(t *testing.T) {
	for _, tt := range []struct {
		replicas []int
		want     int
	}{
		{nil, 3}, {[]int{25}, 3}, {[]int{25, 250}, 3}, {[]int{301}, 4}, {[]int{25, 250, 1000}, 10}, {[]int{4000, 25}, 40},
	} {
		if got := seedNodes(tt.replicas); got != tt.want {
			t.Errorf("seedNodes(%v) = %d, want %d", tt.replicas, got, tt.want)
		}
	}
}
