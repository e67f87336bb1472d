package kubesvc

import (
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/runtime/serializer/streaming"
	utilnet "k8s.io/apimachinery/pkg/util/net"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/apimachinery/pkg/watch"
	restclientwatch "k8s.io/client-go/rest/watch"
)

// Busy watches apply their changes in the goroutine that reads them.
//
// client-go's watch reads and decodes a stream in a goroutine of its own
// (watch.StreamWatcher) and hands each event over a channel to the
// reflector's goroutine, which applies it to the informer's store. Each
// hand-over readies a parked goroutine, and the runtime wakes a second
// thread for it that mostly finds nothing to do and parks again: about a
// third of the context switches of a readiness flip in a big headless
// service, which arrives alone.
//
// A directWatch decodes the stream as StreamWatcher does and applies each
// addition, update and deletion to the informer's store itself, through
// the applier the informer put in the watch's context (fanout.go). The
// reflector still runs the watch: it is handed every other event (errors,
// bookmarks) as they come and, before any of them and before the watch
// ends, a bookmark of the resource version of the last change applied, so
// it resumes from there as it would have from the change itself. The
// reflector's own checks of an event (its object's metadata) are made
// here; a change that fails them is handed to the reflector, which logs
// and skips it as before. Streamed lists (sendInitialEvents) are not
// applied in place: the reflector gathers them into a list of its own.

// applier applies one watch event (watch.Added, Modified or Deleted) to an
// informer's store, as the reflector's store calls would.
type applier func(watch.EventType, runtime.Object) error

type applierKey struct{}

// withApplier is ctx with the applier its watches use (directWatch).
func withApplier(ctx context.Context, apply applier) context.Context {
	return context.WithValue(ctx, applierKey{}, apply)
}

// applierOf is the applier of ctx; nil if it has none.
func applierOf(ctx context.Context) applier {
	a, _ := ctx.Value(applierKey{}).(applier)
	return a
}

// directWatch is a watch whose changes are applied as they are read.
type directWatch struct {
	source   watch.Decoder
	reporter watch.Reporter
	apply    applier
	// listing: the watch streams a list first (sendInitialEvents), or
	// starts from no version with an event for each object there is; the
	// reflector takes those itself, and changes are applied in place only
	// once it has taken a list's end (see receive).
	listing bool
	result  chan watch.Event
	// done is closed by Stop, under mu, which a change is applied under:
	// once Stop returns, no change is applied (the reflector may then
	// list again, and a change of the old watch must not land after it).
	done chan struct{}
	mu   sync.Mutex
	rv   string // of the last change applied and not yet handed on: "" if none
}

func newDirectWatch(source watch.Decoder, reporter watch.Reporter, apply applier, listing bool) *directWatch {
	w := &directWatch{source: source, reporter: reporter, apply: apply, listing: listing, result: make(chan watch.Event), done: make(chan struct{})}
	go w.receive()
	return w
}

func (w *directWatch) ResultChan() <-chan watch.Event { return w.result }

// Stop ends the watch: its stream is closed, and nothing more is applied
// or handed on once the reading goroutine sees it.
func (w *directWatch) Stop() {
	w.mu.Lock()
	select {
	case <-w.done:
		w.mu.Unlock()
		return
	default:
	}
	close(w.done)
	w.mu.Unlock()
	w.source.Close()
}

// receive reads events until the stream ends or the watch is stopped.
// A streamed list's events are all handed on; after the bookmark that ends
// the list, the reflector replaces its store's objects with the list's,
// then takes the next event: that one is a second bookmark of the same
// version, and once the reflector has taken it, changes are applied in
// place, after the list.
func (w *directWatch) receive() {
	defer utilruntime.HandleCrash()
	defer close(w.result)
	defer w.Stop()
	for {
		typ, obj, err := w.source.Decode()
		if err != nil {
			w.end(err)
			return
		}
		if !w.listing && w.applied(typ, obj) {
			continue
		}
		if !w.handOn(watch.Event{Type: typ, Object: obj}) {
			return
		}
		if w.listing && typ == watch.Bookmark {
			if m, err := meta.Accessor(obj); err == nil && m.GetAnnotations()[metav1.InitialEventsAnnotationKey] == "true" {
				if !w.sendWithin(bookmark(m.GetResourceVersion()), busyWatchIdle) {
					return
				}
				w.listing = false
			}
		}
	}
}

