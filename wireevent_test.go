package kubesvc

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/serializer/protobuf"
)

// clientGoWatchEvents is client-go's decoder of the protobuf stream's
// frames.
var clientGoWatchEvents = protobuf.NewRawSerializer(apiScheme, apiScheme)

// sameWatchEvent decodes frame with client-go's decoder and watchEvents,
// and says how they differ ("" if they do not).
func sameWatchEvent(frame []byte) string {
	var want, got metav1.WatchEvent
	_, _, errWant := clientGoWatchEvents.Decode(frame, nil, &want)
	_, _, errGot := watchEvents{clientGoWatchEvents}.Decode(frame, nil, &got)
	switch {
	case (errWant == nil) != (errGot == nil):
		return fmt.Sprintf("client-go's error %v, ours %v", errWant, errGot)
	case errWant != nil:
		return ""
	case got.Type != want.Type || !bytes.Equal(got.Object.Raw, want.Object.Raw) || (got.Object.Raw == nil) != (want.Object.Raw == nil):
		return fmt.Sprintf("client-go's event %q %q, ours %q %q", want.Type, want.Object.Raw, got.Type, got.Object.Raw)
	}
	return ""
}

// anyWatchEvent is a WatchEvent frame as an API server sends it, or one
// with its fields repeated, left out, of another wire type, unknown or cut
// short.
func anyWatchEvent(t testing.TB, r *rand.Rand, i int) []byte {
	obj := encodeProtobuf(t, anySlice(r, i))
	var b []byte
	for range 1 + r.IntN(3) {
		switch r.IntN(8) {
		case 0:
			b = protowire.AppendTag(b, 2, protowire.BytesType) // an object with no raw bytes
			b = protowire.AppendBytes(b, nil)
		case 1:
			b = protowire.AppendTag(b, protowire.Number(1+r.IntN(4)), protowire.VarintType)
			b = protowire.AppendVarint(b, r.Uint64N(300))
		case 2:
			b = protowire.AppendTag(b, 9, protowire.BytesType) // unknown
			b = protowire.AppendBytes(b, []byte("x"))
		default:
			b = protowire.AppendTag(b, 1, protowire.BytesType)
			b = protowire.AppendString(b, []string{"ADDED", "MODIFIED", "DELETED", "BOOKMARK", "ERROR", "", "odd"}[r.IntN(7)])
			var ext []byte
			for range r.IntN(3) {
				ext = protowire.AppendTag(ext, protowire.Number(1+r.IntN(2)), protowire.BytesType)
				ext = protowire.AppendBytes(ext, obj[:r.IntN(len(obj)+1)])
			}
			b = protowire.AppendTag(b, 2, protowire.BytesType)
			b = protowire.AppendBytes(b, ext)
		}
	}
	if r.IntN(6) == 0 {
		b = b[:r.IntN(len(b)+1)]
	}
	return b
}

// Watch events' frames decode as client-go decodes them: the last type and
// object given win, an object without raw bytes is an empty one, and a
// frame cut short or with a field of another wire type is refused.
func TestWatchEventsDecodeAsClientGos(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	refused := 0
	for i := range 3000 {
		frame := anyWatchEvent(t, r, i)
		if diff := sameWatchEvent(frame); diff != "" {
			t.Fatalf("frame %d (%x): %s", i, frame, diff)
		}
		var ev metav1.WatchEvent
		if _, _, err := clientGoWatchEvents.Decode(frame, nil, &ev); err != nil {
			refused++
		}
	}
	if refused < 300 || refused > 2700 {
		t.Errorf("client-go refused %d of 3,000 frames: the test should try both kinds", refused)
	}
}

// An event's object is a copy: the stream reads the next frame into the
// same memory while the informer reads this event.
func TestWatchEventObjectOutlivesItsFrame(t *testing.T) {
	ev := &metav1.WatchEvent{Type: "MODIFIED"}
	ev.Object.Raw = []byte("the object")
	frame, err := ev.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	var got metav1.WatchEvent
	if _, _, err := (watchEvents{clientGoWatchEvents}).Decode(frame, nil, &got); err != nil {
		t.Fatal(err)
	}
	clear(frame)
	if string(got.Object.Raw) != "the object" || got.Type != "MODIFIED" {
		t.Errorf("after the frame was overwritten the event is %q %q", got.Type, got.Object.Raw)
	}
}

// A varint of ten bytes whose last is past 1 is client-go's as its low 64
// bits, where protowire reports an overflow: a frame with one as a tag, a
// length or an unknown field's value, alone or in a group, decodes as
// client-go's does.
func TestWatchEventsReadTenByteVarintsAsClientGo(t *testing.T) {
	ten := func(v byte, last byte) []byte { // v in ten bytes, the last one last
		return []byte{v | 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, last}
	}
	added := []byte("ADDED")
	frames := map[string][]byte{
		"tag":              append(append(ten(0x0a, 0x02), 5), added...),
		"length":           append(append([]byte{0x0a}, ten(5, 0x7e)...), added...),
		"unknown varint":   append([]byte{0x18}, ten(1, 0x7f)...),
		"varint in group":  append(append([]byte{0x1b, 0x08}, ten(1, 0x7f)...), 0x1c),
		"tag in group":     append(append([]byte{0x1b}, ten(0x08, 0x02)...), 1, 0x1c),
		"raw length":       append(append([]byte{0x12, 13, 0x0a}, ten(2, 0x02)...), 'o', 'k'),
		"eleven bytes":     append(append([]byte{0x18}, ten(1, 0x81)...), 0x00),
		"ten, last is one": append([]byte{0x18}, ten(1, 0x01)...),
	}
	for name, frame := range frames {
		if diff := sameWatchEvent(frame); diff != "" {
			t.Errorf("%s (%x): %s", name, frame, diff)
		}
	}
}
