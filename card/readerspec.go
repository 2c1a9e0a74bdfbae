package card

import (
	"os"
	"strings"

	"github.com/keyunlock/keyunlock/pcsc"
)

// Reader selection (Options.Reader):
//
//	pcsc:NAME  through pcscd, the readers whose name contains NAME
//	ccid:      directly over USB (usbfs), every CCID reader
//	ccid:PORT  directly over USB, the reader at that port ("1-2", "3-1.4")
//	NAME, ""   through pcscd when its socket exists, else directly over USB
//	           (the initrd without pcscd); only readers whose name contains
//	           NAME
const (
	readerPCSC = "pcsc:"
	readerCCID = "ccid:"
)

// readerSpec splits Options.Reader into the transport ("pcsc", "ccid" or
// "" for automatic), the name filter and the CCID port.
func readerSpec(s string) (transport, filter, port string) {
	switch {
	case strings.HasPrefix(s, readerPCSC):
		return "pcsc", strings.TrimPrefix(s, readerPCSC), ""
	case strings.HasPrefix(s, readerCCID):
		return "ccid", "", strings.TrimPrefix(s, readerCCID)
	}
	return "", s, ""
}

// pcscdRunning reports whether pcscd's socket exists: then cards are
// reached through pcscd, which may hold the USB readers itself.
func pcscdRunning() bool {
	_, err := os.Stat(pcsc.SocketPath())
	return err == nil
}

// UsesCCID reports whether a reader selection (Options.Reader) reaches the
// readers directly over USB rather than through pcscd, as it would now.
func UsesCCID(reader string) bool {
	t, _, _ := readerSpec(reader)
	return t == "ccid" || t == "" && !pcscdRunning()
}

// newConnector picks the transport for a reader selection.
func newConnector(reader string) (Connector, error) {
	_, _, port := readerSpec(reader)
	if UsesCCID(reader) {
		return NewCCIDConnector(port), nil
	}
	return newPCSCConnector()
}
