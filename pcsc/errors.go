package pcsc

import (
	"errors"
	"fmt"
	"os"
	"time"
)

// Error is a PC/SC status code (SCARD_E_* or SCARD_W_*) returned by pcscd or
// by this client.
type Error uint32

// PC/SC status codes, with pcsc-lite's values.
const (
	ErrSuccess                Error = 0x00000000
	ErrInternalError          Error = 0x80100001
	ErrCancelled              Error = 0x80100002
	ErrInvalidHandle          Error = 0x80100003
	ErrInvalidParameter       Error = 0x80100004
	ErrInvalidTarget          Error = 0x80100005
	ErrNoMemory               Error = 0x80100006
	ErrWaitedTooLong          Error = 0x80100007
	ErrInsufficientBuffer     Error = 0x80100008
	ErrUnknownReader          Error = 0x80100009
	ErrTimeout                Error = 0x8010000A
	ErrSharingViolation       Error = 0x8010000B
	ErrNoSmartcard            Error = 0x8010000C
	ErrUnknownCard            Error = 0x8010000D
	ErrCantDispose            Error = 0x8010000E
	ErrProtoMismatch          Error = 0x8010000F
	ErrNotReady               Error = 0x80100010
	ErrInvalidValue           Error = 0x80100011
	ErrSystemCancelled        Error = 0x80100012
	ErrCommError              Error = 0x80100013
	ErrUnknownError           Error = 0x80100014
	ErrInvalidAtr             Error = 0x80100015
	ErrNotTransacted          Error = 0x80100016
	ErrReaderUnavailable      Error = 0x80100017
	ErrShutdown               Error = 0x80100018
	ErrPciTooSmall            Error = 0x80100019
	ErrReaderUnsupported      Error = 0x8010001A
	ErrDuplicateReader        Error = 0x8010001B
	ErrCardUnsupported        Error = 0x8010001C
	ErrNoService              Error = 0x8010001D
	ErrServiceStopped         Error = 0x8010001E
	ErrUnsupportedFeature     Error = 0x8010001F // also SCARD_E_UNEXPECTED in pcsc-lite
	ErrNoReadersAvailable     Error = 0x8010002E
	ErrUnsupportedCard        Error = 0x80100065
	ErrUnresponsiveCard       Error = 0x80100066
	ErrUnpoweredCard          Error = 0x80100067
	ErrResetCard              Error = 0x80100068
	ErrRemovedCard            Error = 0x80100069
	ErrSecurityViolation      Error = 0x8010006A
	ErrWrongChv               Error = 0x8010006B
	ErrChvBlocked             Error = 0x8010006C
	ErrEOF                    Error = 0x8010006D
	ErrCancelledByUser        Error = 0x8010006E
	ErrCardNotAuthenticated   Error = 0x8010006F
	ErrCacheItemNotFound      Error = 0x80100070
	ErrCacheItemStale         Error = 0x80100071
	ErrCacheItemTooBig        Error = 0x80100072
	ErrNoKeyContainer         Error = 0x80100030
	ErrServerTooBusy          Error = 0x80100031
	ErrIccInstallation        Error = 0x80100020
	ErrIccCreateorder         Error = 0x80100021
	ErrDirNotFound            Error = 0x80100023
	ErrFileNotFound           Error = 0x80100024
	ErrNoDir                  Error = 0x80100025
	ErrNoFile                 Error = 0x80100026
	ErrNoAccess               Error = 0x80100027
	ErrWriteTooMany           Error = 0x80100028
	ErrBadSeek                Error = 0x80100029
	ErrInvalidChv             Error = 0x8010002A
	ErrUnknownResMng          Error = 0x8010002B
	ErrNoSuchCertificate      Error = 0x8010002C
	ErrCertificateUnavailable Error = 0x8010002D
	ErrCommDataLost           Error = 0x8010002F
)

