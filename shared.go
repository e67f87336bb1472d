package kubesvc

import (
	"context"
	"crypto/sha256"
	"fmt"
	"reflect"
	"sync"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
)

// Informers are shared by every kubesvc instance of the process that
// watches the same thing: two server blocks (split horizon: the same zone
// for inside and outside clients, see the view plugin) list and watch each
// resource once, not once per block, and a reload's new instance takes over
// the old one's informers without listing everything again. Each instance
// adds its own event handler; an informer stops when its last instance
// lets go of it.

// informerKey is everything that decides what an informer lists, watches
// and stores: the API server and the credentials (conn), the resource, the
// namespace, the label selector, the transform, and which of the resource's
// watches it is (the transform marks its objects with it).
type informerKey struct {
	conn      string
	resource  string
	namespace string
	selector  string
	transform uintptr // the transform function's code
	watch     int
}

// sharedInformer is a running informer and its users.
type sharedInformer struct {
	inf      informer
	refs     int
	cancel   context.CancelFunc
	done     chan struct{}
	mu       sync.Mutex
	contacts map[*contact]int // the users' contacts, told of watch failures
}

// subscription is one instance's use of a shared informer.
type subscription struct {
	key informerKey
	s   *sharedInformer
	reg cache.ResourceEventHandlerRegistration
	c   *contact
	// replay: the informer had synced before this subscription, so its
	// handler is handed the store from memory (a reload's new instance).
	replay bool
}

var shared = struct {
	sync.Mutex
	m map[informerKey]*sharedInformer
}{m: map[informerKey]*sharedInformer{}}

// connOf names the API connection of client: the REST config's identity
// for the plugin's client, the value itself for others (tests' fakes).
func connOf(client api) string {
	if c, ok := client.(interface{ identity() string }); ok {
		return c.identity()
	}
	return fmt.Sprintf("%T %v", client, client)
}

func (a *restAPI) identity() string { return a.conn }

// restIdentity digests what of rc decides which API server is asked, as
// whom, and how: two instances with the same configuration may share
// informers, any difference (another kubeconfig or context, a rotated
// token, other certificates or rates) gets informers of its own.
func restIdentity(rc *rest.Config) string {
	h := sha256.New()
	t := rc.TLSClientConfig
	fmt.Fprintf(h, "%q %q %q %q %q %q %+v %+v %+v|%q %q %q %q %x %x %x %v %q|%v %d %v %q %q %q %v",
		rc.Host, rc.APIPath, rc.Username, rc.Password, rc.BearerToken, rc.BearerTokenFile,
		rc.Impersonate, rc.AuthProvider, rc.ExecProvider,
		t.ServerName, t.CertFile, t.KeyFile, t.CAFile, t.CertData, t.KeyData, t.CAData, t.Insecure, t.NextProtos,
		rc.QPS, rc.Burst, rc.Timeout, rc.UserAgent, rc.ContentType, rc.AcceptContentTypes, rc.DisableCompression)
	return fmt.Sprintf("rest %x", h.Sum(nil))
}

// subscribe adds h to the informer of key, starting one (through client,
// with transform) if none runs. c hears of its watch failures.
func subscribe(client api, key informerKey, r *resource, transform cache.TransformFunc, c *contact, h cache.ResourceEventHandler) (*subscription, error) {
	shared.Lock()
	defer shared.Unlock()
	s := shared.m[key]
	replay := s != nil && s.inf.HasSynced()
	if s == nil {
		inf := newInformer(patient(client, c, r.name, key.namespace, key.selector), r.object, 0, cache.Indexers{})
		s = &sharedInformer{inf: inf, done: make(chan struct{}), contacts: map[*contact]int{}}
		if err := s.setUp(transform); err != nil {
			return nil, err
		}
		ctx, cancel := context.WithCancel(context.Background())
		s.cancel = cancel
		go func() {
			defer close(s.done)
			inf.RunWithContext(ctx)
		}()
		shared.m[key] = s
	}
	reg, err := s.inf.AddEventHandler(h)
	if err != nil {
		if s.refs == 0 {
			s.stop(key)
		}
		return nil, fmt.Errorf("adding the event handler: %w", err)
	}
	s.refs++
	s.mu.Lock()
	s.contacts[c]++
	s.mu.Unlock()
	return &subscription{key: key, s: s, reg: reg, c: c, replay: replay}, nil
}

// setUp gives a new informer its transform and its watch error handler,
// which tells every user's contact. Each fails only on an informer
// already started, which would then store whole API objects that the
// handlers ignore.
func (s *sharedInformer) setUp(transform cache.TransformFunc) error {
	if err := s.inf.SetTransform(transform); err != nil {
		return fmt.Errorf("setting the transform: %w", err)
	}
	err := s.inf.SetWatchErrorHandlerWithContext(func(ctx context.Context, _ *cache.Reflector, err error) {
		if ctx.Err() != nil {
			return // an informer being stopped
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		for c := range s.contacts {
			c.watchFailed(err)
		}
	})
	if err != nil {
		return fmt.Errorf("setting the watch error handler: %w", err)
	}
	return nil
}

// stop ends the informer and forgets it; the caller holds shared.
func (s *sharedInformer) stop(key informerKey) {
	if s.cancel != nil {
		s.cancel()
		<-s.done
	}
	delete(shared.m, key)
}

// unsubscribe takes sub's handler off its informer, and stops the informer
// if it was the last.
func (sub *subscription) unsubscribe() {
	shared.Lock()
	defer shared.Unlock()
	_ = sub.s.inf.RemoveEventHandler(sub.reg) // fails only on a stopped informer: nothing to remove
	sub.s.mu.Lock()
	if sub.s.contacts[sub.c]--; sub.s.contacts[sub.c] <= 0 {
		delete(sub.s.contacts, sub.c)
	}
	sub.s.mu.Unlock()
	if sub.s.refs--; sub.s.refs == 0 {
		sub.s.stop(sub.key)
	}
}

// transformID identifies a transform function by its code.
func transformID(f cache.TransformFunc) uintptr { return reflect.ValueOf(f).Pointer() }
