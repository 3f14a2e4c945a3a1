package clustertest

import "testing"

func TestParse(t *testing.T) {
	nodes, err := parse([]byte("NAME=a ADDR=10.77.0.11 KEY=/k KNOWN_HOSTS=/kh DIR=/d\nNAME=b ADDR=10.77.0.12 KEY=/k KNOWN_HOSTS=/kh2 DIR=/d2\n"))
	if err != nil || len(nodes) != 2 || nodes[1] != (Node{Name: "b", Addr: "10.77.0.12", KeyFile: "/k", KnownHostsFile: "/kh2", Dir: "/d2"}) {
		t.Fatalf("%v %+v", err, nodes)
	}
	if _, err := parse([]byte("NAME=a\n")); err == nil {
		t.Fatal("incomplete line accepted")
	}
}
