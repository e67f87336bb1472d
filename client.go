package kubesvc

import (
	"context"
	"fmt"
	"math/rand/v2"
	"mime"
	"net/http"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/consistencydetector"
)

// api is what the watcher asks of the Kubernetes API: lists and watches of
// one described resource (resource.go) by its name, in one namespace ("":
// all, or a cluster-scoped resource).
type api interface {
	list(ctx context.Context, resource, namespace string, o metav1.ListOptions) (runtime.Object, error)
	watch(ctx context.Context, resource, namespace string, o metav1.ListOptions) (watch.Interface, error)
}

// restAPI is api over REST clients, one per group-version of the described
// resources, whose scheme knows only the types DNS reads. client-go's clientset would compile in and register every API group
// instead: a binary of 81 MB rather than 43, and 15 MB more resident memory
// before the first object arrives.
type restAPI struct {
	clients map[schema.GroupVersion]rest.Interface
	busy    map[schema.GroupVersion]rest.Interface // for busy resources' watches (busywatch.go)
	conn    string                                 // the configuration's identity, for sharing informers (shared.go)
}

var (
	apiScheme = runtime.NewScheme()
	apiCodecs = serializer.NewCodecFactory(apiScheme)
	apiParams = runtime.NewParameterCodec(apiScheme)
	// apiSerializers decode the objects DNS reads most of sparsely (wire.go).
	apiSerializers = newSparseCodecs(apiCodecs.WithoutConversion())
)

func newRestAPI(rc *rest.Config) (*restAPI, error) { return newRestAPIIdle(rc, busyWatchIdle) }

// newRestAPIIdle is newRestAPI with busy watches closed after idle without
// a byte (busywatch.go).
func newRestAPIIdle(rc *rest.Config, idle time.Duration) (*restAPI, error) {
	hc, err := rest.HTTPClientFor(rc)
	if err != nil {
		return nil, err
	}
	bc := busyWatchConfig(rc, idle)
	hcBusy, err := rest.HTTPClientFor(bc)
	if err != nil {
		return nil, err
	}
	client := func(rc *rest.Config, hc *http.Client, gv schema.GroupVersion, path string) (rest.Interface, error) {
		c := rest.CopyConfig(rc)
		c.GroupVersion, c.APIPath = &gv, path
		c.NegotiatedSerializer = apiSerializers
		return rest.RESTClientForConfigAndClient(c, hc)
	}
	a := &restAPI{clients: map[schema.GroupVersion]rest.Interface{}, busy: map[schema.GroupVersion]rest.Interface{}, conn: restIdentity(rc)}
	for _, r := range resources {
		if a.clients[r.gv] == nil {
			if a.clients[r.gv], err = client(rc, hc, r.gv, r.apiPath); err != nil {
				return nil, err
			}
		}
		if r.busy && a.busy[r.gv] == nil {
			if a.busy[r.gv], err = client(bc, hcBusy, r.gv, r.apiPath); err != nil {
				return nil, err
			}
		}
	}
	return a, nil
}

// request is a GET of the named resource; an unknown resource is an error.
// A busy resource's watch goes through its own client.
func (a *restAPI) request(resource, namespace string, o *metav1.ListOptions) (*rest.Request, *resource, error) {
	r, err := resourceNamed(resource)
	if err != nil {
		return nil, nil, err
	}
	if !r.namespaced && namespace != "" {
		return nil, nil, fmt.Errorf("%s are not namespaced, asked in namespace %q", r.name, namespace)
	}
	c := a.clients[r.gv]
	if o.Watch && r.busy {
		c = a.busy[r.gv]
		// Not a streamed list's: a reflector whose streamed list ends
		// before its last event starts it over, so a list longer than
		// the timeout would never end (busywatch.go).
		if !streamsList(o) && (o.TimeoutSeconds == nil || *o.TimeoutSeconds > busyWatchTimeoutSeconds) {
			n := int64(busyWatchTimeoutSeconds)
			o.TimeoutSeconds = &n
		}
	}
	var timeout time.Duration
	if o.TimeoutSeconds != nil {
		timeout = time.Duration(*o.TimeoutSeconds) * time.Second
	}
	return c.Get().Namespace(namespace).Resource(r.restName()).VersionedParams(o, apiParams).Timeout(timeout), r, nil
}

func (a *restAPI) list(ctx context.Context, resource, namespace string, o metav1.ListOptions) (runtime.Object, error) {
	req, r, err := a.request(resource, namespace, &o)
	if err != nil {
		return nil, err
	}
	res := req.Do(ctx)
	var contentType string
	res.ContentType(&contentType)
	if mt, _, _ := mime.ParseMediaType(contentType); mt == runtime.ContentTypeProtobuf {
		// Decoded into the type the sparse decoder picks for the kind
		// the server sent: a list of wireSlices for EndpointSlices
		// (wireslice.go).
		return res.Get()
	}
	into := r.newList() // JSON: the API type, whatever kind the body says or leaves out
	if err := res.Into(into); err != nil {
		return nil, err
	}
	return into, nil
}

func (a *restAPI) watch(ctx context.Context, resource, namespace string, o metav1.ListOptions) (watch.Interface, error) {
	o.Watch = true
	// A streamed list is applied in place; a watch from no version, whose
	// first events stand for the objects there are, handed on (directWatch).
	mode := notListing
	switch {
	case streamsList(&o) && !consistencydetector.IsDataConsistencyDetectionForWatchListEnabled():
		// (The detector, on in Kubernetes' own CI, compares the
		// reflector's gathered list with a LIST: handed on, it has one.)
		mode = listingInPlace
	case o.ResourceVersion == "" || o.ResourceVersion == "0":
		mode = listingHandedOn
	}
	req, r, err := a.request(resource, namespace, &o)
	if err != nil {
		return nil, err
	}
	if apply := applierOf(ctx); apply != nil && r.busy {
		return directWatchOf(ctx, req, r.gv, apply, mode)
	}
	return req.Watch(ctx)
}

// directWatchOf starts req, a busy resource's watch, as a directWatch
// (directwatch.go) whose changes store takes, and how it lists first.
func directWatchOf(ctx context.Context, req *rest.Request, gv schema.GroupVersion, store applier, mode listMode) (watch.Interface, error) {
	var contentType string // the response's, kept by the busy watches' round tripper (busywatch.go)
	body, err := req.Stream(context.WithValue(ctx, contentTypeKey{}, &contentType))
	if err != nil {
		return nil, err
	}
	dec, err := watchDecoder(body, contentType, gv)
	if err != nil {
		body.Close()
		return nil, err
	}
	return newDirectWatch(dec, watchReporter, store, mode), nil
}

// streamsList reports whether a watch of o streams a list first
// (sendInitialEvents: the reflector's WatchList).
func streamsList(o *metav1.ListOptions) bool {
	return o.SendInitialEvents != nil && *o.SendInitialEvents
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
