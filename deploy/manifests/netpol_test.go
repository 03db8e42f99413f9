package manifests

import (
	"net/netip"
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// peer is one end of a connection as the network policies see it: a pod (labels in a
// namespace) or an address that is no pod (external: outside the cluster, or a node's own
// such as NodeLocal DNSCache's), which only ipBlocks match.
type peer struct {
	namespace string
	labels    map[string]string
	external  bool
	ip        netip.Addr // of an external peer
}

// policies evaluates NetworkPolicy semantics for the pods of one namespace: a pod selected by
// no policy of a direction is open in it; a selected pod admits only what one of the
// selecting policies' rules admits. Named ports are not used by the manifests and not
// evaluated.
type policies struct {
	t         *testing.T
	namespace string
	list      []networkingv1.NetworkPolicy
}

func selects(t *testing.T, sel *metav1.LabelSelector, l map[string]string) bool {
	t.Helper()
	s, err := metav1.LabelSelectorAsSelector(sel)
	if err != nil {
		t.Errorf("label selector %v: %v", sel, err)
		return false
	}
	return s.Matches(labels.Set(l))
}

// has reports whether p has a policy of type typ selecting pod.
func (ps policies) selecting(pod map[string]string, typ networkingv1.PolicyType) []networkingv1.NetworkPolicy {
	var out []networkingv1.NetworkPolicy
	for _, p := range ps.list {
		if hasType(p, typ) && selects(ps.t, &p.Spec.PodSelector, pod) {
			out = append(out, p)
		}
	}
	return out
}

func hasType(p networkingv1.NetworkPolicy, typ networkingv1.PolicyType) bool {
	for _, t := range p.Spec.PolicyTypes {
		if t == typ {
			return true
		}
	}
	return false
}

// matchPeer reports whether other matches one of a rule's peers (none: any).
func (ps policies) matchPeer(peers []networkingv1.NetworkPolicyPeer, other peer) bool {
	if len(peers) == 0 {
		return true
	}
	for _, np := range peers {
		switch {
		case np.IPBlock != nil:
			if other.external && inBlock(ps.t, np.IPBlock, other.ip) {
				return true
			}
		case other.external:
		case np.NamespaceSelector != nil:
			ns := map[string]string{"kubernetes.io/metadata.name": other.namespace}
			if selects(ps.t, np.NamespaceSelector, ns) && (np.PodSelector == nil || selects(ps.t, np.PodSelector, other.labels)) {
				return true
			}
		case np.PodSelector != nil:
			if other.namespace == ps.namespace && selects(ps.t, np.PodSelector, other.labels) {
				return true
			}
		}
	}
	return false
}

// inBlock reports whether ip is in the block's CIDR and none of its exceptions.
func inBlock(t *testing.T, b *networkingv1.IPBlock, ip netip.Addr) bool {
	t.Helper()
	in := func(cidr string) bool {
		p, err := netip.ParsePrefix(cidr)
		if err != nil {
			t.Errorf("ipBlock %q: %v", cidr, err)
			return false
		}
		return p.Contains(ip)
	}
	return in(b.CIDR) && !slices.ContainsFunc(b.Except, in)
}

func matchPort(ports []networkingv1.NetworkPolicyPort, port int32, proto corev1.Protocol) bool {
	if len(ports) == 0 {
		return true
	}
	for _, p := range ports {
		pr := corev1.ProtocolTCP
		if p.Protocol != nil {
			pr = *p.Protocol
		}
		if pr == proto && p.Port != nil && p.Port.IntVal == port {
			return true
		}
	}
	return false
}

// egress reports whether pod (in the namespace) may open a connection to dst on port.
func (ps policies) egress(pod map[string]string, dst peer, port int32, proto corev1.Protocol) bool {
	sel := ps.selecting(pod, networkingv1.PolicyTypeEgress)
	if len(sel) == 0 {
		return true
	}
	for _, p := range sel {
		for _, r := range p.Spec.Egress {
			if ps.matchPeer(r.To, dst) && matchPort(r.Ports, port, proto) {
				return true
			}
		}
	}
	return false
}

// ingress reports whether pod (in the namespace) admits a connection from src on port.
func (ps policies) ingress(pod map[string]string, src peer, port int32) bool {
	sel := ps.selecting(pod, networkingv1.PolicyTypeIngress)
	if len(sel) == 0 {
		return true
	}
	for _, p := range sel {
		for _, r := range p.Spec.Ingress {
			if ps.matchPeer(r.From, src) && matchPort(r.Ports, port, corev1.ProtocolTCP) {
				return true
			}
		}
	}
	return false
}

// connect reports whether src may reach dst on port: src's egress and dst's ingress must
// both admit it, as far as they are pods of the namespace (others' policies are not known).
func (ps policies) connect(src, dst peer, port int32) bool {
	ours := func(p peer) bool { return !p.external && p.namespace == ps.namespace }
	out := !ours(src) || ps.egress(src.labels, dst, port, corev1.ProtocolTCP)
	in := !ours(dst) || ps.ingress(dst.labels, src, port)
	return out && in
}
