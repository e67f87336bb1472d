package kubesvc

import (
	"fmt"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protowire"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// apiServerService is a ClusterIP Service as an API server sends it: its
// managed fields, uid, creation time and defaulted spec included.
func apiServerService(ns, name, ip string, rv int) *corev1.Service {
	fields := `{"f:spec":{"f:internalTrafficPolicy":{},"f:ports":{".":{},"k:{\"port\":80,\"protocol\":\"TCP\"}":{".":{},"f:name":{},"f:port":{},"f:protocol":{},"f:targetPort":{}}},"f:selector":{},"f:sessionAffinity":{},"f:type":{}}}`
	local, single := corev1.ServiceInternalTrafficPolicyCluster, corev1.IPFamilyPolicySingleStack
	return &corev1.Service{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Service"},
		ObjectMeta: metav1.ObjectMeta{
			Name: name, Namespace: ns, UID: types.UID(fmt.Sprintf("5f0c2a4e-1b7d-4c8e-9a3f-%012d", rv)),
			ResourceVersion: fmt.Sprint(rv), CreationTimestamp: metav1.NewTime(time.Unix(1764600000, 0)),
			Labels: map[string]string{"app": name},
			ManagedFields: []metav1.ManagedFieldsEntry{{Manager: "bench", Operation: metav1.ManagedFieldsOperationUpdate,
				APIVersion: "v1", Time: &metav1.Time{Time: time.Unix(1764600000, 0)}, FieldsType: "FieldsV1",
				FieldsV1: metav1.NewFieldsV1(fields)}},
		},
		Spec: corev1.ServiceSpec{
			Ports:    []corev1.ServicePort{{Name: "http", Protocol: corev1.ProtocolTCP, Port: 80, TargetPort: intstr.FromInt32(8080)}},
			Selector: map[string]string{"app": name}, ClusterIP: ip, ClusterIPs: []string{ip},
			Type: corev1.ServiceTypeClusterIP, SessionAffinity: corev1.ServiceAffinityNone,
			IPFamilies: []corev1.IPFamily{corev1.IPv4Protocol}, IPFamilyPolicy: &single, InternalTrafficPolicy: &local,
		},
	}
}

// watchEventFrame is the protobuf frame of a watch event of type typ
// carrying obj, as an API server writes it (metav1.WatchEvent).
func watchEventFrame(tb testing.TB, typ string, obj runtime.Object) []byte {
	var ext []byte
	ext = protowire.AppendTag(ext, 1, protowire.BytesType)
	ext = protowire.AppendBytes(ext, encodeProtobuf(tb, obj))
	var b []byte
	b = protowire.AppendTag(b, 1, protowire.BytesType)
	b = protowire.AppendString(b, typ)
	b = protowire.AppendTag(b, 2, protowire.BytesType)
	return protowire.AppendBytes(b, ext)
}

// BenchmarkServiceEvent is kubesvc's work for a Service created and then
// deleted in a cluster of 5,000 services, from each watch event's frame
// to the index published: the frame's decoding, the object's, the
// transform, the informer's store and the watcher (one op: both events).
func BenchmarkServiceEvent(b *testing.B) {
	c := newChangeCluster(b, 5000)
	f := newFanout(nil, &corev1.Service{}, 0, nil).(*fanout)
	if err := f.SetTransform(toService); err != nil {
		b.Fatal(err)
	}
	if _, err := f.AddEventHandler(c.w.serviceHandler()); err != nil {
		b.Fatal(err)
	}
	dec := sparseProtobuf(b)
	frames := [2][]byte{}
	for j, typ := range []string{"ADDED", "DELETED"} {
		frames[j] = watchEventFrame(b, typ, apiServerService("ns7", "churn-0001", "10.97.3.4", 100+j))
	}
	const key = "churn-0001.ns7" // the index's key of ns7/churn-0001
	var ev metav1.WatchEvent
	event := func(j int) {
		if err := watchEventOf(frames[j], &ev); err != nil {
			b.Fatal(err)
		}
		obj, _, err := dec.Decode(ev.Object.Raw, nil, nil)
		if err != nil {
			b.Fatal(err)
		}
		if err := f.change(obj, j == 1); err != nil {
			b.Fatal(err)
		}
	}
	if event(0); clusterIPOf(c.w.ix.serviceNamed(key)) != "10.97.3.4" {
		b.Fatalf("%s has cluster IP %q after its creation, want 10.97.3.4", key, clusterIPOf(c.w.ix.serviceNamed(key)))
	}
	event(1)
	for b.Loop() {
		event(0)
		event(1)
	}
	if c.w.ix.serviceNamed(key).exists() {
		b.Fatalf("%s is still in the index after its deletion", key)
	}
}
