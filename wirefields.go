package kubesvc

import (
	"fmt"

	"google.golang.org/protobuf/encoding/protowire"
)

// The walk over a protobuf message's fields that the sparse decoders
// (wire.go, wireslice.go, wireevent.go) share, reading the wire as
// client-go's generated code reads it.

// fields walks the fields of a message as eachField calls f with them,
// for the loops that run for every endpoint of a slice: no call through a
// function value a field.
type fields struct {
	b   []byte // what is left of the message
	num protowire.Number
	typ protowire.Type
	v   []byte // a length-delimited field's bytes
	x   uint64 // a varint field's value
	err error  // why the walk stopped early: a malformed message
	// all: the fields of every wire type, not only the length-delimited
	// and varint ones (v and x then hold nothing).
	all bool
}

// next moves to the next length-delimited or varint field: false at the
// end of the message, or at a malformed field (err).
func (it *fields) next() bool {
	for len(it.b) > 0 {
		// Most fields of the messages read here have a tag and a length
		// (or value) of a byte each.
		if b := it.b; len(b) >= 2 && b[0] >= 1<<3 && b[0] < 0x80 && b[1] < 0x80 {
			switch protowire.Type(b[0] & 7) {
			case protowire.BytesType:
				if l := int(b[1]); l <= len(b)-2 {
					it.num, it.typ, it.v, it.x, it.b = protowire.Number(b[0]>>3), protowire.BytesType, b[2:2+l], 0, b[2+l:]
					return true
				}
			case protowire.VarintType:
				it.num, it.typ, it.v, it.x, it.b = protowire.Number(b[0]>>3), protowire.VarintType, nil, uint64(b[1]), b[2:]
				return true
			}
		}
		// The tag as client-go's generated code reads it: a field number
		// past protobuf's limit (2^29-1), which protowire's ConsumeTag
		// refuses, is an unknown field there, skipped.
		tag, n := varint(it.b)
		if n < 0 {
			it.err = protowire.ParseError(n)
			return false
		}
		num, typ := protowire.Number(int32(tag>>3)), protowire.Type(tag&7)
		if num <= 0 {
			it.err = fmt.Errorf("proto: illegal tag %d (wire type %d)", num, typ)
			return false
		}
		b := it.b[n:]
		it.num, it.typ, it.v, it.x = num, typ, nil, 0
		switch typ {
		case protowire.BytesType:
			var l uint64
			if l, n = varint(b); n >= 0 && l > uint64(len(b)-n) {
				n = errTruncated
			}
			if n >= 0 {
				it.v, n = b[n:n+int(l)], n+int(l)
			}
		case protowire.VarintType:
			it.x, n = varint(b)
		default:
			n = skipValue(typ, b)
		}
		if n < 0 {
			it.err = protowire.ParseError(n)
			return false
		}
		it.b = b[n:]
		if typ == protowire.BytesType || typ == protowire.VarintType || it.all {
			return true
		}
	}
	return false
}

// protowire's error codes (protowire.ParseError): a message that ends
// early, a varint past ten bytes, a wire type protobuf reserves, an end
// group with no start.
const (
	errTruncated = -1
	errOverflow  = -3
	errReserved  = -4
	errEndGroup  = -5
)

// skipValue is the length of the value, at the start of b, of a field of
// wire type typ that no decoder here reads, or a negative error code. It
// skips as client-go's generated code does (skipGenerated): a group runs
// to the end group that closes it by depth, whatever that one's field
// number, and an end group that closes nothing is an error.
func skipValue(typ protowire.Type, b []byte) int {
	depth, n := 0, 0
	for {
		var m int
		switch typ {
		case protowire.VarintType:
			_, m = varint(b[n:])
		case protowire.BytesType:
			var l uint64
			if l, m = varint(b[n:]); m >= 0 && l > uint64(len(b)-n-m) {
				m = errTruncated
			} else if m >= 0 {
				m += int(l)
			}
		case protowire.Fixed64Type, protowire.Fixed32Type:
			if m = 8; typ == protowire.Fixed32Type {
				m = 4
			}
			if len(b)-n < m {
				m = errTruncated
			}
		case protowire.StartGroupType:
			depth++
		case protowire.EndGroupType:
			if depth == 0 {
				return errEndGroup
			}
			depth--
		default:
			return errReserved
		}
		if m < 0 {
			return m
		}
		if n += m; depth == 0 {
			return n
		}
		tag, t := varint(b[n:])
		if t < 0 {
			return t
		}
		n, typ = n+t, protowire.Type(tag&7)
	}
}

// varint reads a varint as client-go's generated code does: up to ten
// bytes, the bits past 64 dropped (protowire's ConsumeVarint refuses a
// tenth byte past 1, which client-go takes as its low bit), and the
// one-byte case first: most tags and lengths of the messages decoded here
// are below 128.
func varint(b []byte) (uint64, int) {
	if len(b) > 0 && b[0] < 0x80 {
		return uint64(b[0]), 1
	}
	var v uint64
	for i := 0; i < 10; i++ {
		if i == len(b) {
			return 0, errTruncated
		}
		v |= uint64(b[i]&0x7f) << (7 * i)
		if b[i] < 0x80 {
			return v, i + 1
		}
	}
	return 0, errOverflow
}
