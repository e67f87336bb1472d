package kubesvc

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// anyService is a Service with a bit of everything the API allows, and
// fields no transform reads, so that the decoder must skip them.
func anyService(r *rand.Rand, i int) *corev1.Service {
	pick := func(xs ...string) string { return xs[r.IntN(len(xs))] }
	s := &corev1.Service{
		TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Service"},
		ObjectMeta: metav1.ObjectMeta{Namespace: pick("default", "ns-b"), Name: pick("web", "Web", "a.b", fmt.Sprintf("s%d", i)),
			ResourceVersion: fmt.Sprint(r.IntN(1e6)), UID: "u", CreationTimestamp: metav1.Unix(1700000000, 0),
			Labels: map[string]string{"app": "web"}, Annotations: map[string]string{},
			ManagedFields: []metav1.ManagedFieldsEntry{{Manager: "kubectl", FieldsType: "FieldsV1", FieldsV1: metav1.NewFieldsV1(`{"f:spec":{}}`)}}},
		Spec: corev1.ServiceSpec{
			Type:            corev1.ServiceType(pick("ClusterIP", "ClusterIP", "NodePort", "LoadBalancer", "ExternalName", "")),
			SessionAffinity: corev1.ServiceAffinityNone, IPFamilies: []corev1.IPFamily{corev1.IPv4Protocol},
			PublishNotReadyAddresses: r.IntN(2) == 0, ExternalName: pick("", "example.com", "Example.COM.", "bad name", "10.0.0.1"),
			LoadBalancerSourceRanges: []string{"0.0.0.0/0"}, HealthCheckNodePort: 30000,
		},
	}
	if r.IntN(3) > 0 {
		s.Spec.Selector = map[string]string{"app": "web"}
	}
	switch r.IntN(4) {
	case 0:
		s.Spec.ClusterIP, s.Spec.ClusterIPs = corev1.ClusterIPNone, []string{corev1.ClusterIPNone}
	case 1:
		s.Spec.ClusterIP, s.Spec.ClusterIPs = "10.96.0.10", []string{"10.96.0.10", "fd00::a", "nonsense"}
	case 2:
		s.Spec.ClusterIP = "10.96.0.11"
	}
	for range r.IntN(3) {
		s.Spec.Ports = append(s.Spec.Ports, corev1.ServicePort{Name: pick("", "http", "dns", "dns-tcp", "Metrics", "bad_name"),
			Protocol: corev1.Protocol(pick("TCP", "UDP", "SCTP", "", "Weird")), Port: int32(r.IntN(70000) - 10), NodePort: 30001})
	}
	for range r.IntN(3) {
		s.Spec.ExternalIPs = append(s.Spec.ExternalIPs, pick("192.0.2.1", "2001:db8::1", "junk"))
	}
	for range r.IntN(3) {
		s.Status.LoadBalancer.Ingress = append(s.Status.LoadBalancer.Ingress, corev1.LoadBalancerIngress{
			IP: pick("", "198.51.100.7", "junk"), Hostname: pick("", "lb.example.com", "bad host")})
	}
	for _, kv := range [][2]string{{"external-dns.alpha.kubernetes.io/hostname", "web.example.com,api.example.com"},
		{"external-dns.alpha.kubernetes.io/target", "203.0.113.5"}, {"other", "x"}} {
		if r.IntN(2) == 0 {
			s.Annotations[kv[0]] = kv[1]
		}
	}
	return s
}

func TestSparseServiceTransformMatches(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 17))
	dec := sparseProtobuf(t)
	for i := range 500 {
		data := encodeProtobuf(t, anyService(r, i))
		full, _, err := clientGoProtobuf.Decode(data, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		sparse, _, err := dec.Decode(data, nil, nil)
		if err != nil {
			t.Fatalf("service %d: sparse decoding failed where client-go's did not: %v", i, err)
		}
		if diff := sameServiceForTransform(sparse.(*corev1.Service), full.(*corev1.Service)); diff != "" {
			t.Fatalf("service %d: the decodings differ for %s", i, diff)
		}
	}
}

func sameServiceForTransform(sparse, full *corev1.Service) string {
	if sparse.Name != full.Name || sparse.Namespace != full.Namespace || sparse.ResourceVersion != full.ResourceVersion ||
		!reflect.DeepEqual(sparse.Annotations, full.Annotations) {
		return fmt.Sprintf("metadata: sparse %s/%s@%s %v, client-go %s/%s@%s %v", sparse.Namespace, sparse.Name, sparse.ResourceVersion,
			sparse.Annotations, full.Namespace, full.Name, full.ResourceVersion, full.Annotations)
	}
	a, errA := toService(sparse)
	b, errB := toService(full)
	x, y := a.(*service), b.(*service)
	if !reflect.DeepEqual(x, y) || !reflect.DeepEqual(x.externalData(), y.externalData()) || (errA == nil) != (errB == nil) {
		return fmt.Sprintf("toService: sparse %+v %+v (%v), client-go %+v %+v (%v)", x, x.externalData(), errA, y, y.externalData(), errB)
	}
	return ""
}

// TestServiceOfALentBufferOutlivesIt: a Service watch event's object is
// decoded from a lent buffer (eventbuffers.go), which goes back to be
// overwritten by the next event as soon as the Service is decoded; what
// the transform then makes of the Service is what it makes of client-go's
// decoding of the same bytes.
func TestServiceOfALentBufferOutlivesIt(t *testing.T) {
	r := rand.New(rand.NewPCG(31, 37))
	dec := sparseProtobuf(t)
	lentMu.Lock() // other tests' lends that were never taken must not reach maxLent
	clear(lentBuffers)
	lent.Store(0)
	lentMu.Unlock()
	for i := range 300 {
		svc := anyService(r, i)
		full, _, err := clientGoProtobuf.Decode(encodeProtobuf(t, svc), nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		var ev metav1.WatchEvent
		before := lent.Load()
		if err := watchEventOf(watchEventFrame(t, "ADDED", svc), &ev); err != nil {
			t.Fatal(err)
		}
		if lent.Load() != before+1 {
			t.Fatalf("service %d: the event's object was not lent a buffer (%d lent, %d before)", i, lent.Load(), before)
		}
		sparse, _, err := dec.Decode(ev.Object.Raw, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		if lent.Load() != before {
			t.Fatalf("service %d: the decoder did not take the lent buffer (%d lent, %d before)", i, lent.Load(), before)
		}
		for k := range ev.Object.Raw {
			ev.Object.Raw[k] = 'x' // as the next event would
		}
		if diff := sameServiceForTransform(sparse.(*corev1.Service), full.(*corev1.Service)); diff != "" {
			t.Fatalf("service %d: once its buffer was overwritten the decodings differ for %s", i, diff)
		}
	}
}
