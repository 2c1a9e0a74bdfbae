package pcsc

import "strings"

// Scope is the scope of a context (dwScope). pcscd only checks its range.
type Scope uint32

// Context scopes.
const (
	ScopeUser     Scope = 0
	ScopeTerminal Scope = 1
	ScopeSystem   Scope = 2
	ScopeGlobal   Scope = 3
)

// ShareMode says whether other connections may use the card meanwhile.
type ShareMode uint32

// Share modes.
const (
	ShareExclusive ShareMode = 1
	ShareShared    ShareMode = 2
	ShareDirect    ShareMode = 3
)

// Protocol is a card communication protocol.
type Protocol uint32

// Protocols (pcsc-lite values).
const (
	ProtocolUndefined Protocol = 0
	ProtocolT0        Protocol = 1
	ProtocolT1        Protocol = 2
	ProtocolAny       Protocol = ProtocolT0 | ProtocolT1
	ProtocolRaw       Protocol = 4
)

// String returns "T=0", "T=1", "raw", "T=0|T=1" or "undefined".
func (p Protocol) String() string {
	switch p {
	case ProtocolUndefined:
		return "undefined"
	case ProtocolT0:
		return "T=0"
	case ProtocolT1:
		return "T=1"
	case ProtocolAny:
		return "T=0|T=1"
	case ProtocolRaw:
		return "raw"
	}
	return "protocol(" + itoa(uint32(p)) + ")"
}

// Disposition says what happens to the card when a connection or
// transaction ends.
type Disposition uint32

// Dispositions.
const (
	LeaveCard   Disposition = 0
	ResetCard   Disposition = 1
	UnpowerCard Disposition = 2
	EjectCard   Disposition = 3
)

// State is a reader's state as pcscd keeps it (SCARD_ABSENT, SCARD_PRESENT…),
// returned by Card.Status and ReaderStatus.
type State uint32

// Reader state bits.
const (
	Unknown    State = 0x0001
	Absent     State = 0x0002
	Present    State = 0x0004
	Swallowed  State = 0x0008
	Powered    State = 0x0010
	Negotiable State = 0x0020
	Specific   State = 0x0040
)

// String lists the set bits, such as "present|powered|negotiable". The
// event counter that Card.Status puts in the upper 16 bits is left out.
func (s State) String() string {
	s &= 0xFFFF
	names := []string{"unknown", "absent", "present", "swallowed", "powered", "negotiable", "specific"}
	var parts []string
	for i, n := range names {
		if s&(1<<i) != 0 {
			parts = append(parts, n)
		}
	}
	if rest := s &^ 0x7F; rest != 0 {
		parts = append(parts, "0x"+hex32(uint32(rest)))
	}
	if len(parts) == 0 {
		return "0"
	}
	return strings.Join(parts, "|")
}

// StateFlag is the dwCurrentState/dwEventState of GetStatusChange. The upper
// 16 bits of an event state carry the reader's event counter.
type StateFlag uint32

// GetStatusChange state flags.
const (
	StateUnaware     StateFlag = 0x0000
	StateIgnore      StateFlag = 0x0001
	StateChanged     StateFlag = 0x0002
	StateUnknown     StateFlag = 0x0004
	StateUnavailable StateFlag = 0x0008
	StateEmpty       StateFlag = 0x0010
	StatePresent     StateFlag = 0x0020
	StateAtrmatch    StateFlag = 0x0040
	StateExclusive   StateFlag = 0x0080
	StateInuse       StateFlag = 0x0100
	StateMute        StateFlag = 0x0200
	StateUnpowered   StateFlag = 0x0400
)

// EventCount returns the event counter carried in the upper 16 bits.
func (f StateFlag) EventCount() uint16 { return uint16(f >> 16) }

// PnPNotification is the pseudo reader name whose state changes when a
// reader is added or removed.
const PnPNotification = `\\?PnP?\Notification`

// ReaderState is one entry of a GetStatusChange call: the caller fills
// Reader and CurrentState; GetStatusChange fills EventState and Atr.
type ReaderState struct {
	Reader       string
	UserData     any
	CurrentState StateFlag
	EventState   StateFlag
	Atr          []byte
}

// CardStatus is the result of Card.Status.
type CardStatus struct {
	Reader         string
	State          State
	ActiveProtocol Protocol
	Atr            []byte
}

// ReaderStatus is one reader as pcscd publishes it in its reader-state array.
type ReaderStatus struct {
	Name string
	// EventCounter counts card insertions and removals.
	EventCounter uint32
	State        State
	// Sharing is 0 when no connection uses the card, -1 when one holds it
	// exclusively, otherwise the number of shared connections.
	Sharing  int32
	ATR      []byte
	Protocol Protocol
}

// CardPresent reports whether a card is in the reader.
func (r ReaderStatus) CardPresent() bool { return r.State&Present != 0 }

// InUse reports whether some connection uses the card.
func (r ReaderStatus) InUse() bool { return r.Sharing != 0 }

// Exclusive reports whether a connection holds the card exclusively.
func (r ReaderStatus) Exclusive() bool { return r.Sharing == -1 }

// Attrib identifies a reader attribute for Card.GetAttrib.
type Attrib uint32

// A few reader attributes (pcsc-lite reader.h).
const (
	AttrVendorName         Attrib = 0x00010100
	AttrVendorIfdType      Attrib = 0x00010101
	AttrVendorIfdVersion   Attrib = 0x00010102
	AttrVendorIfdSerialNo  Attrib = 0x00010103
	AttrAtrString          Attrib = 0x00090303
	AttrMaxinput           Attrib = 0x0007A007
	AttrDeviceFriendlyName Attrib = 0x7FFF0003
)

// CtlCode returns SCARD_CTL_CODE(code), the control code for Card.Control.
func CtlCode(code uint32) uint32 { return 0x42000000 + code }

// FeatureRequest is CM_IOCTL_GET_FEATURE_REQUEST: Control with it returns
// the PC/SC part 10 feature list (pin pads and the like).
var FeatureRequest = CtlCode(3400)

func itoa(v uint32) string {
	if v == 0 {
		return "0"
	}
	var b [10]byte
	i := len(b)
	for v > 0 {
		i--
		b[i] = byte('0' + v%10)
		v /= 10
	}
	return string(b[i:])
}

func hex32(v uint32) string {
	const digits = "0123456789ABCDEF"
	var b [8]byte
	for i := 7; i >= 0; i-- {
		b[i] = digits[v&0xF]
		v >>= 4
	}
	return strings.TrimLeft(string(b[:]), "0")
}
