package iso7816

import (
	"errors"
	"fmt"
)

// Status words the OpenPGP card application and its clients care about.
const (
	SWOK                   uint16 = 0x9000
	SWFileInvalid          uint16 = 0x6283 // selected file invalidated (terminated application)
	SWFileTerminated       uint16 = 0x6285
	SWMemoryFailure        uint16 = 0x6581
	SWTouchTimeout         uint16 = 0x6600 // security issue; Gnuk-style tokens: no touch in time
	SWWrongLength          uint16 = 0x6700
	SWSMUnsupported        uint16 = 0x6882
	SWLastCommandExpected  uint16 = 0x6883 // command chaining: last command of the chain expected
	SWChainingUnsupported  uint16 = 0x6884
	SWSecurityStatus       uint16 = 0x6982 // wrong PIN, PIN not verified, or touch missing
	SWAuthBlocked          uint16 = 0x6983 // PIN blocked
	SWConditionsNotMet     uint16 = 0x6985
	SWWrongData            uint16 = 0x6A80
	SWFuncNotSupported     uint16 = 0x6A81
	SWNotFound             uint16 = 0x6A82 // file or application not found
	SWRecordNotFound       uint16 = 0x6A83
	SWWrongP1P2            uint16 = 0x6B00
	SWRefDataNotFound      uint16 = 0x6A88 // referenced data (key, DO) not found
	SWINSNotSupported      uint16 = 0x6D00
	SWCLANotSupported      uint16 = 0x6E00
	SWOldCardLargeKeyError uint16 = 0x640A
)

var swNames = map[uint16]string{
	SWFileInvalid:          "selected file invalidated",
	SWFileTerminated:       "application terminated",
	SWMemoryFailure:        "card memory failure",
	SWTouchTimeout:         "security issue or touch timeout",
	SWWrongLength:          "wrong length",
	SWSMUnsupported:        "secure messaging not supported",
	SWLastCommandExpected:  "last command of the chain expected",
	SWChainingUnsupported:  "command chaining not supported",
	SWSecurityStatus:       "security status not satisfied (wrong PIN, PIN not verified, or no touch)",
	SWAuthBlocked:          "PIN blocked",
	SWConditionsNotMet:     "conditions of use not satisfied",
	SWWrongData:            "wrong data",
	SWFuncNotSupported:     "function not supported",
	SWNotFound:             "file or application not found",
	SWRecordNotFound:       "record not found",
	SWWrongP1P2:            "wrong P1/P2",
	SWRefDataNotFound:      "referenced data or key not found",
	SWINSNotSupported:      "instruction not supported",
	SWCLANotSupported:      "class not supported",
	SWOldCardLargeKeyError: "card cannot use keys larger than 2048 bits",
}

// StatusError is a status word other than 9000 (and other than the 61xx
// and 6Cxx that the Client handles itself).
type StatusError struct {
	SW uint16
}

// Error names the status word.
func (e *StatusError) Error() string {
	if n, ok := e.TriesLeft(); ok {
		return fmt.Sprintf("card status %04X: wrong PIN, %d tries left", e.SW, n)
	}
	if s, ok := swNames[e.SW]; ok {
		return fmt.Sprintf("card status %04X: %s", e.SW, s)
	}
	return fmt.Sprintf("card status %04X", e.SW)
}

// TriesLeft decodes the 63Cx form (wrong PIN, x tries left).
func (e *StatusError) TriesLeft() (int, bool) {
	if e.SW&0xFFF0 == 0x63C0 {
		return int(e.SW & 0x0F), true
	}
	return 0, false
}

// SW returns the status word carried by err, or 0 when err is not a StatusError.
func SW(err error) uint16 {
	var se *StatusError
	if errors.As(err, &se) {
		return se.SW
	}
	return 0
}

// IsSW reports whether err carries one of the status words.
func IsSW(err error, sws ...uint16) bool {
	sw := SW(err)
	for _, s := range sws {
		if sw == s && sw != 0 {
			return true
		}
	}
	return false
}
