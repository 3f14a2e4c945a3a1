package template

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// dig is community.general.dig: DNS queries from the controller, as
// every lookup runs there. It uses Go's resolver (the controller's
// resolv.conf, or the @server a term names) where the plugin uses
// dnspython, and returns what the plugin returns for the common forms: one
// string per record, "NXDOMAIN" for a name that does not exist and "" for
// no record of the type or a timeout, unless fail_on_error or real_empty.
type dig struct {
	// port is where @server is asked: 53, another in tests.
	port string
	// timeout bounds one query, as dnspython's resolver lifetime (5 s).
	timeout time.Duration
}

func newDig() *dig { return &dig{port: "53", timeout: 5 * time.Second} }

// digTypes are the query types Go's resolver can ask for.
var digTypes = []string{"A", "AAAA", "CNAME", "MX", "NS", "PTR", "SRV", "TXT"}

// digQuery is a lookup's terms and options, read as dig.py reads them.
type digQuery struct {
	qtype       string
	flat        bool
	failOnError bool
	realEmpty   bool
	server      string
	domains     []string
}

func (d *dig) parseTerms(terms []any, kw map[string]any) (digQuery, error) {
	q := digQuery{qtype: "A", flat: true}
	var err error
	if v, ok := kw["qtype"]; ok {
		q.qtype = strings.ToUpper(toString(v))
	}
	for name, dst := range map[string]*bool{"fail_on_error": &q.failOnError, "real_empty": &q.realEmpty} {
		if v, ok := kw[name]; ok {
			*dst = Truthy(v)
		}
	}
	if v, ok := kw["flat"]; ok {
		q.flat = Truthy(v)
	}
	if c, ok := kw["class"]; ok && strings.ToUpper(toString(c)) != "IN" {
		return q, fmt.Errorf("class %s: only IN is supported", toString(c))
	}
	for _, term := range terms {
		t := toString(term)
		switch {
		case strings.HasPrefix(t, "@"):
			// dig.py sets the resolver's servers once per name of the list,
			// so the last one is the one asked.
			servers := strings.Split(t[1:], ",")
			if q.server, err = digServer(servers[len(servers)-1], d.timeout); err != nil {
				return q, err
			}
		case strings.Contains(t, "="):
			opt, arg, _ := strings.Cut(t, "=")
			switch opt {
			case "qtype":
				q.qtype = strings.ToUpper(arg)
			case "flat":
				n, err := strconv.Atoi(arg)
				if err != nil {
					return q, fmt.Errorf("flat=%s: %w", arg, err)
				}
				q.flat = n != 0
			case "class":
				if strings.ToUpper(arg) != "IN" {
					return q, fmt.Errorf("class %s: only IN is supported", arg)
				}
			case "fail_on_error":
				q.failOnError = Truthy(arg)
			case "real_empty":
				q.realEmpty = Truthy(arg)
			}
		case strings.Count(t, "/") == 1:
			d, qt, _ := strings.Cut(t, "/")
			q.domains, q.qtype = append(q.domains, d), qt
		default:
			q.domains = append(q.domains, t)
		}
	}
	q.qtype = strings.ToUpper(q.qtype)
	if !slices.Contains(digTypes, q.qtype) {
		return q, fmt.Errorf("qtype %s is not supported (supported: %s)", q.qtype, strings.Join(digTypes, ", "))
	}
	if !q.flat {
		return q, errors.New("flat=0 (records as dicts with their TTL) is not supported: Go's resolver gives no TTL")
	}
	if len(q.domains) > 1 {
		q.realEmpty = true // as dig.py: with several names, a missing one adds nothing
	}
	return q, nil
}

