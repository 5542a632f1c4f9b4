package rbac

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"golang.org/x/sync/errgroup"
	authnv1 "k8s.io/api/authentication/v1"
	authv1 "k8s.io/api/authorization/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	authnclient "k8s.io/client-go/kubernetes/typed/authentication/v1"
	authclient "k8s.io/client-go/kubernetes/typed/authorization/v1"
	"k8s.io/client-go/rest"
)

// Missing is a permission the identity lacks: one verb of a rule.
type Missing struct {
	Rule Rule // with Verbs the one missing verb
}

// String is one line naming the verb, the resource, the namespace and the
// steps that need it.
func (m Missing) String() string {
	v := m.Rule.Verbs[0]
	return fmt.Sprintf("cannot %s %s %s: needed by %s", v, m.Rule.What(), m.Rule.Where(), strings.Join(m.Rule.NeededFor(v), ", "))
}

// WhoAmI names the identity of cfg as the API server sees it (a
// SelfSubjectReview), e.g. system:serviceaccount:qa:runner.
func WhoAmI(ctx context.Context, cfg *rest.Config) (string, error) {
	c, err := authnclient.NewForConfig(cfg)
	if err != nil {
		return "", err
	}
	r, err := c.SelfSubjectReviews().Create(ctx, &authnv1.SelfSubjectReview{}, metav1.CreateOptions{})
	if err != nil {
		return "", err
	}
	return r.Status.UserInfo.Username, nil
}

// ErrNoReview marks a preflight the API server would not answer: the
// identity may not create SelfSubjectAccessReviews.
var ErrNoReview = errors.New("the API server did not answer the preflight's SelfSubjectAccessReview")

// Preflight asks the API server, with one SelfSubjectAccessReview per verb
// of each rule (in parallel), whether the identity of cfg may do all that p
// lists, and returns what it may not, in p's order.
func Preflight(ctx context.Context, cfg *rest.Config, p *Policy) ([]Missing, error) {
	c, err := authclient.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("authorization client: %w", err)
	}
	type ask struct {
		rule int
		verb string
	}
	var asks []ask
	for i, r := range p.Rules {
		for _, v := range r.Verbs {
			asks = append(asks, ask{i, v})
		}
	}
	allowed := make([]bool, len(asks))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(16)
	for i, a := range asks {
		g.Go(func() error {
			r := p.Rules[a.rule]
			res, sub, _ := strings.Cut(r.Resource, "/")
			review := &authv1.SelfSubjectAccessReview{Spec: authv1.SelfSubjectAccessReviewSpec{
				ResourceAttributes: &authv1.ResourceAttributes{Namespace: r.Namespace, Verb: a.verb, Group: r.Group, Resource: res, Subresource: sub},
			}}
			out, err := c.SelfSubjectAccessReviews().Create(gctx, review, metav1.CreateOptions{})
			if err != nil {
				if apierrors.IsForbidden(err) || apierrors.IsNotFound(err) || apierrors.IsMethodNotSupported(err) {
					return fmt.Errorf("%w (%v): run with --no-preflight to skip the check", ErrNoReview, err)
				}
				return fmt.Errorf("asking whether it may %s %s: %w", a.verb, r.What(), err)
			}
			allowed[i] = out.Status.Allowed
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	var missing []Missing
	for i, a := range asks {
		if !allowed[i] {
			r := p.Rules[a.rule]
			r.Verbs = []string{a.verb}
			missing = append(missing, Missing{Rule: r})
		}
	}
	return missing, nil
}

// Grant is the policy of the missing permissions, one rule per resource
// with the verbs missing, for printing the rules that would grant them.
func Grant(missing []Missing) *Policy {
	p := &Policy{}
	for _, m := range missing {
		n := len(p.Rules)
		needs := m.Rule.NeededFor(m.Rule.Verbs[0])
		if n > 0 && p.Rules[n-1].Namespace == m.Rule.Namespace && p.Rules[n-1].Group == m.Rule.Group && p.Rules[n-1].Resource == m.Rule.Resource {
			last := &p.Rules[n-1]
			last.Verbs = append(last.Verbs, m.Rule.Verbs...)
			for _, w := range needs {
				if !slices.Contains(last.Needs, w) {
					last.Needs = append(last.Needs, w)
				}
			}
			slices.SortFunc(last.Needs, compareNeeds)
			continue
		}
		r := m.Rule
		r.Needs = slices.Clone(needs)
		p.Rules = append(p.Rules, r)
	}
	return p
}
