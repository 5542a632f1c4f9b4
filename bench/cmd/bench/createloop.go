package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/restmapper"
	"k8s.io/client-go/tools/clientcmd"
)

// createLoop is the baseline the apply benchmark compares runner with: the
// plainest client-go program that creates the objects of a file, `parallel`
// at a time, with the same QPS and burst (or, with --apply, server-side
// applies them as runner does). It runs as its own process, as the
// tools do, so that its start-up counts as theirs does.
func createLoop(args []string) error {
	fs := flag.NewFlagSet("createloop", flag.ContinueOnError)
	kubeconfig := fs.String("kubeconfig", "", "kubeconfig")
	file := fs.String("f", "", "multi-document YAML of the objects to create")
	workers := fs.Int("parallel", 16, "creates at once")
	qps := fs.Float64("qps", 200, "client QPS (negative: no limit)")
	burst := fs.Int("burst", 400, "client burst")
	apply := fs.Bool("apply", false, "server-side apply (PATCH, field manager bench) instead of create (POST)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", *kubeconfig)
	if err != nil {
		return err
	}
	cfg.QPS, cfg.Burst = float32(*qps), *burst
	objs, err := readObjects(*file)
	if err != nil {
		return err
	}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return err
	}
	disc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		return err
	}
	mapper := restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(disc))
	ctx := context.Background()
	return parallel(ctx, len(objs), *workers, func(ctx context.Context, i int) error {
		o := objs[i]
		gvk := o.GroupVersionKind()
		m, err := mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
		if err != nil {
			return err
		}
		ri := dyn.Resource(m.Resource).Namespace(o.GetNamespace())
		if *apply {
			_, err = ri.Apply(ctx, o.GetName(), o, metav1.ApplyOptions{FieldManager: "bench"})
		} else {
			_, err = ri.Create(ctx, o, metav1.CreateOptions{})
		}
		if err != nil {
			return fmt.Errorf("%s/%s: %w", o.GetKind(), o.GetName(), err)
		}
		return nil
	})
}

func readObjects(path string) ([]*unstructured.Unstructured, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
	var objs []*unstructured.Unstructured
	for {
		u := &unstructured.Unstructured{}
		if err := dec.Decode(&u.Object); err != nil {
			if errors.Is(err, io.EOF) {
				return objs, nil
			}
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		if len(u.Object) > 0 {
			objs = append(objs, u)
		}
	}
}
