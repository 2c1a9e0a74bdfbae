//go:build !linux

package ccid

import (
	"errors"
	"fmt"
)

// ErrInUse means another program has claimed the reader's CCID interface.
var ErrInUse = errors.New("reader in use by another program")

// Device is an open CCID reader. Only Linux (usbfs) is supported.
type Device struct{ *Reader }

// Open fails: the direct CCID driver needs Linux usbfs.
func Open(i Info) (*Device, error) {
	return nil, fmt.Errorf("%w: %s: the direct CCID driver needs Linux usbfs; use pcscd", ErrUnsupported, i.Name())
}

// Close does nothing.
func (d *Device) Close() error { return nil }
