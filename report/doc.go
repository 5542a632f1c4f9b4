// Package report renders the results of a run (result.Plan values) as
// files people and CI read: report.json (the whole run in a documented,
// versioned shape; its JSON Schema is schemas/report.schema.json),
// junit.xml (one testsuite per plan, one testcase per step) and report.html
// (one self-contained page: a timeline of the steps, waitFor progress and
// timeProbe samples as inline SVG, failures, vars and environment).
//
// New turns results into a Report, the one model the three renderers share;
// WriteDir writes all three files. The package only renders: it runs
// nothing, talks to no cluster and prints nothing to the terminal. The HTML
// page needs no JavaScript and fetches nothing from the network.
//
// schemas/report.schema.json is generated from the Go types of this
// package; a test fails when the two drift apart. Regenerate it with
//
//	go test ./report -run TestSchemaInSync -update
package report
