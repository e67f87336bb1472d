package kubesvc

import "iter"

// items are an informer's objects by storeKey (fanout.go). They are held in
// a keyTable of the objects' own pointer type when all are of one of the
// types that most objects are (the services and the EndpointSlices of
// kubesvc's transforms): a slot is then one word, where an interface took
// two (about 13 bytes less an object with the table's spare slots). An
// object of another type turns the table into one of interfaces, which
// holds anything.
type items struct {
	t itemTable // nil until the first object
}

// itemTable is a keyTable of objects, whatever its values' type.
type itemTable interface {
	Get(key string) (any, bool)
	// Set stores obj, and returns the object it replaced; fits false: obj
	// is of a type the table cannot hold, and nothing changed.
	Set(obj any) (old any, replaced, fits bool)
	Delete(key string) (any, bool)
	All() iter.Seq[any]
	Len() int
	reserve(n int)
}

// keyed is an object type with a key of its own (objMeta).
type keyed interface {
	comparable
	storeKey() string
}

func keyOfItem[T keyed](v T) string { return v.storeKey() }

// tableFor is the table that holds objects of obj's type in one word.
func tableFor(obj any) itemTable {
	switch obj.(type) {
	case *service:
		return typedItems[*service]{newKeyTable(keyOfItem[*service])}
	case *endpointSlice:
		return typedItems[*endpointSlice]{newKeyTable(keyOfItem[*endpointSlice])}
	}
	return anyItems{newKeyTable(itemStoreKey)}
}

func (s *items) Get(key string) (any, bool) {
	if s.t == nil {
		return nil, false
	}
	return s.t.Get(key)
}

// Set stores obj under its key, and returns the object it replaced.
func (s *items) Set(obj any) (old any, replaced bool) {
	if s.t == nil {
		s.t = tableFor(obj)
	}
	old, replaced, fits := s.t.Set(obj)
	if !fits {
		wide := anyItems{newKeyTable(itemStoreKey)}
		wide.reserve(s.t.Len() + 1)
		for v := range s.t.All() {
			wide.Set(v)
		}
		s.t = wide
		old, replaced, _ = s.t.Set(obj)
	}
	return old, replaced
}

func (s *items) Delete(key string) (any, bool) {
	if s.t == nil {
		return nil, false
	}
	return s.t.Delete(key)
}

// All yields every object, in no order.
func (s *items) All() iter.Seq[any] {
	if s.t == nil {
		return func(func(any) bool) {}
	}
	return s.t.All()
}

func (s *items) Len() int {
	if s.t == nil {
		return 0
	}
	return s.t.Len()
}

// reserve makes room for n objects like obj.
func (s *items) reserve(n int, obj any) {
	if s.t == nil {
		s.t = tableFor(obj)
	}
	s.t.reserve(n)
}

// typedItems holds objects of one pointer type.
type typedItems[T keyed] struct{ t *keyTable[T] }

func (s typedItems[T]) Get(key string) (any, bool) {
	if v, ok := s.t.Get(key); ok {
		return v, true
	}
	return nil, false
}

func (s typedItems[T]) Set(obj any) (any, bool, bool) {
	v, ok := obj.(T)
	if !ok {
		return nil, false, false
	}
	if old, replaced := s.t.Set(v); replaced {
		return old, true, true
	}
	return nil, false, true
}

func (s typedItems[T]) Delete(key string) (any, bool) {
	if v, ok := s.t.Delete(key); ok {
		return v, true
	}
	return nil, false
}

func (s typedItems[T]) All() iter.Seq[any] {
	return func(yield func(any) bool) {
		for v := range s.t.All() {
			if !yield(v) {
				return
			}
		}
	}
}

func (s typedItems[T]) Len() int      { return s.t.Len() }
func (s typedItems[T]) reserve(n int) { s.t.reserve(n) }

// anyItems holds objects of any type that has a key.
type anyItems struct{ t *keyTable[any] }

func (s anyItems) Get(key string) (any, bool) { return s.t.Get(key) }

func (s anyItems) Set(obj any) (any, bool, bool) {
	old, replaced := s.t.Set(obj)
	return old, replaced, true
}

func (s anyItems) Delete(key string) (any, bool) { return s.t.Delete(key) }
func (s anyItems) All() iter.Seq[any]            { return s.t.All() }
func (s anyItems) Len() int                      { return s.t.Len() }
func (s anyItems) reserve(n int)                 { s.t.reserve(n) }