// applied applies a change and reports whether it did: false for any
// other event, and for a change whose object has no metadata.
func (w *directWatch) applied(typ watch.EventType, obj runtime.Object) bool {
	if typ != watch.Added && typ != watch.Modified && typ != watch.Deleted {
		return false
	}
	m, err := meta.Accessor(obj)
	if err != nil {
		return false
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	select {
	case <-w.done: // stopped: the reflector may be listing again
		if ws, ok := obj.(*wireSlice); ok {
			ws.release() // the buffer lent to it (eventbuffers.go)
		}
		return true
	default:
	}
	if err := w.apply(typ, obj); err != nil {
		utilruntime.HandleError(fmt.Errorf("unable to apply a watch event (%s) to the store: %w", typ, err))
	}
	w.rv = m.GetResourceVersion()
	return true
}

// bookmark is a bookmark event of resource version rv.
func bookmark(rv string) watch.Event {
	return watch.Event{Type: watch.Bookmark, Object: &metav1.PartialObjectMetadata{ObjectMeta: metav1.ObjectMeta{ResourceVersion: rv}}}
}

// handOn hands ev to the reflector, after the bookmark of the changes
// applied since the last (flush); false if the watch was stopped.
func (w *directWatch) handOn(ev watch.Event) bool { return w.flush() && w.send(ev) }

// flush hands on the bookmark of the changes applied and not yet marked.
func (w *directWatch) flush() bool {
	if w.rv == "" {
		return true
	}
	rv := w.rv
	w.rv = ""
	return w.send(bookmark(rv))
}

// send waits until the reflector takes ev; false if the watch was stopped.
func (w *directWatch) send(ev watch.Event) bool {
	select {
	case <-w.done:
		return false
	case w.result <- ev:
		return true
	}
}

// sendWithin is send, given up on with the watch after limit: a reflector
// whose store failed to take the list lists again without stopping this
// watch or taking another event from it.
func (w *directWatch) sendWithin(ev watch.Event, limit time.Duration) bool {
	t := time.AfterFunc(limit, w.Stop)
	defer t.Stop()
	return w.send(ev)
}

// end hands on what the reflector must hear when the stream ends with err:
// the last changes' bookmark, then err as an error event unless it is the
// stream's end or cut, as StreamWatcher does.
func (w *directWatch) end(err error) {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || utilnet.IsProbableEOF(err) || utilnet.IsTimeout(err) {
		w.flush()
		return
	}
	w.handOn(watch.Event{Type: watch.Error, Object: w.reporter.AsObject(fmt.Errorf("unable to decode an event from the watch stream: %w", err))})
}

// watchDecoder is the decoder of a watch's stream body, whose response
// gave contentType, as client-go's Request.Watch makes it.
func watchDecoder(body io.ReadCloser, contentType string, gv schema.GroupVersion) (watch.Decoder, error) {
	mediaType, params, err := mime.ParseMediaType(contentType)
	if err != nil { // as client-go's: the negotiator's default (JSON) for none
		mediaType, params = "", nil
	}
	objectDecoder, streamingSerializer, framer, err := runtime.NewClientNegotiator(apiSerializers, gv).StreamDecoder(mediaType, params)
	if err != nil {
		return nil, err
	}
	return restclientwatch.NewDecoder(streaming.NewDecoder(framer.NewFrameReader(body), streamingSerializer), objectDecoder), nil
}

// watchReporter makes a decoding error an error event, as client-go's does.
var watchReporter = apierrors.NewClientErrorReporter(http.StatusInternalServerError, http.MethodGet, "ClientWatchDecoding")
