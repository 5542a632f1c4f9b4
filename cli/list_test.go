package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// TestList checks runner list's three outputs on testdata/suite (golden
// files), and its usage errors.
func TestList(t *testing.T) {
	t.Chdir("..")
	cases := []struct {
		name   string
		args   []string
		golden string
	}{
		{"table", []string{"list", "testdata/suite"}, "cli/testdata/list-table.golden"},
		{"table shards", []string{"list", "testdata/suite", "--shards", "3"}, "cli/testdata/list-shards.golden"},
		{"json selector", []string{"list", "testdata/suite", "--selector", "tier=nightly,!slow", "-o", "json"}, "cli/testdata/list-selector.golden"},
		{"github shards", []string{"list", "testdata/suite", "--shards", "2", "-o", "github"}, "cli/testdata/list-github-shards.golden"},
		{"github cells", []string{"list", "testdata/suite/node", "testdata/suite/smoke.yaml", "-o", "github"}, "cli/testdata/list-github-cells.golden"},
		{"pinned", []string{"list", "testdata/suite/volume", "--set-optional", "replicas=7"}, "cli/testdata/list-pinned.golden"},
		{"validate a folder", []string{"validate", "testdata/suite", "scenarios/examples/pod-startup.yaml"}, "cli/testdata/validate-folder.golden"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			out, stderr, err := run(t, tc.args...)
			if err != nil {
				t.Fatalf("%v\n%s", err, stderr)
			}
			golden(t, tc.golden, out)
		})
	}
	for _, args := range [][]string{
		{"list", "testdata/suite", "--selector", "tier in ("},
		{"list", "testdata/suite", "-o", "yaml"},
		{"list", "testdata/suite", "--shards", "-1"},
		{"list", "testdata/nope"},
		{"list", "testdata/suite", "--timings", "testdata/suite/smoke.yaml"},
		{"--shard", "3/2", "testdata/suite"},
		{"--cell", "volume-attach[replicas=6,budget=1m]", "testdata/suite"},
	} {
		if _, _, err := run(t, args...); !errors.Is(err, ErrUsage) {
			t.Errorf("%q: want a usage error, got %v", args, err)
		}
	}
}

// TestShardsCoverEveryCell runs the selection of runner --shard I/N for
// every I and N = 1..cells+1, with --parallel 1 and 2, and checks that each cell is in exactly one
// shard, the one runner list --shards N puts it in.
func TestShardsCoverEveryCell(t *testing.T) {
	t.Chdir("..")
	dir := t.TempDir()
	timings := filepath.Join(dir, "report.json")
	// A report that timed some cells: the partition must use it.
	if err := os.WriteFile(timings, []byte(`{"schemaVersion": "runner.report/v2", "plans": [
		{"id": "volume-settings", "name": "volume-settings", "outcome": "passed", "durationSeconds": 30},
		{"id": "volume-attach[replicas=25,budget=1m]", "name": "volume-attach", "outcome": "failed", "durationSeconds": 400},
		{"id": "smoke", "name": "smoke", "outcome": "passed", "durationSeconds": 2}]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	all, err := loadSuite([]string{"testdata/suite"}, inputs{}, selection{})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, c := range all.Cells {
		ids = append(ids, c.ID)
	}
	for _, par := range []int{1, 2} {
		for n := 1; n <= len(ids)+1; n++ {
			out, _, err := run(t, "list", "testdata/suite", "--shards", fmt.Sprint(n), "--timings", timings, "--parallel", fmt.Sprint(par), "-o", "json")
			if err != nil {
				t.Fatal(err)
			}
			var listed []struct {
				ID    string `json:"id"`
				Shard int    `json:"shard"`
			}
			if err := json.Unmarshal([]byte(out), &listed); err != nil {
				t.Fatal(err)
			}
			seen := map[string]int{}
			for i := 1; i <= n; i++ {
				s, err := loadSuite([]string{"testdata/suite"}, inputs{}, selection{shard: fmt.Sprintf("%d/%d", i, n), timings: []string{timings}, parallel: par})
				if err != nil {
					t.Fatal(err)
				}
				for _, c := range s.Cells {
					seen[c.ID]++
					j := slices.IndexFunc(listed, func(e struct {
						ID    string `json:"id"`
						Shard int    `json:"shard"`
					}) bool {
						return e.ID == c.ID
					})
					if j < 0 || listed[j].Shard != i {
						t.Errorf("n=%d: --shard %d/%d runs %s, list puts it in %+v", n, i, n, c.ID, listed[j])
					}
				}
			}
			var got []string
			for id, k := range seen {
				if k != 1 {
					t.Errorf("n=%d: %s runs in %d shards", n, id, k)
				}
				got = append(got, id)
			}
			slices.Sort(got)
			want := slices.Sorted(slices.Values(ids))
			if !reflect.DeepEqual(got, want) {
				t.Errorf("n=%d: shards ran %q, want %q", n, got, want)
			}
		}
	}
}

// TestRerunFailed checks that --rerun-failed keeps the failed, timed-out
// and interrupted cells of a report.
func TestRerunFailed(t *testing.T) {
	t.Chdir("..")
	rep := filepath.Join(t.TempDir(), "report.json")
	if err := os.WriteFile(rep, []byte(`{"schemaVersion": "runner.report/v2", "plans": [
		{"id": "volume-settings", "name": "volume-settings", "outcome": "passed"},
		{"id": "volume-attach[replicas=25,budget=1m]", "name": "volume-attach", "outcome": "failed"},
		{"id": "node-drain", "name": "node-drain", "outcome": "interrupted"},
		{"id": "smoke", "name": "smoke", "outcome": "timed-out"},
		{"id": "gone", "name": "gone", "outcome": "failed"}]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	s, err := loadSuite([]string{"testdata/suite"}, inputs{}, selection{rerunFailed: rep, selector: "tier"})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, c := range s.Cells {
		got = append(got, c.ID)
	}
	if want := []string{"node-drain", "volume-attach[replicas=25,budget=1m]"}; !reflect.DeepEqual(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
	// --cell picks cells by id.
	s, err = loadSuite([]string{"testdata/suite"}, inputs{}, selection{cells: []string{"smoke", "volume-attach[replicas=5,budget=1m]"}})
	if err != nil || len(s.Cells) != 2 || s.Cells[0].ID != "smoke" || s.Plans[1].Cell["budget"] != "1m" {
		t.Errorf("--cell: %v %+v", err, s)
	}
	// A report of another schema version is a usage error naming the file.
	bad := filepath.Join(t.TempDir(), "report.json")
	_ = os.WriteFile(bad, []byte(`{"schemaVersion": "runner.report/v1", "plans": []}`), 0o644)
	if _, err := loadSuite([]string{"testdata/suite"}, inputs{}, selection{rerunFailed: bad}); !errors.Is(err, ErrUsage) || !strings.Contains(err.Error(), bad) {
		t.Errorf("got %v", err)
	}
}
