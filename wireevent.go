package kubesvc

import (
	"fmt"

	"google.golang.org/protobuf/encoding/protowire"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/watch"
)

// watchEvents is the protobuf stream's serializer with the decoding of a
// watch event's frame done by hand: client-go's goes through the scheme
// (the kinds of the object it is given, reflection to make the object)
// for each event of every watch, and its generated code then copies the
// object out of the frame. watchEventOf reads the event's type and
// object as that code does, field 1 and field 2's field 1 of
// metav1.WatchEvent (k8s.io/apimachinery/pkg/apis/meta/v1/generated.proto),
// the last value given winning; it copies the object too, as the frame's
// memory is read again for the next event while the informer still reads
// this one. Anything else, and all encoding, is client-go's.
type watchEvents struct{ runtime.Serializer }

// watchEventKind is the kind client-go's serializer reports for a watch
// event decoded into a metav1.WatchEvent.
var watchEventKind = metav1.SchemeGroupVersion.WithKind("WatchEvent")

// Decode decodes a watch event's frame into into, a *metav1.WatchEvent;
// into of any other type is client-go's to decode.
func (s watchEvents) Decode(data []byte, gvk *schema.GroupVersionKind, into runtime.Object) (runtime.Object, *schema.GroupVersionKind, error) {
	ev, ok := into.(*metav1.WatchEvent)
	if !ok || len(data) == 0 { // an empty frame is client-go's error
		return s.Serializer.Decode(data, gvk, into)
	}
	if err := watchEventOf(data, ev); err != nil {
		return nil, nil, err
	}
	kind := watchEventKind
	return ev, &kind, nil
}

// watchEventOf fills ev from the WatchEvent message b; an error if b is
// malformed or gives the type or the object with another wire type than
// bytes, as client-go's generated code refuses it.
func watchEventOf(b []byte, ev *metav1.WatchEvent) error {
	*ev = metav1.WatchEvent{}
	var raw []byte // the last object given: copied once, at the end
	it := fields{b: b, all: true}
	for it.next() {
		if it.num != 1 && it.num != 2 {
			continue
		}
		if it.typ != protowire.BytesType {
			return fmt.Errorf("proto: wrong wireType = %d for field %d of WatchEvent", it.typ, it.num)
		}
		if it.num == 1 {
			ev.Type = interned(it.v, eventTypes...)
			continue
		}
		obj := fields{b: it.v, all: true} // a runtime.RawExtension: its raw bytes are field 1
		for obj.next() {
			if obj.num != 1 {
				continue
			}
			if obj.typ != protowire.BytesType {
				return fmt.Errorf("proto: wrong wireType = %d for field Raw of RawExtension", obj.typ)
			}
			raw = obj.v
		}
		if obj.err != nil {
			return obj.err
		}
	}
	if it.err != nil {
		return it.err
	}
	if raw != nil && validEventType(ev.Type) {
		ev.Object.Raw = objectCopy(raw) // the frame's memory is read again for the next event
	} else if raw != nil {
		ev.Object.Raw = append([]byte{}, raw...) // client-go's decoder refuses the event: lend nothing
	}
	return nil
}

// validEventType reports whether client-go's watch decoder takes an event
// of type t, and so decodes its object.
func validEventType(t string) bool {
	for _, v := range eventTypes {
		if t == v {
			return true
		}
	}
	return false
}

// eventTypes are the types a watch event has.
var eventTypes = []string{string(watch.Added), string(watch.Modified), string(watch.Deleted), string(watch.Bookmark), string(watch.Error)}
