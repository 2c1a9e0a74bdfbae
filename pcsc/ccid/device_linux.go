package ccid

// Device is an open CCID reader: the Reader over its claimed usbfs
// interface. Close releases the interface for other programs.
type Device struct {
	*Reader
	usb *usbDevice
}

// Open claims the reader's CCID interface. A reader claimed by another
// program (pcscd, scdaemon) gives an error wrapping ErrInUse.
func Open(i Info) (*Device, error) {
	if i.Err != nil {
		return nil, i.Err
	}
	u, err := openUSB(i.Node, i.Name(), i.Desc)
	if err != nil {
		return nil, err
	}
	r, err := NewReader(i.Name(), u, i.Desc)
	if err != nil {
		u.Close()
		return nil, err
	}
	return &Device{Reader: r, usb: u}, nil
}

// Close releases the interface and closes the usbfs node. The card keeps
// its power state.
func (d *Device) Close() error { return d.usb.Close() }
