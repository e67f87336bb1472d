package kubesvc

import (
	"google.golang.org/protobuf/encoding/protowire"
	corev1 "k8s.io/api/core/v1"
)

// The sparse decoding of Services (wire.go), field numbers from
// k8s.io/api/core/v1/generated.proto. Of a Service it fills the metadata of
// decodeObjectMeta but the labels; of its spec the type, clusterIP,
// clusterIPs, externalName, externalIPs, publishNotReadyAddresses, whether
// it has a selector (someSelector) and the ports (name, protocol, port); of
// its status the load balancer's ingress (ip, hostname): what toService and
// withExternal read. Every string is copied out of the message, which a
// watch event's lent buffer is (eventbuffers.go). A transform that
// reads another field must have it added here: TestSparseServiceTransformMatches
// compares the transform's output on both decodings.

func init() {
	addSparse(corev1.SchemeGroupVersion.WithKind("Service"), decodeService)
	addSparse(corev1.SchemeGroupVersion.WithKind("ServiceList"), func(b []byte, l *corev1.ServiceList) error {
		*l = corev1.ServiceList{}
		return decodeList(b, &l.ListMeta, &l.Items, decodeService)
	})
}

// someSelector is the selector of every sparsely decoded Service that has
// one: the transform reads only whether there is one (svcSelector), and a
// map of its own cost two allocations a Service. Nothing writes to it.
var someSelector = map[string]string{"": ""}

func decodeService(b []byte, s *corev1.Service) error {
	*s = corev1.Service{}
	return eachField(b, func(num protowire.Number, v []byte, _ uint64) error {
		switch num {
		case 1:
			return decodeObjectMeta(v, &s.ObjectMeta, false)
		case 2:
			return decodeServiceSpec(v, &s.Spec)
		case 3:
			return eachField(v, func(num protowire.Number, v []byte, _ uint64) error {
				if num == 1 { // loadBalancer
					return decodeLoadBalancer(v, &s.Status.LoadBalancer)
				}
				return nil
			})
		}
		return nil
	})
}

func decodeServiceSpec(b []byte, spec *corev1.ServiceSpec) error {
	return eachField(b, func(num protowire.Number, v []byte, x uint64) error {
		switch num {
		case 1:
			spec.Ports = append(spec.Ports, corev1.ServicePort{})
			return decodeServicePort(v, &spec.Ports[len(spec.Ports)-1])
		case 2:
			_, _, err := mapEntry(v)
			spec.Selector = someSelector
			return err
		case 3:
			spec.ClusterIP = interned(v, clusterIPs...)
		case 4:
			spec.Type = interned(v, serviceTypes...)
		case 5:
			spec.ExternalIPs = append(spec.ExternalIPs, string(v))
		case 10:
			spec.ExternalName = string(v)
		case 13:
			spec.PublishNotReadyAddresses = x != 0
		case 18:
			ip := spec.ClusterIP // the first is clusterIP (field 3, before it): shared
			if string(v) != ip {
				ip = interned(v, clusterIPs...)
			}
			spec.ClusterIPs = append(spec.ClusterIPs, ip)
		}
		return nil
	})
}

func decodeServicePort(b []byte, p *corev1.ServicePort) error {
	return eachField(b, func(num protowire.Number, v []byte, x uint64) error {
		switch num {
		case 1:
			p.Name = interned(v, portNames...)
		case 2:
			p.Protocol = interned(v, protocols...)
		case 3:
			p.Port = int32(x)
		}
		return nil
	})
}

func decodeLoadBalancer(b []byte, lb *corev1.LoadBalancerStatus) error {
	return eachField(b, func(num protowire.Number, v []byte, _ uint64) error {
		if num != 1 {
			return nil
		}
		lb.Ingress = append(lb.Ingress, corev1.LoadBalancerIngress{})
		in := &lb.Ingress[len(lb.Ingress)-1]
		return eachField(v, func(num protowire.Number, v []byte, _ uint64) error {
			switch num {
			case 1:
				in.IP = string(v)
			case 2:
				in.Hostname = string(v)
			}
			return nil
		})
	})
}
