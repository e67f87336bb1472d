package cluster

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
)

var createOpts = metav1.CreateOptions{FieldManager: "kubesvc-e2e"}

// Object is one decoded manifest document.
type Object struct {
	Source string // file:document, for messages
	Obj    runtime.Object
}

// Kind of the object, e.g. "Service".
func (o Object) Kind() string { return o.Obj.GetObjectKind().GroupVersionKind().Kind }

// Decode splits multi-document YAML (or JSON) and decodes every non-empty
// document with client-go's scheme, so only kinds client-go knows (and fields
// they have) are accepted. source names the input in errors.
func Decode(source string, data []byte) ([]Object, error) {
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	var out []Object
	for i := 1; ; i++ {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("%s: document %d: %w", source, i, err)
		}
		if len(bytes.TrimSpace(stripComments(doc))) == 0 {
			continue
		}
		obj, _, err := scheme.Codecs.UniversalDeserializer().Decode(doc, nil, nil)
		if err != nil {
			return nil, fmt.Errorf("%s: document %d: %w", source, i, err)
		}
		out = append(out, Object{Source: fmt.Sprintf("%s:%d", source, i), Obj: obj})
	}
}

// stripComments drops YAML comment lines, to tell empty documents.
func stripComments(doc []byte) []byte {
	var b bytes.Buffer
	for _, line := range bytes.Split(doc, []byte("\n")) {
		if t := bytes.TrimSpace(line); len(t) > 0 && t[0] != '#' {
			b.Write(line)
			b.WriteByte('\n')
		}
	}
	return b.Bytes()
}

// DecodeFiles decodes the files matching glob (sorted by name).
func DecodeFiles(glob string) ([]Object, error) {
	files, err := filepath.Glob(glob)
	if err != nil {
		return nil, err
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("no manifest matches %s", glob)
	}
	sort.Strings(files)
	var out []Object
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		objs, err := Decode(filepath.Base(f), data)
		if err != nil {
			return nil, err
		}
		out = append(out, objs...)
	}
	return out, nil
}

// Applier creates decoded objects through the dynamic client.
type Applier struct {
	dyn    dynamic.Interface
	mapper meta.RESTMapper
}

// NewApplier makes an Applier for cfg.
func NewApplier(cfg *rest.Config) (*Applier, error) {
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	dc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		return nil, err
	}
	return &Applier{dyn: dyn, mapper: restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(dc))}, nil
}

// kindOrder puts what others live in first.
func kindOrder(kind string) int {
	switch kind {
	case "Namespace":
		return 0
	case "Service":
		return 1
	default:
		return 2
	}
}

// Create creates objs, Namespaces first, then Services, then the rest, each
// group in the given order. An object that already exists is an error, except
// a Namespace.
func (a *Applier) Create(ctx context.Context, objs []Object) error {
	objs = slices.Clone(objs)
	slices.SortStableFunc(objs, func(x, y Object) int { return kindOrder(x.Kind()) - kindOrder(y.Kind()) })
	for _, o := range objs {
		if err := a.create(ctx, o); err != nil {
			return err
		}
	}
	return nil
}

func (a *Applier) create(ctx context.Context, o Object) error {
	gvk := o.Obj.GetObjectKind().GroupVersionKind()
	m, err := a.mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	if err != nil {
		return fmt.Errorf("%s: %s: %w", o.Source, gvk, err)
	}
	raw, err := runtime.DefaultUnstructuredConverter.ToUnstructured(o.Obj)
	if err != nil {
		return fmt.Errorf("%s: %w", o.Source, err)
	}
	u := &unstructured.Unstructured{Object: raw}
	u.SetGroupVersionKind(gvk)
	var ri dynamic.ResourceInterface = a.dyn.Resource(m.Resource)
	if m.Scope.Name() == meta.RESTScopeNameNamespace {
		ns := u.GetNamespace()
		if ns == "" {
			ns = metav1.NamespaceDefault
			u.SetNamespace(ns)
		}
		ri = a.dyn.Resource(m.Resource).Namespace(ns)
	}
	_, err = ri.Create(ctx, u, createOpts)
	if apierrors.IsAlreadyExists(err) && gvk.Kind == "Namespace" {
		return nil
	}
	if err != nil {
		return fmt.Errorf("%s: create %s %s/%s: %w", o.Source, gvk.Kind, u.GetNamespace(), u.GetName(), err)
	}
	return nil
}

// ApplyYAML decodes data and creates what it holds.
func (c *Cluster) ApplyYAML(ctx context.Context, source string, data []byte) error {
	objs, err := Decode(source, data)
	if err != nil {
		return err
	}
	return c.Create(ctx, objs)
}

// ApplyFiles decodes the files matching glob and creates what they hold.
func (c *Cluster) ApplyFiles(ctx context.Context, glob string) error {
	objs, err := DecodeFiles(glob)
	if err != nil {
		return err
	}
	return c.Create(ctx, objs)
}

// Create creates decoded objects as the admin.
func (c *Cluster) Create(ctx context.Context, objs []Object) error {
	a, err := NewApplier(c.Admin)
	if err != nil {
		return err
	}
	return a.Create(ctx, objs)
}
