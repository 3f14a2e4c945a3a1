package template

import (
	"net"
	"reflect"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/dns/dnsmessage"
)

// fakeDNS answers on a local UDP port from a fixed zone: web.test has two
// A records, a TXT, an MX and no AAAA; alias.test is a CNAME of web.test;
// 192.0.2.1 points back to web.test; every other name does not exist.
func fakeDNS(t *testing.T) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	name := func(s string) dnsmessage.Name { return dnsmessage.MustNewName(s) }
	hdr := func(n string, typ dnsmessage.Type) dnsmessage.ResourceHeader {
		return dnsmessage.ResourceHeader{Name: name(n), Type: typ, Class: dnsmessage.ClassINET, TTL: 300}
	}
	a := func(n string, ip [4]byte) dnsmessage.Resource {
		return dnsmessage.Resource{Header: hdr(n, dnsmessage.TypeA), Body: &dnsmessage.AResource{A: ip}}
	}
	zone := map[string]map[dnsmessage.Type][]dnsmessage.Resource{
		"web.test.": {
			dnsmessage.TypeA:    {a("web.test.", [4]byte{192, 0, 2, 1}), a("web.test.", [4]byte{192, 0, 2, 2})},
			dnsmessage.TypeTXT:  {{Header: hdr("web.test.", dnsmessage.TypeTXT), Body: &dnsmessage.TXTResource{TXT: []string{"v=spf1 -all"}}}},
			dnsmessage.TypeMX:   {{Header: hdr("web.test.", dnsmessage.TypeMX), Body: &dnsmessage.MXResource{Pref: 10, MX: name("mail.test.")}}},
			dnsmessage.TypeAAAA: {},
		},
		"alias.test.": {
			dnsmessage.TypeA: {{Header: hdr("alias.test.", dnsmessage.TypeCNAME), Body: &dnsmessage.CNAMEResource{CNAME: name("web.test.")}}, a("web.test.", [4]byte{192, 0, 2, 1})},
		},
		"1.2.0.192.in-addr.arpa.": {
			dnsmessage.TypePTR: {{Header: hdr("1.2.0.192.in-addr.arpa.", dnsmessage.TypePTR), Body: &dnsmessage.PTRResource{PTR: name("web.test.")}}},
		},
	}
	go func() {
		buf := make([]byte, 1500)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			var m dnsmessage.Message
			if m.Unpack(buf[:n]) != nil || len(m.Questions) != 1 {
				continue
			}
			q := m.Questions[0]
			m.Header.Response, m.Header.RecursionAvailable, m.Header.Authoritative = true, true, true
			if recs, ok := zone[strings.ToLower(q.Name.String())]; ok {
				m.Answers = recs[q.Type]
			} else {
				m.Header.RCode = dnsmessage.RCodeNameError
			}
			m.Additionals = nil
			if out, err := m.Pack(); err == nil {
				pc.WriteTo(out, from)
			}
		}
	}()
	_, port, _ := net.SplitHostPort(pc.LocalAddr().String())
	return port
}

// The dig lookup returns what community.general's dig returns for its
// common forms: each record as text (lookup joins them with commas), the
// type as qtype= or /TYPE, NXDOMAIN for a name that does not exist, "" for
// a type the name has no record of, nothing for those with real_empty or
// several names, and an error with fail_on_error.
func TestDigLookup(t *testing.T) {
	d := &dig{port: fakeDNS(t), timeout: 5 * time.Second}
	for _, tc := range []struct {
		terms []any
		kw    map[string]any
		want  []any
		err   string
	}{
		{terms: []any{"qtype=A", "web.test", "@127.0.0.1"}, want: []any{"192.0.2.1", "192.0.2.2"}},
		{terms: []any{"web.test.", "@127.0.0.1"}, kw: map[string]any{"qtype": "txt"}, want: []any{"v=spf1 -all"}},
		{terms: []any{"web.test/MX", "@127.0.0.1"}, want: []any{"10 mail.test."}},
		{terms: []any{"alias.test", "qtype=CNAME", "@127.0.0.1"}, want: []any{"web.test."}},
		{terms: []any{"web.test", "qtype=CNAME", "@127.0.0.1"}, want: []any{""}},
		{terms: []any{"192.0.2.1/PTR", "@127.0.0.1"}, want: []any{"web.test."}},
		{terms: []any{"web.test/AAAA", "@127.0.0.1"}, want: []any{""}},
		{terms: []any{"nope.test", "@127.0.0.1"}, want: []any{"NXDOMAIN"}},
		{terms: []any{"nope.test", "real_empty=true", "@127.0.0.1"}, want: []any{}},
		{terms: []any{"nope.test", "web.test", "@127.0.0.1"}, want: []any{"192.0.2.1", "192.0.2.2"}},
		{terms: []any{"nope.test", "@127.0.0.1"}, kw: map[string]any{"fail_on_error": true}, err: "Lookup failed: The DNS query name does not exist: nope.test."},
		{terms: []any{"web.test", "qtype=AAAA", "fail_on_error=yes", "@127.0.0.1"}, err: "Lookup failed: The DNS response does not contain an answer"},
		{terms: []any{"web.test", "qtype=SOA", "@127.0.0.1"}, err: "qtype SOA is not supported"},
		{terms: []any{"web.test", "flat=0", "@127.0.0.1"}, err: "flat=0"},
	} {
		got, err := d.lookup(nil, tc.terms, tc.kw)
		switch {
		case tc.err != "":
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%v %v: error %v, want %q", tc.terms, tc.kw, err, tc.err)
			}
		case err != nil:
			t.Errorf("%v %v: %v", tc.terms, tc.kw, err)
		case !reflect.DeepEqual(got, tc.want):
			t.Errorf("%v %v = %#v, want %#v", tc.terms, tc.kw, got, tc.want)
		}
	}
}

// lookup('dig', ...) loads (zabbix_web: lookup('dig', 'qtype=A', name)),
// also by its community.general name.
func TestDigIsALookup(t *testing.T) {
	for _, src := range []string{"{{ lookup('dig', 'qtype=A', name) }}", "{{ query('community.general.dig', 'example.org./TXT') }}"} {
		if err := New().Unknown(src); err != nil {
			t.Errorf("%s: %v", src, err)
		}
	}
}
