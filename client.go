package kubesvc

import (
	"context"
	"math/rand/v2"
	"time"

	corev1 "k8s.io/api/core/v1"
	discovery "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
)

// api is what the watcher asks of the Kubernetes API: lists and watches of
// one resource, "services" or "endpointslices", in one namespace ("": all).
type api interface {
	list(ctx context.Context, resource, namespace string, o metav1.ListOptions) (runtime.Object, error)
	watch(ctx context.Context, resource, namespace string, o metav1.ListOptions) (watch.Interface, error)
}

// restAPI is api over two REST clients whose scheme knows only the types DNS
// reads. client-go's clientset would compile in and register every API group
// instead: a binary of 81 MB rather than 43, and 15 MB more resident memory
// before the first object arrives.
type restAPI struct {
	core, discovery rest.Interface
}

var (
	apiScheme = runtime.NewScheme()
	apiCodecs = serializer.NewCodecFactory(apiScheme)
	apiParams = runtime.NewParameterCodec(apiScheme)
)

func init() {
	apiScheme.AddKnownTypes(corev1.SchemeGroupVersion, &corev1.Service{}, &corev1.ServiceList{})
	apiScheme.AddKnownTypes(discovery.SchemeGroupVersion, &discovery.EndpointSlice{}, &discovery.EndpointSliceList{})
	metav1.AddToGroupVersion(apiScheme, corev1.SchemeGroupVersion) // list options, watch events, Status
	metav1.AddToGroupVersion(apiScheme, discovery.SchemeGroupVersion)
}

func newRestAPI(rc *rest.Config) (*restAPI, error) {
	hc, err := rest.HTTPClientFor(rc)
	if err != nil {
		return nil, err
	}
	client := func(gv schema.GroupVersion, path string) (rest.Interface, error) {
		c := rest.CopyConfig(rc)
		c.GroupVersion, c.APIPath = &gv, path
		c.NegotiatedSerializer = apiCodecs.WithoutConversion()
		return rest.RESTClientForConfigAndClient(c, hc)
	}
	a := &restAPI{}
	if a.core, err = client(corev1.SchemeGroupVersion, "/api"); err != nil {
		return nil, err
	}
	if a.discovery, err = client(discovery.SchemeGroupVersion, "/apis"); err != nil {
		return nil, err
	}
	return a, nil
}

func (a *restAPI) request(resource, namespace string, o *metav1.ListOptions) *rest.Request {
	c := a.core
	if resource == "endpointslices" {
		c = a.discovery
	}
	var timeout time.Duration
	if o.TimeoutSeconds != nil {
		timeout = time.Duration(*o.TimeoutSeconds) * time.Second
	}
	return c.Get().Namespace(namespace).Resource(resource).VersionedParams(o, apiParams).Timeout(timeout)
}

func (a *restAPI) list(ctx context.Context, resource, namespace string, o metav1.ListOptions) (runtime.Object, error) {
	var into runtime.Object = &corev1.ServiceList{}
	if resource == "endpointslices" {
		into = &discovery.EndpointSliceList{}
	}
	if err := a.request(resource, namespace, &o).Do(ctx).Into(into); err != nil {
		return nil, err
	}
	return into, nil
}

func (a *restAPI) watch(ctx context.Context, resource, namespace string, o metav1.ListOptions) (watch.Interface, error) {
	o.Watch = true
	return a.request(resource, namespace, &o).Watch(ctx)
}

// patient builds the informer's lister-watcher from list and watch calls
// that retry themselves while the API server cannot be used, instead of
// failing: a failure would put the reflector into an exponential back-off
// that grows to half a minute, so after an outage the index would lag for
// that long. c hears of every success and failure, and logs a failure's
// cause once, and again only when it changes. Other errors (an expired
// resource version, too many requests) pass through to the reflector, which
// knows what to do with them.
func patient(a api, c *contact, resource, namespace, selector string) cache.ListerWatcher {
	lw := &cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			o.LabelSelector = selector
			return retry(ctx, c, func() (runtime.Object, error) { return a.list(ctx, resource, namespace, o) })
		},
		WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
			o.LabelSelector = selector
			return retry(ctx, c, func() (watch.Interface, error) { return a.watch(ctx, resource, namespace, o) })
		},
	}
	// The fake clientset of the tests cannot stream lists; this asks it.
	return cache.ToListWatcherWithWatchListSemantics(lw, a)
}

// Retry intervals. An unreachable server (refused, reset, timed out, a name
// that does not resolve) may be back any moment: it is asked again within a
// second, so that the index catches up at once. A server that answers but
// cannot be trusted or does not accept us will not change by itself; an
// operator may fix the RBAC or the server's certificate, so it is asked
// again, but less often.
const (
	minRetryInterval         = 100 * time.Millisecond
	maxRetryInterval         = time.Second
	maxOperatorRetryInterval = 10 * time.Second
)

// retry calls call until it succeeds, fails for a reason the reflector must
// handle itself, or ctx ends.
func retry[T any](ctx context.Context, c *contact, call func() (T, error)) (T, error) {
	wait := minRetryInterval
	for {
		v, err := call()
		if err == nil {
			c.ok()
			return v, nil
		}
		limit := maxRetryInterval
		switch cause := c.failed(err); {
		case cause == causeOther || ctx.Err() != nil:
			return v, err
		case cause.needsOperator():
			limit = maxOperatorRetryInterval
			wait = max(wait, maxRetryInterval)
		}
		wait = min(wait, limit) // a server refused by trust, now merely unreachable, is asked within a second
		select {
		case <-ctx.Done():
			return v, err
		case <-time.After(wait + rand.N(wait/2)):
		}
		wait = min(2*wait, limit)
	}
}
