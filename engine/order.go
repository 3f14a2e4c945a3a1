package engine

import (
	"slices"
	"sync"

	"github.com/gpuctl/gpuctl/playbooks"
)

// stepKey places one task of a play in the order Ansible's linear strategy
// runs them: the section (facts, pre_tasks, their handlers, tasks, ...)
// and the task's path in the play's tree, so a rescue comes after its
// block and an included file's tasks come right after the include.
type stepKey struct {
	section int
	path    []int
}

func (k stepKey) compare(o stepKey) int {
	if k.section != o.section {
		return k.section - o.section
	}
	return slices.Compare(k.path, o.path)
}

// Sections of a play: hosts run them in this order; handlers notified in
// a section run in the flush right after it, as in Ansible.
const (
	sectionFacts = -1
	sectionPre   = 0 // pre_tasks; 1 is their handler flush
	sectionMain  = 2 // roles and tasks; 3 their flush
	sectionPost  = 4 // post_tasks; 5 their flush
)

// taskOrder numbers a play's tasks depth first. Tasks of files included
// at run time are added as they are loaded, under their include.
type taskOrder struct {
	mu    sync.Mutex
	paths map[*playbooks.Task][]int
}

func newTaskOrder(play *playbooks.Play) *taskOrder {
	o := &taskOrder{paths: map[*playbooks.Task][]int{}}
	o.number(nil, play.PreTasks)
	o.number(nil, slices.Concat(play.Roles, play.Tasks))
	o.number(nil, play.PostTasks)
	o.number(nil, play.Handlers)
	return o
}

// number gives tasks the paths parent+[0], parent+[1], ... and their
// children (block, rescue, always, include) paths below their own.
func (o *taskOrder) number(parent []int, tasks []*playbooks.Task) {
	for i, t := range tasks {
		p := append(slices.Clip(parent), i)
		o.paths[t] = p
		o.number(p, slices.Concat(t.Block, t.Rescue, t.Always, t.Include))
	}
}

// place numbers the tasks an include loaded at run time under it.
func (o *taskOrder) place(include *playbooks.Task, tasks []*playbooks.Task) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.number(o.paths[include], tasks)
}

// placeUnder numbers tasks loaded at run time that belong to no include:
// the handlers of a role included by a templated name.
func (o *taskOrder) placeUnder(parent []int, tasks []*playbooks.Task) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.number(parent, tasks)
}

func (o *taskOrder) key(section int, t *playbooks.Task) stepKey {
	o.mu.Lock()
	defer o.mu.Unlock()
	return stepKey{section: section, path: o.paths[t]}
}
