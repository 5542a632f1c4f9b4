package engine

import (
	"errors"
	"fmt"
	"regexp"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// expectation is a compiled expectError: the error a step must fail with.
type expectation struct {
	message string
	pattern *regexp.Regexp
	reason  string
}

func (x *expectation) String() string {
	var parts []string
	if x.message != "" {
		parts = append(parts, fmt.Sprintf("message containing %q", x.message))
	}
	if x.pattern != nil {
		parts = append(parts, fmt.Sprintf("message matching /%s/", x.pattern))
	}
	if x.reason != "" {
		parts = append(parts, "reason "+x.reason)
	}
	if len(parts) == 0 {
		return "an error"
	}
	return "an error with " + strings.Join(parts, " and ")
}

// check turns the step's outcome into the expected one: nil when err is
// the expected error, else an error saying what happened instead.
func (x *expectation) check(err error) error {
	if err == nil {
		return fmt.Errorf("expected %s, but the step succeeded", x)
	}
	msg := err.Error()
	var miss []string
	if x.message != "" && !strings.Contains(msg, x.message) {
		miss = append(miss, fmt.Sprintf("the message does not contain %q", x.message))
	}
	if x.pattern != nil && !x.pattern.MatchString(msg) {
		miss = append(miss, fmt.Sprintf("the message does not match /%s/", x.pattern))
	}
	if x.reason != "" {
		if got := reasonOf(err); !strings.EqualFold(got, x.reason) {
			if got == "" {
				got = "none (not an API error)"
			}
			miss = append(miss, fmt.Sprintf("the reason is %s, not %s", got, x.reason))
		}
	}
	if len(miss) > 0 {
		return fmt.Errorf("expected %s, but %s: %s", x, strings.Join(miss, " and "), msg)
	}
	return nil
}

// reasonOf is the API status reason of err, or "" for other errors. An
// admission webhook's refusal has no reason of its own beyond Forbidden
// or Invalid, which the status carries.
func reasonOf(err error) string {
	var st apierrors.APIStatus
	if !errors.As(err, &st) {
		return ""
	}
	if r := st.Status().Reason; r != metav1.StatusReasonUnknown {
		return string(r)
	}
	return ""
}
