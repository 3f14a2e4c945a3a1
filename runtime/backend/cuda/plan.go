//go:build cgo && linux

package cuda

/*
#include <stdlib.h>
#include "shim.h"
*/
import "C"

import (
	"fmt"
	"unsafe"

	"github.com/gpuctl/gpuctl/runtime/backend"
	"github.com/gpuctl/gpuctl/runtime/model"
)

// upload builds the plan, fusing each linear with the activation after it.
func (c *CUDA) upload() error {
	bf := c.prec == backend.BF16
	ls := c.m.Layers
	for i := 0; i < len(ls); i++ {
		l := ls[i]
		o := op{kind: l.Kind, in: l.In, out: l.Out}
		var err error
		switch l.Kind {
		case model.Linear:
			if o.w, err = c.put(l.W, bf); err != nil {
				return err
			}
			if l.B != nil {
				if o.b, err = c.put(l.B, bf); err != nil {
					return err
				}
			}
			if i+1 < len(ls) {
				switch n := ls[i+1]; n.Kind {
				case model.ReLU, model.Sigmoid, model.Tanh:
					o.act = actCode[n.Kind]
					i++
				case model.GELU:
					o.act = gelu(n)
					i++
				}
			}
			if c.lt != nil {
				if err := c.ltDesc(&o); err != nil {
					return err
				}
			}
		case model.ReLU, model.Sigmoid, model.Tanh:
			o.act = actCode[l.Kind]
		case model.GELU:
			o.act = gelu(l)
		case model.LayerNorm:
			o.eps = l.Eps
			if l.W != nil {
				if o.g, err = c.put(l.W, false); err != nil {
					return err
				}
			}
			if l.B != nil {
				if o.beta, err = c.put(l.B, false); err != nil {
					return err
				}
			}
		}
		c.ops = append(c.ops, o)
	}
	return nil
}

// initLt creates the cuBLASLt handle and the preference that lets it use
// the workspace.
func (c *CUDA) initLt() error {
	if err := blasErr("cublasLtCreate", C.c_blas_create(c.a.ltCreate, &c.lt)); err != nil {
		return err
	}
	if err := blasErr("cublasLtMatmulPreferenceCreate", C.c_blas_create(c.a.ltPrefCreate, &c.pref)); err != nil {
		return err
	}
	*(*uint64)(c.args) = workspaceBytes
	return blasErr("cublasLtMatmulPreferenceSetAttribute", C.c_lt_set_attr(c.a.ltPrefSet, c.pref, prefMaxWorkspace, c.args, 8))
}

// ltDesc describes a linear layer's product for cuBLASLt: Wᵀ (as PyTorch
// stores W) times the activations, with bias and ReLU in the epilogue.
func (c *CUDA) ltDesc(o *op) error {
	a := c.a
	compute, dt := C.int(computeF32), C.int(dtF32)
	if c.prec == backend.TF32 {
		compute = computeF32FastTF32
	}
	if c.prec == backend.BF16 {
		dt = dtBF16
	}
	if err := blasErr("cublasLtMatmulDescCreate", C.c_lt_desc_create(a.ltDescCreate, &o.desc, compute, dtF32)); err != nil {
		return err
	}
	set := func(attr C.int, v int32) error {
		*(*int32)(c.args) = v
		return blasErr("cublasLtMatmulDescSetAttribute", C.c_lt_set_attr(a.ltDescSet, o.desc, attr, c.args, 4))
	}
	epi := int32(epiDefault)
	switch {
	case o.act == 1 && o.b != nil:
		epi, o.fused = epiReluBias, true
	case o.act == 1:
		epi, o.fused = epiRelu, true
	case o.b != nil:
		epi, o.fused = epiBias, o.act == 0
	default:
		o.fused = o.act == 0
	}
	if err := set(ltTransA, opT); err != nil {
		return err
	}
	if err := set(ltTransB, opN); err != nil {
		return err
	}
	if err := set(ltEpilogue, epi); err != nil {
		return err
	}
	if o.b != nil {
		*(*unsafe.Pointer)(c.args) = o.b
		if err := blasErr("cublasLtMatmulDescSetAttribute(bias)", C.c_lt_set_attr(a.ltDescSet, o.desc, ltBiasPointer, c.args, 8)); err != nil {
			return err
		}
	}
	o.plans = map[int]*ltPlan{}
	return blasErr("cublasLtMatrixLayoutCreate(W)", C.c_lt_layout_create(a.ltLayoutCreate, &o.aLayout, dt, C.ulonglong(o.in), C.ulonglong(o.out), C.longlong(o.in)))
}

// ltPlan returns the layouts and algorithm for n rows, asking cuBLASLt's
// heuristic once per row count. When it offers nothing, the plan is
// marked not ok and the product falls back to cublasGemmEx.
func (c *CUDA) ltPlan(o *op, n int, dt C.int) (*ltPlan, error) {
	if p := o.plans[n]; p != nil {
		return p, nil
	}
	a := c.a
	p := &ltPlan{}
	if err := blasErr("cublasLtMatrixLayoutCreate(X)", C.c_lt_layout_create(a.ltLayoutCreate, &p.b, dt, C.ulonglong(o.in), C.ulonglong(n), C.longlong(o.in))); err != nil {
		return nil, err
	}
	if err := blasErr("cublasLtMatrixLayoutCreate(Y)", C.c_lt_layout_create(a.ltLayoutCreate, &p.d, dt, C.ulonglong(o.out), C.ulonglong(n), C.longlong(o.out))); err != nil {
		return nil, err
	}
	p.algo = C.malloc(256)
	c.cmem = append(c.cmem, p.algo)
	count := (*C.int)(unsafe.Add(c.args, 128))
	*count = 0
	code := C.c_lt_heuristic(a.ltHeuristic, c.lt, o.desc, o.aLayout, p.b, p.d, p.d, c.pref, p.algo, count)
	state := *(*int32)(unsafe.Add(p.algo, 72))
	p.ok = code == 0 && *count > 0 && state == 0
	if p.ok {
		c.ltOK++
	} else {
		c.ltRefused++
		if c.ltWhy == "" {
			c.ltWhy = fmt.Sprintf("heuristic for %d×%d·%d: status %d, %d algorithms, state %d", n, o.in, o.out, int(code), int(*count), state)
		}
	}
	o.plans[n] = p
	return p, nil
}