var errorText = map[Error]string{
	ErrSuccess:                "success",
	ErrInternalError:          "internal error in pcscd",
	ErrCancelled:              "the wait was cancelled",
	ErrInvalidHandle:          "invalid context or card handle (stale, or from another connection)",
	ErrInvalidParameter:       "invalid parameter",
	ErrInvalidTarget:          "invalid target",
	ErrNoMemory:               "pcscd is out of memory",
	ErrWaitedTooLong:          "waited too long",
	ErrInsufficientBuffer:     "the card's response does not fit the receive buffer",
	ErrUnknownReader:          "unknown reader (it was removed, or the name is wrong)",
	ErrTimeout:                "timed out",
	ErrSharingViolation:       "the card is in use by another process (another connection holds it exclusively or in a transaction)",
	ErrNoSmartcard:            "no card in the reader",
	ErrUnknownCard:            "unknown card",
	ErrCantDispose:            "cannot dispose of the card",
	ErrProtoMismatch:          "the requested protocol is not the card's active protocol",
	ErrNotReady:               "the reader or card is not ready",
	ErrInvalidValue:           "invalid value",
	ErrSystemCancelled:        "cancelled by the system",
	ErrCommError:              "communication error with the reader",
	ErrUnknownError:           "unknown error",
	ErrInvalidAtr:             "invalid ATR",
	ErrNotTransacted:          "the operation was not carried out (no transaction, or the reader failed)",
	ErrReaderUnavailable:      "the reader is unavailable",
	ErrShutdown:               "the operation was aborted because pcscd is shutting down",
	ErrPciTooSmall:            "the PCI receive buffer is too small",
	ErrReaderUnsupported:      "the reader driver does not support this reader",
	ErrDuplicateReader:        "duplicate reader",
	ErrCardUnsupported:        "the card is not supported",
	ErrNoService:              "pcscd is not running",
	ErrServiceStopped:         "pcscd stopped, or speaks an incompatible protocol version",
	ErrUnsupportedFeature:     "the reader driver does not support this feature",
	ErrNoReadersAvailable:     "no smart card reader is available",
	ErrUnsupportedCard:        "the card is not supported",
	ErrUnresponsiveCard:       "the card does not respond to reset",
	ErrUnpoweredCard:          "the card is not powered",
	ErrResetCard:              "the card was reset by another process: reconnect and select the application again",
	ErrRemovedCard:            "the card was removed: connect again",
	ErrSecurityViolation:      "security violation",
	ErrWrongChv:               "wrong PIN",
	ErrChvBlocked:             "PIN blocked",
	ErrEOF:                    "end of file",
	ErrCancelledByUser:        "cancelled by the user",
	ErrCardNotAuthenticated:   "the card is not authenticated",
	ErrCacheItemNotFound:      "cache item not found",
	ErrCacheItemStale:         "cache item stale",
	ErrCacheItemTooBig:        "cache item too big",
	ErrNoKeyContainer:         "no key container",
	ErrServerTooBusy:          "pcscd is too busy",
	ErrIccInstallation:        "no primary provider for the card",
	ErrIccCreateorder:         "the requested creation order is not supported",
	ErrDirNotFound:            "directory not found on the card",
	ErrFileNotFound:           "file not found on the card",
	ErrNoDir:                  "not a directory",
	ErrNoFile:                 "not a file",
	ErrNoAccess:               "access denied",
	ErrWriteTooMany:           "the card is full",
	ErrBadSeek:                "bad seek",
	ErrInvalidChv:             "invalid PIN",
	ErrUnknownResMng:          "unknown resource manager error",
	ErrNoSuchCertificate:      "no such certificate",
	ErrCertificateUnavailable: "certificate unavailable",
	ErrCommDataLost:           "communication data lost",
}

var errorName = map[Error]string{
	ErrSuccess: "SCARD_S_SUCCESS", ErrInternalError: "SCARD_F_INTERNAL_ERROR", ErrCancelled: "SCARD_E_CANCELLED",
	ErrInvalidHandle: "SCARD_E_INVALID_HANDLE", ErrInvalidParameter: "SCARD_E_INVALID_PARAMETER",
	ErrInvalidTarget: "SCARD_E_INVALID_TARGET", ErrNoMemory: "SCARD_E_NO_MEMORY", ErrWaitedTooLong: "SCARD_F_WAITED_TOO_LONG",
	ErrInsufficientBuffer: "SCARD_E_INSUFFICIENT_BUFFER", ErrUnknownReader: "SCARD_E_UNKNOWN_READER",
	ErrTimeout: "SCARD_E_TIMEOUT", ErrSharingViolation: "SCARD_E_SHARING_VIOLATION", ErrNoSmartcard: "SCARD_E_NO_SMARTCARD",
	ErrUnknownCard: "SCARD_E_UNKNOWN_CARD", ErrCantDispose: "SCARD_E_CANT_DISPOSE", ErrProtoMismatch: "SCARD_E_PROTO_MISMATCH",
	ErrNotReady: "SCARD_E_NOT_READY", ErrInvalidValue: "SCARD_E_INVALID_VALUE", ErrSystemCancelled: "SCARD_E_SYSTEM_CANCELLED",
	ErrCommError: "SCARD_F_COMM_ERROR", ErrUnknownError: "SCARD_F_UNKNOWN_ERROR", ErrInvalidAtr: "SCARD_E_INVALID_ATR",
	ErrNotTransacted: "SCARD_E_NOT_TRANSACTED", ErrReaderUnavailable: "SCARD_E_READER_UNAVAILABLE",
	ErrShutdown: "SCARD_P_SHUTDOWN", ErrPciTooSmall: "SCARD_E_PCI_TOO_SMALL", ErrReaderUnsupported: "SCARD_E_READER_UNSUPPORTED",
	ErrDuplicateReader: "SCARD_E_DUPLICATE_READER", ErrCardUnsupported: "SCARD_E_CARD_UNSUPPORTED",
	ErrNoService: "SCARD_E_NO_SERVICE", ErrServiceStopped: "SCARD_E_SERVICE_STOPPED",
	ErrUnsupportedFeature: "SCARD_E_UNSUPPORTED_FEATURE", ErrNoReadersAvailable: "SCARD_E_NO_READERS_AVAILABLE",
	ErrUnsupportedCard: "SCARD_W_UNSUPPORTED_CARD", ErrUnresponsiveCard: "SCARD_W_UNRESPONSIVE_CARD",
	ErrUnpoweredCard: "SCARD_W_UNPOWERED_CARD", ErrResetCard: "SCARD_W_RESET_CARD", ErrRemovedCard: "SCARD_W_REMOVED_CARD",
	ErrSecurityViolation: "SCARD_W_SECURITY_VIOLATION", ErrWrongChv: "SCARD_W_WRONG_CHV", ErrChvBlocked: "SCARD_W_CHV_BLOCKED",
	ErrEOF: "SCARD_W_EOF", ErrCancelledByUser: "SCARD_W_CANCELLED_BY_USER", ErrCardNotAuthenticated: "SCARD_W_CARD_NOT_AUTHENTICATED",
	ErrCacheItemNotFound: "SCARD_W_CACHE_ITEM_NOT_FOUND", ErrCacheItemStale: "SCARD_W_CACHE_ITEM_STALE",
	ErrCacheItemTooBig: "SCARD_W_CACHE_ITEM_TOO_BIG", ErrNoKeyContainer: "SCARD_E_NO_KEY_CONTAINER",
	ErrServerTooBusy: "SCARD_E_SERVER_TOO_BUSY", ErrIccInstallation: "SCARD_E_ICC_INSTALLATION",
	ErrIccCreateorder: "SCARD_E_ICC_CREATEORDER", ErrDirNotFound: "SCARD_E_DIR_NOT_FOUND", ErrFileNotFound: "SCARD_E_FILE_NOT_FOUND",
	ErrNoDir: "SCARD_E_NO_DIR", ErrNoFile: "SCARD_E_NO_FILE", ErrNoAccess: "SCARD_E_NO_ACCESS", ErrWriteTooMany: "SCARD_E_WRITE_TOO_MANY",
	ErrBadSeek: "SCARD_E_BAD_SEEK", ErrInvalidChv: "SCARD_E_INVALID_CHV", ErrUnknownResMng: "SCARD_E_UNKNOWN_RES_MNG",
	ErrNoSuchCertificate: "SCARD_E_NO_SUCH_CERTIFICATE", ErrCertificateUnavailable: "SCARD_E_CERTIFICATE_UNAVAILABLE",
	ErrCommDataLost: "SCARD_E_COMM_DATA_LOST",
}

