package ccid

import "unsafe"

// ptrSize is the size of a pointer on this GOARCH.
const ptrSize = unsafe.Sizeof(uintptr(0))
