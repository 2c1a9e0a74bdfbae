//go:build scard

package pcsc_test

// The differential test: the same scenario through github.com/ebfe/scard
// (cgo, libpcsclite) and through package pcsc, against the same pcscd.
// Readers, ATRs, states, protocols, APDU responses and error codes must be
// identical. Run with: CGO_ENABLED=1 go test -tags scard ./pcsc/...

import (
	"bytes"
	"errors"
	"os"
	"reflect"
	"testing"
	"time"

	"github.com/ebfe/scard"
	"github.com/keyunlock/keyunlock/card/vpcd"
	"github.com/keyunlock/keyunlock/internal/pcsctest"
	"github.com/keyunlock/keyunlock/pcsc"
)

// code extracts the PC/SC status code of either library's error (0 for nil).
func code(t *testing.T, err error) uint32 {
	t.Helper()
	if err == nil {
		return 0
	}
	var se scard.Error
	if errors.As(err, &se) {
		return uint32(se)
	}
	var pe pcsc.Error
	if errors.As(err, &pe) {
		return uint32(pe)
	}
	t.Fatalf("error without a PC/SC code: %v", err)
	return 0
}

func TestDifferentialAgainstLibpcsclite(t *testing.T) {
	srv := pcsctest.Start(t)
	// libpcsclite reads the socket path from the environment once; it is
	// set before the first context of this process.
	if err := os.Setenv("PCSCLITE_CSOCK_NAME", srv.Socket); err != nil {
		t.Fatal(err)
	}
	fe := srv.InsertCard(t, 0, &vpcd.BasicCard{})

	ref, err := scard.EstablishContext()
	if err != nil {
		t.Fatalf("scard.EstablishContext: %v", err)
	}
	defer ref.Release()
	ours, err := pcsc.EstablishContext()
	if err != nil {
		t.Fatal(err)
	}
	defer ours.Release()

	// Readers.
	refReaders, err1 := ref.ListReaders()
	ourReaders, err2 := ours.ListReaders()
	if err1 != nil || err2 != nil || !reflect.DeepEqual(refReaders, ourReaders) {
		t.Fatalf("ListReaders: libpcsclite %q %v, pcsc %q %v", refReaders, err1, ourReaders, err2)
	}

	// Reader states from an unaware start, then with the state known.
	compareStates := func(what string, cur []scard.StateFlag, timeout time.Duration) {
		t.Helper()
		rrs := make([]scard.ReaderState, len(refReaders))
		ors := make([]pcsc.ReaderState, len(refReaders))
		for i, r := range refReaders {
			rrs[i] = scard.ReaderState{Reader: r, CurrentState: cur[i]}
			ors[i] = pcsc.ReaderState{Reader: r, CurrentState: pcsc.StateFlag(cur[i])}
		}
		e1 := ref.GetStatusChange(rrs, timeout)
		e2 := ours.GetStatusChange(ors, timeout)
		if code(t, e1) != code(t, e2) {
			t.Fatalf("%s: GetStatusChange: libpcsclite %v, pcsc %v", what, e1, e2)
		}
		if e1 != nil {
			return // ebfe/scard leaves the states untouched on errors
		}
		for i := range rrs {
			if uint32(rrs[i].EventState) != uint32(ors[i].EventState) || !bytes.Equal(rrs[i].Atr, ors[i].Atr) {
				t.Errorf("%s: %q: libpcsclite state %#x ATR %X, pcsc state %#x ATR %X", what, rrs[i].Reader,
					rrs[i].EventState, rrs[i].Atr, ors[i].EventState, ors[i].Atr)
			}
			cur[i] = rrs[i].EventState &^ scard.StateChanged
		}
	}
	cur := make([]scard.StateFlag, len(refReaders))
	compareStates("unaware", cur, time.Second)
	compareStates("no change", cur, 200*time.Millisecond)

	// Connect, protocols, status.
	rc, e1 := ref.Connect(refReaders[0], scard.ShareShared, scard.ProtocolAny)
	oc, e2 := ours.Connect(refReaders[0], pcsc.ShareShared, pcsc.ProtocolAny)
	if e1 != nil || e2 != nil {
		t.Fatalf("Connect: libpcsclite %v, pcsc %v", e1, e2)
	}
	if uint32(rc.ActiveProtocol()) != uint32(oc.ActiveProtocol()) {
		t.Fatalf("active protocol: libpcsclite %v, pcsc %v", rc.ActiveProtocol(), oc.ActiveProtocol())
	}
	rs, e1 := rc.Status()
	os_, e2 := oc.Status()
	if e1 != nil || e2 != nil || rs.Reader != os_.Reader || uint32(rs.State) != uint32(os_.State) ||
		uint32(rs.ActiveProtocol) != uint32(os_.ActiveProtocol) || !bytes.Equal(rs.Atr, os_.Atr) {
		t.Fatalf("Status: libpcsclite %+v %v, pcsc %+v %v", rs, e1, os_, e2)
	}

	// APDUs, inside transactions.
	apdus := [][]byte{
		{0x00, 0xA4, 0x04, 0x00, 0x06, 0xD2, 0x76, 0x00, 0x01, 0x24, 0x01},
		{0x00, 0x12, 0x00, 0x00},
		{0x80, 0xCA, 0x00, 0x6E, 0x00},
		{0x00, 0x84, 0x00, 0x00, 0x08},
	}
	for _, c := range []struct {
		name  string
		begin func() error
		end   func() error
		tx    func([]byte) ([]byte, error)
	}{
		{"libpcsclite", rc.BeginTransaction, func() error { return rc.EndTransaction(scard.LeaveCard) }, rc.Transmit},
		{"pcsc", oc.BeginTransaction, func() error { return oc.EndTransaction(pcsc.LeaveCard) }, oc.Transmit},
	} {
		if err := c.begin(); err != nil {
			t.Fatalf("%s: BeginTransaction: %v", c.name, err)
		}
		if err := c.end(); err != nil {
			t.Fatalf("%s: EndTransaction: %v", c.name, err)
		}
	}
	for _, apdu := range apdus {
		r1, e1 := rc.Transmit(apdu)
		r2, e2 := oc.Transmit(apdu)
		if e1 != nil || e2 != nil {
			t.Fatalf("Transmit %X: libpcsclite %v, pcsc %v", apdu, e1, e2)
		}
		if apdu[1] == 0x84 {
			// GET CHALLENGE answers differ by design: compare length and SW.
			if len(r1) != len(r2) || !bytes.Equal(r1[len(r1)-2:], r2[len(r2)-2:]) {
				t.Fatalf("GET CHALLENGE: libpcsclite %X, pcsc %X", r1, r2)
			}
			continue
		}
		if !bytes.Equal(r1, r2) {
			t.Fatalf("Transmit %X: libpcsclite %X, pcsc %X", apdu, r1, r2)
		}
	}
	_, e1 = rc.Control(scard.CtlCode(3400), nil)
	_, e2 = oc.Control(pcsc.FeatureRequest, nil)
	if code(t, e1) != code(t, e2) || e1 == nil {
		t.Fatalf("Control: libpcsclite %v, pcsc %v", e1, e2)
	}

	// Errors: an empty reader, an unknown reader.
	_, e1 = ref.Connect(refReaders[1], scard.ShareShared, scard.ProtocolAny)
	_, e2 = ours.Connect(refReaders[1], pcsc.ShareShared, pcsc.ProtocolAny)
	if code(t, e1) != code(t, e2) || e1 == nil {
		t.Fatalf("Connect to an empty reader: libpcsclite %v, pcsc %v", e1, e2)
	}
	_, e1 = ref.Connect("No Such Reader", scard.ShareShared, scard.ProtocolAny)
	_, e2 = ours.Connect("No Such Reader", pcsc.ShareShared, pcsc.ProtocolAny)
	if code(t, e1) != code(t, e2) || e1 == nil {
		t.Fatalf("Connect to an unknown reader: libpcsclite %v, pcsc %v", e1, e2)
	}

	// Removal: both see the same states, and both card handles are dead.
	fe.Remove()
	if err := srv.WaitPresent(t.Context(), 0, false); err != nil {
		t.Fatal(err)
	}
	compareStates("after removal", cur, time.Second)
	_, e1 = rc.Transmit(apdus[0])
	_, e2 = oc.Transmit(apdus[0])
	if code(t, e1) != code(t, e2) || e1 == nil {
		t.Fatalf("Transmit after removal: libpcsclite %v, pcsc %v", e1, e2)
	}
	e1 = rc.Disconnect(scard.LeaveCard)
	e2 = oc.Disconnect(pcsc.LeaveCard)
	if code(t, e1) != code(t, e2) {
		t.Fatalf("Disconnect after removal: libpcsclite %v, pcsc %v", e1, e2)
	}
	fe.Insert()
	if err := srv.WaitPresent(t.Context(), 0, true); err != nil {
		t.Fatal(err)
	}
	compareStates("after insertion", cur, time.Second)
}