// Error returns the code's name, value and meaning, for example
// "SCARD_E_SHARING_VIOLATION (0x8010000B): the card is in use by another process …".
func (e Error) Error() string {
	name, ok := errorName[e]
	if !ok {
		return fmt.Sprintf("PC/SC error 0x%08X", uint32(e))
	}
	return fmt.Sprintf("%s (0x%08X): %s", name, uint32(e), errorText[e])
}

// Name returns the code's symbolic name, such as "SCARD_W_REMOVED_CARD", or
// its hex value when unknown.
func (e Error) Name() string {
	if name, ok := errorName[e]; ok {
		return name
	}
	return fmt.Sprintf("0x%08X", uint32(e))
}

// code turns a reply's rv into an error (nil for SCARD_S_SUCCESS).
func code(rv uint32) error {
	if rv == 0 {
		return nil
	}
	return Error(rv)
}

// ServiceError reports that pcscd could not be reached, went away, or did not
// answer in time. It matches ErrNoService with errors.Is, and also the
// underlying cause (os.ErrDeadlineExceeded for a deadline, io.EOF for a
// closed connection…).
type ServiceError struct {
	Path string        // the socket path
	Op   string        // the operation, such as "CONNECT"
	Err  error         // the cause
	Wait time.Duration // the deadline that expired, if any
}

// Error says what happened to pcscd and what to check.
func (e *ServiceError) Error() string {
	switch {
	case errors.Is(e.Err, os.ErrDeadlineExceeded):
		if e.Op == "CONNECT" {
			// pcscd holds a CONNECT back while another connection keeps
			// the card in a transaction.
			return fmt.Sprintf("pcscd at %s did not answer CONNECT within %v (does another program, such as scdaemon, keep the card busy? or is pcscd hung?)", e.Path, e.Wait)
		}
		return fmt.Sprintf("pcscd at %s did not answer %s within %v (is it hung?)", e.Path, e.Op, e.Wait)
	case e.Op == "dial":
		return fmt.Sprintf("pcscd is not running at %s (start pcscd, or set PCSCLITE_CSOCK_NAME to its socket): %v", e.Path, e.Err)
	case e.Op == "CMD_VERSION":
		// pcscd 2.x closes the connection at once when polkit denies it, or
		// when polkitd cannot be reached.
		return fmt.Sprintf("pcscd at %s closed the connection at %s (polkit refused access? in an initrd, start pcscd 2.x with --disable-polkit): %v", e.Path, e.Op, e.Err)
	default:
		return fmt.Sprintf("pcscd at %s went away during %s (was it stopped, or did it crash?): %v", e.Path, e.Op, e.Err)
	}
}

// Unwrap returns the cause.
func (e *ServiceError) Unwrap() error { return e.Err }

// Is reports whether target is ErrNoService.
func (e *ServiceError) Is(target error) bool { return target == ErrNoService }