// digServer is an @server term's address; a name is resolved first, as
// dig.py does for anything that is not an IPv4 address.
func digServer(s string, timeout time.Duration) (string, error) {
	if a, err := netip.ParseAddr(s); err == nil && a.Is4() {
		return s, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	addrs, err := net.DefaultResolver.LookupIP(ctx, "ip4", s)
	if err != nil || len(addrs) == 0 {
		return "", fmt.Errorf("dns lookup NS: %s: %w", s, err)
	}
	return addrs[0].String(), nil
}

func (d *dig) lookup(_ varGetter, terms []any, kw map[string]any) ([]any, error) {
	q, err := d.parseTerms(terms, kw)
	if err != nil {
		return nil, fmt.Errorf("dig: %w", err)
	}
	out := []any{}
	for _, name := range q.domains {
		recs, err := d.query(q, name)
		var miss *digMiss
		switch {
		case errors.As(err, &miss):
			if q.failOnError {
				return nil, fmt.Errorf("dig: Lookup failed: %s", miss.msg)
			}
			if !q.realEmpty {
				out = append(out, miss.value)
			}
		case err != nil:
			return nil, fmt.Errorf("dig: %w", err)
		default:
			for _, r := range recs {
				out = append(out, r)
			}
		}
	}
	return out, nil
}

// digMiss is a query without records: value is what dig.py returns for it,
// msg dnspython's message (fail_on_error).
type digMiss struct{ value, msg string }

func (m *digMiss) Error() string { return m.msg }

// query asks for one name's records of q.qtype, as strings in dnspython's
// text form (MX "10 mail.example.com.", SRV "priority weight port target").
func (d *dig) query(q digQuery, name string) ([]string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), d.timeout)
	defer cancel()
	var nx atomic.Bool
	r := &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, addr string) (net.Conn, error) {
		if q.server != "" {
			addr = net.JoinHostPort(q.server, d.port)
		}
		c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
		if u, ok := c.(*net.UDPConn); ok {
			return &rcodeConn{UDPConn: u, nx: &nx}, nil
		}
		return c, err
	}}
	// dnspython asks for the name as written, made absolute, never with
	// the search domains of resolv.conf.
	fqdn := name
	if !strings.HasSuffix(fqdn, ".") {
		fqdn += "."
	}
	var recs []string
	var err error
	switch q.qtype {
	case "A", "AAAA":
		network := map[string]string{"A": "ip4", "AAAA": "ip6"}[q.qtype]
		var ips []net.IP
		if ips, err = r.LookupIP(ctx, network, fqdn); err == nil {
			for _, ip := range ips {
				recs = append(recs, ip.String())
			}
		}
	case "TXT":
		recs, err = r.LookupTXT(ctx, fqdn)
	case "MX":
		var mx []*net.MX
		if mx, err = r.LookupMX(ctx, fqdn); err == nil {
			for _, m := range mx {
				recs = append(recs, fmt.Sprintf("%d %s", m.Pref, m.Host))
			}
		}
	case "NS":
		var ns []*net.NS
		if ns, err = r.LookupNS(ctx, fqdn); err == nil {
			for _, n := range ns {
				recs = append(recs, n.Host)
			}
		}
	case "SRV":
		var srv []*net.SRV
		if _, srv, err = r.LookupSRV(ctx, "", "", fqdn); err == nil {
			for _, s := range srv {
				recs = append(recs, fmt.Sprintf("%d %d %d %s", s.Priority, s.Weight, s.Port, s.Target))
			}
		}
	case "CNAME":
		var c string
		// Go answers with the name itself when it has addresses but no
		// CNAME; dnspython finds no answer there.
		if c, err = r.LookupCNAME(ctx, fqdn); err == nil && !strings.EqualFold(c, fqdn) {
			recs = []string{c}
		}
	case "PTR":
		if _, perr := netip.ParseAddr(name); perr != nil {
			return nil, nil // dig.py drops what is not an address
		}
		recs, err = r.LookupAddr(ctx, name)
	}
	if err == nil && len(recs) == 0 {
		err = &net.DNSError{IsNotFound: true}
	}
	var de *net.DNSError
	switch {
	case err == nil:
		return recs, nil
	case errors.As(err, &de) && de.IsNotFound && nx.Load():
		return nil, &digMiss{"NXDOMAIN", "The DNS query name does not exist: " + fqdn}
	case errors.As(err, &de) && de.IsNotFound:
		return nil, &digMiss{"", "The DNS response does not contain an answer to the question: " + fqdn + " IN " + q.qtype}
	case errors.As(err, &de) && de.IsTimeout, errors.Is(err, context.DeadlineExceeded):
		return nil, &digMiss{"", "The DNS operation timed out."}
	}
	return nil, fmt.Errorf("dns.resolver unhandled exception %s: %w", name, err)
}

// rcodeConn notes an NXDOMAIN answer: Go's resolver reports it and an
// answer without records alike (IsNotFound), where dig.py returns
// "NXDOMAIN" for one and "" for the other. The response code is the low
// four bits of the header's fourth byte; NXDOMAIN answers are small, so
// they come over UDP.
type rcodeConn struct {
	*net.UDPConn
	nx *atomic.Bool
}

func (c *rcodeConn) Read(b []byte) (int, error) {
	n, err := c.UDPConn.Read(b)
	if n >= 4 && b[3]&0x0f == 3 {
		c.nx.Store(true)
	}
	return n, err
}
