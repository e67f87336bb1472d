package kubesvc

import (
	"reflect"

	"google.golang.org/protobuf/encoding/protowire"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// The sparse decoding of Services (wire.go), field numbers from
// k8s.io/api/core/v1/generated.proto. Of a Service it fills the metadata of
// decodeObjectMeta; of its spec the type, clusterIP, clusterIPs,
// externalName, externalIPs, publishNotReadyAddresses, the selector and the
// ports (name, protocol, port); of its status the load balancer's ingress
// (ip, hostname): what toService and withExternal read. A transform that
// reads another field must have it added here: TestSparseServiceTransformMatches
// compares the transform's output on both decodings.

func init() {
	sparseKinds[corev1.SchemeGroupVersion.WithKind("Service")] = sparseKind{
		typ:    reflect.TypeFor[*corev1.Service](),
		new:    func() runtime.Object { return &corev1.Service{} },
		decode: func(b []byte, into runtime.Object) error { return decodeService(b, into.(*corev1.Service)) },
	}
	sparseKinds[corev1.SchemeGroupVersion.WithKind("ServiceList")] = sparseKind{
		typ:    reflect.TypeFor[*corev1.ServiceList](),
		new:    func() runtime.Object { return &corev1.ServiceList{} },
		decode: func(b []byte, into runtime.Object) error { return decodeServiceList(b, into.(*corev1.ServiceList)) },
	}
}

func decodeServiceList(b []byte, l *corev1.ServiceList) error {
	*l = corev1.ServiceList{Items: make([]corev1.Service, 0, count(b, 2))}
	return eachField(b, func(num protowire.Number, v []byte, _ uint64) error {
		switch num {
		case 1:
			return decodeListMeta(v, &l.ListMeta)
		case 2:
			l.Items = append(l.Items, corev1.Service{})
			return decodeService(v, &l.Items[len(l.Items)-1])
		}
		return nil
	})
}

func decodeService(b []byte, s *corev1.Service) error {
	*s = corev1.Service{}
	return eachField(b, func(num protowire.Number, v []byte, _ uint64) error {
		switch num {
		case 1:
			return decodeObjectMeta(v, &s.ObjectMeta)
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
			return decodeMapEntry(v, &spec.Selector)
		case 3:
			spec.ClusterIP = internClusterIP(v)
		case 4:
			spec.Type = internServiceType(v)
		case 5:
			spec.ExternalIPs = append(spec.ExternalIPs, string(v))
		case 10:
			spec.ExternalName = string(v)
		case 13:
			spec.PublishNotReadyAddresses = x != 0
		case 18:
			spec.ClusterIPs = append(spec.ClusterIPs, internClusterIP(v))
		}
		return nil
	})
}

func decodeServicePort(b []byte, p *corev1.ServicePort) error {
	return eachField(b, func(num protowire.Number, v []byte, x uint64) error {
		switch num {
		case 1:
			p.Name = internPortName(v)
		case 2:
			p.Protocol = internProtocol(v)
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

// internClusterIP shares the string of "None", the cluster IP of every
// headless service.
func internClusterIP(v []byte) string {
	switch string(v) {
	case corev1.ClusterIPNone:
		return corev1.ClusterIPNone
	case "":
		return ""
	}
	return string(v)
}

func internServiceType(v []byte) corev1.ServiceType {
	switch string(v) {
	case string(corev1.ServiceTypeClusterIP):
		return corev1.ServiceTypeClusterIP
	case string(corev1.ServiceTypeNodePort):
		return corev1.ServiceTypeNodePort
	case string(corev1.ServiceTypeLoadBalancer):
		return corev1.ServiceTypeLoadBalancer
	case string(corev1.ServiceTypeExternalName):
		return corev1.ServiceTypeExternalName
	}
	return corev1.ServiceType(v)
}

// internPortName shares the strings of the commonest port names.
func internPortName(v []byte) string {
	switch string(v) {
	case "":
		return ""
	case "http":
		return "http"
	case "https":
		return "https"
	case "grpc":
		return "grpc"
	case "metrics":
		return "metrics"
	case "dns", "dns-tcp":
		if len(v) == 3 {
			return "dns"
		}
		return "dns-tcp"
	}
	return string(v)
}
