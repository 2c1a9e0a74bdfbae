package sim

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Quirks selects deviations from the plain OpenPGP card 3.4 behaviour, each
// taken from a real token, so that a client can be tested against them.
// ParseQuirks reads them from a comma list; the names are given with each
// field.
type Quirks struct {
	// NoExtended ("noext"): the card supports no extended Lc/Le (5F52 says
	// so, 7F66 is absent, extended APDUs get 67 00). Long commands must be
	// chained and long answers come in 256-byte pieces with 61 xx.
	NoExtended bool
	// T0 ("t0"): T=0-style answers. Any command that carries data and
	// returns data answers 61 xx (fetch with GET RESPONSE); a command
	// without data whose Le differs from the answer's length gets 6C xx
	// (resend with Le = xx). Implies NoExtended.
	T0 bool
	// Gnuk ("gnuk"): an ECDH PSO:DECIPHER on a NIST or brainpool curve
	// answers the whole point 04‖X‖Y instead of X; a touch timeout answers
	// 66 00.
	Gnuk bool
	// YubiKey ("yubikey"): a VERIFY without data, or with a PIN shorter
	// than the minimum, answers 6A 80; the application data imitates a
	// YubiKey 5 (manufacturer 0006, four fingerprints with the attestation
	// slot, D9/DA, no MSE).
	YubiKey bool
	// PIN63Cx ("pin63cx"): a wrong PIN answers 63 Cx (x tries left)
	// instead of 69 82.
	PIN63Cx bool
	// MaxResponse ("maxresp=N"): the card returns at most N data bytes per
	// response (then 61 xx), whatever Le asks for. 0 = no limit.
	MaxResponse int
	// Touch ("touch=DURATION"): the delay before the simulated user touches
	// the card when a key's UIF (D6–D8) asks for it; "touch=never" means
	// nobody touches and the operation times out after TouchTimeout.
	Touch time.Duration
	// NoTouch: set by "touch=never".
	NoTouch bool
	// TouchTimeout ("touchtimeout=DURATION"): how long the card waits for
	// a touch before answering 69 82 (66 00 with gnuk). Default 2s.
	TouchTimeout time.Duration
	// APDUDelay ("apdudelay=DURATION"): a delay added to every APDU, to
	// make benchmarks see the cost of each round trip (a real card takes a
	// few milliseconds).
	APDUDelay time.Duration
	// KDF ("kdf"): a factory-fresh card has the KDF-DO set up
	// (iterated-salted SHA-256) and its PINs stored as the hashes of the
	// default PINs.
	KDF bool
	// UIF ("uif"): a factory-fresh card has touch (UIF) on for the DEC key.
	UIF bool
	// NoKDF ("nokdf"): the card has no KDF-DO, like an OpenPGP card before
	// version 3.3 or a YubiKey NEO: C0 byte 0 lacks 0x01, and GET DATA or
	// PUT DATA F9 answers 6A 88. Excludes kdf.
	NoKDF bool
}

// ParseQuirks parses a comma-separated list of quirk names:
// noext, t0, gnuk, yubikey, pin63cx, kdf, nokdf, uif, maxresp=N, touch=DURATION
// (or touch=never), touchtimeout=DURATION, apdudelay=DURATION. Durations
// use Go syntax (5ms, 1s). An empty list is no quirk.
func ParseQuirks(list string) (Quirks, error) {
	var q Quirks
	for _, item := range strings.Split(list, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		name, val, hasVal := strings.Cut(item, "=")
		needVal := func() error {
			if !hasVal || val == "" {
				return fmt.Errorf("quirk %q needs a value (%s=...)", name, name)
			}
			return nil
		}
		dur := func() (time.Duration, error) {
			if err := needVal(); err != nil {
				return 0, err
			}
			d, err := time.ParseDuration(val)
			if err != nil || d < 0 {
				return 0, fmt.Errorf("quirk %s: %q is not a duration like 5ms or 1s", name, val)
			}
			return d, nil
		}
		var err error
		switch name {
		case "noext":
			q.NoExtended = true
		case "t0":
			q.T0, q.NoExtended = true, true
		case "gnuk":
			q.Gnuk = true
		case "yubikey":
			q.YubiKey = true
		case "pin63cx":
			q.PIN63Cx = true
		case "kdf":
			q.KDF = true
		case "uif":
			q.UIF = true
		case "nokdf":
			q.NoKDF = true
		case "maxresp":
			if err = needVal(); err == nil {
				q.MaxResponse, err = strconv.Atoi(val)
				if err != nil || q.MaxResponse < 1 || q.MaxResponse > 65536 {
					err = fmt.Errorf("quirk maxresp: %q is not a byte count between 1 and 65536", val)
				}
			}
		case "touch":
			if val == "never" {
				q.NoTouch = true
			} else {
				q.Touch, err = dur()
			}
		case "touchtimeout":
			q.TouchTimeout, err = dur()
		case "apdudelay":
			q.APDUDelay, err = dur()
		default:
			return Quirks{}, fmt.Errorf("unknown card quirk %q (known: noext, t0, gnuk, yubikey, pin63cx, kdf, nokdf, uif, maxresp=N, touch=DURATION|never, touchtimeout=DURATION, apdudelay=DURATION)", name)
		}
		if err != nil {
			return Quirks{}, err
		}
	}
	if q.KDF && q.NoKDF {
		return Quirks{}, fmt.Errorf("card quirks kdf and nokdf exclude each other")
	}
	return q, nil
}

// String gives the quirks back as a list ParseQuirks accepts.
func (q Quirks) String() string {
	var l []string
	add := func(c bool, s string) {
		if c {
			l = append(l, s)
		}
	}
	add(q.NoExtended && !q.T0, "noext")
	add(q.T0, "t0")
	add(q.Gnuk, "gnuk")
	add(q.YubiKey, "yubikey")
	add(q.PIN63Cx, "pin63cx")
	add(q.KDF, "kdf")
	add(q.NoKDF, "nokdf")
	add(q.UIF, "uif")
	add(q.MaxResponse > 0, "maxresp="+strconv.Itoa(q.MaxResponse))
	add(q.NoTouch, "touch=never")
	add(q.Touch > 0 && !q.NoTouch, "touch="+q.Touch.String())
	add(q.TouchTimeout > 0, "touchtimeout="+q.TouchTimeout.String())
	add(q.APDUDelay > 0, "apdudelay="+q.APDUDelay.String())
	return strings.Join(l, ",")
}
