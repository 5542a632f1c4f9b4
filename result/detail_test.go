package result

import (
	"testing"
	"time"
)

func TestFormatDuration(t *testing.T) {
	for in, want := range map[time.Duration]string{
		5812345 * time.Nanosecond:              "5.81ms",
		47212 * time.Millisecond:               "47.2s",
		47234 * time.Millisecond:               "47.2s",
		581 * time.Microsecond:                 "581µs",
		999 * time.Nanosecond:                  "999ns",
		9*time.Minute + 41400*time.Millisecond: "9m41s",
		time.Hour:                              "1h",
		2 * time.Minute:                        "2m",
		time.Hour + 5*time.Second:              "1h0m5s",
		90 * time.Minute:                       "1h30m",
		0:                                      "0s",
	} {
		if got := FormatDuration(in); got != want {
			t.Errorf("FormatDuration(%v) = %s, want %s", in, got, want)
		}
	}
	for in, want := range map[float64]string{3.6: "3.6s", 47.234: "47.2s", 0.00581234: "5.81ms", 581.4: "9m41s"} {
		if got := FormatSeconds(in); got != want {
			t.Errorf("FormatSeconds(%v) = %q, want %q", in, got, want)
		}
	}
}

func TestWorst(t *testing.T) {
	for _, tc := range []struct{ a, b, want Outcome }{
		{Passed, Skipped, Skipped}, {Failed, Passed, Failed}, {TimedOut, Failed, TimedOut}, {Interrupted, TimedOut, Interrupted},
	} {
		if got := Worst(tc.a, tc.b); got != tc.want {
			t.Errorf("Worst(%s, %s) = %s, want %s", tc.a, tc.b, got, tc.want)
		}
	}
}
