// Package hosttest is the old name of modules/moduletest, kept only so
// branches written against it (generic's new modules in flight) still build
// after the merge; new tests import modules/moduletest. Delete it once no
// test imports it.
package hosttest

import "github.com/gpuctl/gpuctl/modules/moduletest"

type (
	Host   = moduletest.Host
	Remote = moduletest.Remote
)

var (
	Local        = moduletest.Local
	Start        = moduletest.Start
	Timeline     = moduletest.Timeline
	TimelineSnap = moduletest.TimelineSnap
	New          = moduletest.New
	Snapshot     = moduletest.Snapshot
	Result       = moduletest.Result
	BadArgs      = moduletest.BadArgs
)
