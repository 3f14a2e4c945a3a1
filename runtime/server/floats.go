package server

import (
	"encoding/binary"
	"unsafe"
)

// The binary tensor extension sends little-endian values, which is how
// the machines gpuctl serves on (amd64, arm64) hold them: there an FP32
// tensor is copied as it is, instead of value by value (which was most of
// the handler's own time for a 256-row request).

// nativeLittleEndian says float32 memory here is the protocol's layout.
func nativeLittleEndian() bool { return binary.NativeEndian.Uint16([]byte{1, 0}) == 1 }

// floatBytes is x's memory as bytes (x stays the owner).
func floatBytes(x []float32) []byte {
	if len(x) == 0 {
		return nil
	}
	return unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(x))), 4*len(x))
}
