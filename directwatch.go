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
// and skips it as before. A streamed list (sendInitialEvents) is applied in
// place too (listinplace.go); the events of a watch from no version, one
// for each object there is, are handed on.

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

// listMode is how a directWatch takes the events before a list's end.
type listMode uint8

const (
	notListing      listMode = iota // a watch from a version: changes are applied
	listingInPlace                  // a streamed list: applied in place (listinplace.go)
	listingHandedOn                 // a watch from no version: its first events stand for the objects there are, and are handed on
)

// directWatch is a watch whose changes are applied as they are read.
type directWatch struct {
	source   watch.Decoder
	reporter watch.Reporter
	store    applier
	// mode: until a list's end, its events are applied in place or handed
	// on; changes are applied in place only once the reflector has taken
	// the list's end (see endList).
	mode   listMode
	result chan watch.Event
	// done is closed by Stop, under mu, which a change is applied under:
	// once Stop returns, no change is applied (the reflector may then
	// list again, and a change of the old watch must not land after it).
	done chan struct{}
	mu   sync.Mutex
	rv   string // of the last change applied and not yet handed on: "" if none
	// listed counts a list's objects applied in place; handedAt is when
	// the watch started or last handed on its progress (see progress).
	listed   int
	handedAt time.Time
}

// listProgress is how often a list applied in place hands the reflector a
// bookmark of its last object: a reflector that took nothing of a streamed
// list for 10 s warns that it is still awaiting the list's end.
var listProgress = 5 * time.Second

func newDirectWatch(source watch.Decoder, reporter watch.Reporter, store applier, mode listMode) *directWatch {
	w := &directWatch{source: source, reporter: reporter, store: store, mode: mode, result: make(chan watch.Event), done: make(chan struct{}), handedAt: time.Now()}
	if mode == listingInPlace {
		store.listStart()
	}
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
		switch {
		case w.mode == notListing && w.applied(typ, obj, false):
			continue
		case w.mode == listingInPlace && w.applied(typ, obj, true):
			if !w.progress() {
				return
			}
			continue
		}
		ev := watch.Event{Type: typ, Object: obj}
		if rv, end := listEnd(ev); end && w.mode != notListing {
			if !w.endList(ev, rv) {
				return
			}
			continue
		}
		if !w.handOn(ev) {
			return
		}
	}
}

// progress hands on a bookmark of the list's last object applied in place
// if the last was handed on listProgress ago or more (looked at every 256
// objects); false if the watch was stopped.
func (w *directWatch) progress() bool {
	if w.listed++; w.listed%256 != 0 || time.Since(w.handedAt) < listProgress {
		return true
	}
	w.handedAt = time.Now()
	return w.flush()
}

// listEnd is the resource version of ev if it is the bookmark that ends a
// streamed list.
func listEnd(ev watch.Event) (rv string, ok bool) {
	if ev.Type != watch.Bookmark {
		return "", false
	}
	m, err := meta.Accessor(ev.Object)
	if err != nil || m.GetAnnotations()[metav1.InitialEventsAnnotationKey] != "true" {
		return "", false
	}
	return m.GetResourceVersion(), true
}

// endList hands on ev, the bookmark of version rv that ends a list, once a
// list applied in place has deleted what it did not have: the reflector
// then replaces its store's objects with the list's (none if it was applied
// in place: see listinplace.go). The next event is a second bookmark of
// the same version: once the reflector has taken it, it has replaced them,
// and changes are applied in place from then on, after the list.
func (w *directWatch) endList(ev watch.Event, rv string) bool {
	if w.mode == listingInPlace && !w.locked(nil, func() error { w.store.listEnd(rv); return nil }) {
		return false
	}
	w.rv = "" // of the list's last object: the end's version stands for it
	if !w.handOn(ev) || !w.sendWithin(bookmark(rv), busyWatchIdle) {
		return false
	}
	w.mode = notListing
	return true
}

// applied applies a change, or an object of a list applied in place, and
// reports whether it took the event: false for any other event, and for a
// change whose object has no metadata.
func (w *directWatch) applied(typ watch.EventType, obj runtime.Object, listing bool) bool {
	if typ != watch.Added && typ != watch.Modified && typ != watch.Deleted {
		return false
	}
	m, err := meta.Accessor(obj)
	if err != nil {
		return false
	}
	apply := func() error { return w.store.apply(typ, obj) }
	if listing && typ != watch.Deleted {
		apply = func() error { return w.store.listed(obj) }
	}
	// A list's objects are marked too: a list cut before its end then
	// hands the reflector an event, and the reflector streams the list
	// again, where a watch that ended within a second with none would
	// make it fall back to a whole LIST. (Its version is the list's
	// end's; the bookmark before the end is dropped, see endList.)
	if w.locked(obj, apply) {
		w.rv = m.GetResourceVersion()
	}
	return true
}

// locked runs apply, which applies obj, under mu unless the watch was
// stopped (the reflector may be listing again): then obj's lent buffer
// goes back (eventbuffers.go), and locked reports false.
func (w *directWatch) locked(obj runtime.Object, apply func() error) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	select {
	case <-w.done:
		if ws, ok := obj.(*wireSlice); ok {
			ws.release()
		}
		return false
	default:
	}
	if err := apply(); err != nil {
		utilruntime.HandleError(fmt.Errorf("unable to apply a watch event to the store: %w", err))
	}
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
