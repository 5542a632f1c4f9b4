package engine

import (
	"errors"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

func TestRetryRefused(t *testing.T) {
	bi := schema.GroupResource{Group: "longhorn.io", Resource: "backingimages"}
	refused := apierrors.NewInvalid(schema.GroupKind{Group: "longhorn.io", Kind: "BackingImage"}, "bi", nil)
	refused.ErrStatus.Message = `admission webhook "validator.longhorn.io" denied the request: cannot delete backing image bi since there are replicas using it`
	rbac := apierrors.NewForbidden(bi, "bi", errors.New("user cannot delete"))
	tests := []struct {
		name      string
		errs      []error // returned by successive calls
		wantCalls int
		wantErr   error
	}{
		{"refused, then allowed", []error{refused, refused, nil}, 3, nil},
		{"not an admission refusal: no retry", []error{rbac, nil}, 1, rbac},
		{"other error: no retry", []error{errors.New("boom"), nil}, 1, errors.New("boom")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			calls := 0
			err := retryRefused(t.Context(), func() error {
				calls++
				return tt.errs[calls-1]
			})
			if calls != tt.wantCalls || (err == nil) != (tt.wantErr == nil) || (err != nil && err.Error() != tt.wantErr.Error()) {
				t.Errorf("%d calls, err %v; want %d calls, err %v", calls, err, tt.wantCalls, tt.wantErr)
			}
		})
	}
}
