package kubesvc

import "unsafe"

// A name an endpoint or headless member keeps (its hostname, Pod name or
// label) is its bytes' address and a length byte placed among the struct's
// small fields (keepName, keptName): a string's 16-byte header took 8 bytes
// more of every one. A member's label is a label (at most 63 bytes,
// isLabel), as is an endpoint's Pod name (podHostname); an endpoint's
// hostname is kept as its slice gives it, which the API validates as a
// label but a hand-made object need not be.
// So a name of longNameLen bytes or more is kept whole behind a pointer to
// its string (length byte longNameLen), never cut to what fits: a name cut
// short is another name. No valid object has one.
const longNameLen = 255

// keepName is what a struct keeps of s: the address and length byte
// keptName reads it back from.
func keepName(s string) (unsafe.Pointer, uint8) {
	switch {
	case len(s) == 0:
		return nil, 0
	case len(s) < longNameLen:
		return unsafe.Pointer(unsafe.StringData(s)), uint8(len(s))
	}
	long := new(string) // not &s: s would be moved to the heap at every call
	*long = s
	return unsafe.Pointer(long), longNameLen
}

// keptName is the name keepName kept as p and n; "" for none.
func keptName(p unsafe.Pointer, n uint8) string {
	if n == longNameLen {
		return *(*string)(p)
	}
	return unsafe.String((*byte)(p), n)
}
