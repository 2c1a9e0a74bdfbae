package pcsc_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/keyunlock/keyunlock/card/vpcd"
	"github.com/keyunlock/keyunlock/internal/pcsctest"
	"github.com/keyunlock/keyunlock/pcsc"
)

var selectOpenPGP = []byte{0x00, 0xA4, 0x04, 0x00, 0x06, 0xD2, 0x76, 0x00, 0x01, 0x24, 0x01}

func establish(t *testing.T, srv *pcsctest.Server, opts ...pcsc.Option) *pcsc.Context {
	t.Helper()
	ctx, err := pcsc.EstablishContext(append([]pcsc.Option{pcsc.WithSocket(srv.Socket)}, opts...)...)
	if err != nil {
		t.Fatalf("EstablishContext: %v", err)
	}
	t.Cleanup(func() { ctx.Release() })
	return ctx
}

func TestReadersAndStates(t *testing.T) {
	srv := pcsctest.Start(t)
	srv.InsertCard(t, 1, &vpcd.BasicCard{})
	ctx := establish(t, srv)
	if major, minor := ctx.Version(); major != 4 || minor != 4 {
		t.Fatalf("negotiated %d.%d with pcscd 1.9.9, want 4.4", major, minor)
	}
	names, err := ctx.ListReaders()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(names, "|") != strings.Join(srv.Readers[:], "|") {
		t.Fatalf("ListReaders = %q, want %q", names, srv.Readers)
	}
	for _, n := range names {
		if strings.ContainsRune(n, 0) {
			t.Fatalf("reader name %q contains NUL", n)
		}
	}
	states, err := ctx.ReaderStatuses()
	if err != nil {
		t.Fatal(err)
	}
	if len(states) != 2 || states[0].CardPresent() || states[0].State != pcsc.Absent {
		t.Fatalf("slot 0: %+v, want an empty reader", states)
	}
	s := states[1]
	if !s.CardPresent() || s.State&pcsc.Powered == 0 || !bytes.Equal(s.ATR, vpcd.BasicATR) || s.EventCounter == 0 || s.InUse() {
		t.Fatalf("slot 1: %+v, want a powered card with ATR %X", s, vpcd.BasicATR)
	}
}

func TestConnectTransmitStatus(t *testing.T) {
	srv := pcsctest.Start(t)
	card := &vpcd.BasicCard{}
	srv.InsertCard(t, 0, card)
	ctx := establish(t, srv)
	c, err := ctx.Connect(srv.Readers[0], pcsc.ShareShared, pcsc.ProtocolAny)
	if err != nil {
		t.Fatal(err)
	}
	if c.ActiveProtocol() != pcsc.ProtocolT1 {
		t.Fatalf("active protocol %v, want T=1 (vpcd always reports T=1)", c.ActiveProtocol())
	}
	resp, err := c.Transmit(selectOpenPGP)
	if err != nil || !bytes.Equal(resp, []byte{0x90, 0x00}) {
		t.Fatalf("SELECT: %X, %v", resp, err)
	}
	resp, err = c.Transmit([]byte{0x00, 0x12, 0x00, 0x00})
	if err != nil || !bytes.Equal(resp, []byte{0x6D, 0x00}) {
		t.Fatalf("unknown INS: %X, %v", resp, err)
	}
	// The largest response vpcd can carry: 65533 data bytes + SW.
	resp, err = c.Transmit([]byte{0x00, 0x84, 0x00, 0x00, 0x00, 0xFF, 0xFD})
	if err != nil || len(resp) != 0xFFFF || !bytes.Equal(resp[len(resp)-2:], []byte{0x90, 0x00}) {
		t.Fatalf("long GET CHALLENGE: %d bytes, %v", len(resp), err)
	}
	st, err := c.Status()
	if err != nil {
		t.Fatal(err)
	}
	if st.Reader != srv.Readers[0] || !bytes.Equal(st.Atr, vpcd.BasicATR) || st.ActiveProtocol != pcsc.ProtocolT1 || st.State&pcsc.Present == 0 {
		t.Fatalf("Status = %+v", st)
	}
	states, _ := ctx.ReaderStatuses()
	if !states[0].InUse() || states[0].Exclusive() {
		t.Fatalf("reader state while connected shared: %+v", states[0])
	}
	// vpcd has no IFDHControl: pcscd answers SCARD_E_UNSUPPORTED_FEATURE.
	if _, err := c.Control(pcsc.FeatureRequest, nil); !errors.Is(err, pcsc.ErrUnsupportedFeature) {
		t.Fatalf("Control(GET_FEATURE_REQUEST) = %v, want ErrUnsupportedFeature", err)
	}
	if err := c.Disconnect(pcsc.LeaveCard); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Transmit(selectOpenPGP); !errors.Is(err, pcsc.ErrInvalidHandle) {
		t.Fatalf("Transmit after Disconnect = %v, want ErrInvalidHandle", err)
	}
	if _, err := ctx.Connect("No Such Reader", pcsc.ShareShared, pcsc.ProtocolAny); !errors.Is(err, pcsc.ErrUnknownReader) {
		t.Fatalf("Connect to a missing reader = %v, want ErrUnknownReader", err)
	}
	if _, err := ctx.Connect(srv.Readers[1], pcsc.ShareShared, pcsc.ProtocolAny); !errors.Is(err, pcsc.ErrNoSmartcard) {
		t.Fatalf("Connect to an empty reader = %v, want ErrNoSmartcard", err)
	}
}

func TestTransactionsAndSharing(t *testing.T) {
	srv := pcsctest.Start(t)
	srv.InsertCard(t, 0, &vpcd.BasicCard{})
	ctx1 := establish(t, srv)
	ctx2 := establish(t, srv, pcsc.WithSharingTimeout(300*time.Millisecond))
	c1, err := ctx1.Connect(srv.Readers[0], pcsc.ShareShared, pcsc.ProtocolT1)
	if err != nil {
		t.Fatal(err)
	}
	c2, err := ctx2.Connect(srv.Readers[0], pcsc.ShareShared, pcsc.ProtocolT1)
	if err != nil {
		t.Fatal(err)
	}
	// pcscd holds back a CONNECT while another connection is in a
	// transaction, so connect the third client first.
	ctx3 := establish(t, srv, pcsc.WithSharingTimeout(5*time.Second))
	c3, err := ctx3.Connect(srv.Readers[0], pcsc.ShareShared, pcsc.ProtocolT1)
	if err != nil {
		t.Fatal(err)
	}
	if err := c1.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	if resp, err := c1.Transmit(selectOpenPGP); err != nil || !bytes.Equal(resp, []byte{0x90, 0x00}) {
		t.Fatalf("SELECT in transaction: %X %v", resp, err)
	}
	start := time.Now()
	if err := c2.BeginTransaction(); !errors.Is(err, pcsc.ErrSharingViolation) {
		t.Fatalf("second BeginTransaction = %v, want ErrSharingViolation", err)
	}
	if d := time.Since(start); d < 200*time.Millisecond {
		t.Fatalf("sharing violation returned after %v: not retried", d)
	}
	if _, err := c2.Transmit(selectOpenPGP); !errors.Is(err, pcsc.ErrSharingViolation) {
		t.Fatalf("Transmit during another's transaction = %v, want ErrSharingViolation", err)
	}
	// Ending the transaction while c2 retries lets c2 in.
	done := make(chan error, 1)
	go func() { done <- c3.BeginTransaction() }()
	time.Sleep(250 * time.Millisecond)
	if err := c1.EndTransaction(pcsc.LeaveCard); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatalf("BeginTransaction after the other ended: %v", err)
	}
	if err := c3.EndTransaction(pcsc.LeaveCard); err != nil {
		t.Fatal(err)
	}
	if err := c1.EndTransaction(pcsc.LeaveCard); !errors.Is(err, pcsc.ErrNotTransacted) {
		t.Fatalf("EndTransaction without Begin = %v, want ErrNotTransacted", err)
	}
	// An exclusive connection is refused while others are connected.
	if _, err := ctx2.Connect(srv.Readers[0], pcsc.ShareExclusive, pcsc.ProtocolT1); !errors.Is(err, pcsc.ErrSharingViolation) {
		t.Fatalf("exclusive Connect while shared = %v, want ErrSharingViolation", err)
	}
}

func TestResetAndReconnect(t *testing.T) {
	srv := pcsctest.Start(t)
	card := &vpcd.BasicCard{}
	srv.InsertCard(t, 0, card)
	ctx1, ctx2 := establish(t, srv), establish(t, srv)
	c1, err := ctx1.Connect(srv.Readers[0], pcsc.ShareShared, pcsc.ProtocolAny)
	if err != nil {
		t.Fatal(err)
	}
	c2, err := ctx2.Connect(srv.Readers[0], pcsc.ShareShared, pcsc.ProtocolAny)
	if err != nil {
		t.Fatal(err)
	}
	resets := card.Resets()
	if err := c2.Disconnect(pcsc.ResetCard); err != nil {
		t.Fatal(err)
	}
	if card.Resets() <= resets {
		t.Fatalf("the card saw no reset (%d before, %d after)", resets, card.Resets())
	}
	if _, err := c1.Transmit(selectOpenPGP); !errors.Is(err, pcsc.ErrResetCard) {
		t.Fatalf("Transmit after another reset the card = %v, want ErrResetCard", err)
	}
	if err := c1.Reconnect(pcsc.ShareShared, pcsc.ProtocolAny, pcsc.LeaveCard); err != nil {
		t.Fatal(err)
	}
	if c1.ActiveProtocol() != pcsc.ProtocolT1 {
		t.Fatalf("protocol after Reconnect: %v", c1.ActiveProtocol())
	}
	if resp, err := c1.Transmit(selectOpenPGP); err != nil || !bytes.Equal(resp, []byte{0x90, 0x00}) {
		t.Fatalf("SELECT after Reconnect: %X %v", resp, err)
	}
	resets = card.Resets()
	if err := c1.Reconnect(pcsc.ShareExclusive, pcsc.ProtocolT1, pcsc.ResetCard); err != nil {
		t.Fatal(err)
	}
	if card.Resets() <= resets {
		t.Fatal("Reconnect with ResetCard did not reset the card")
	}
	states, _ := ctx2.ReaderStatuses()
	if !states[0].Exclusive() {
		t.Fatalf("after exclusive Reconnect the reader shows sharing %d", states[0].Sharing)
	}
}

// waitChange runs GetStatusChange on one reader and returns how long it took.
func waitChange(t *testing.T, ctx *pcsc.Context, rs []pcsc.ReaderState, timeout time.Duration) (time.Duration, error) {
	t.Helper()
	start := time.Now()
	err := ctx.GetStatusChange(rs, timeout)
	return time.Since(start), err
}

func TestWaitRemovalAndInsertion(t *testing.T) {
	srv := pcsctest.Start(t)
	fe := srv.InsertCard(t, 0, &vpcd.BasicCard{})
	ctx := establish(t, srv)
	rs := []pcsc.ReaderState{{Reader: srv.Readers[0], CurrentState: pcsc.StateUnaware}}
	if _, err := waitChange(t, ctx, rs, time.Second); err != nil {
		t.Fatal(err)
	}
	ev := rs[0].EventState
	if ev&pcsc.StatePresent == 0 || ev&pcsc.StateChanged == 0 || !bytes.Equal(rs[0].Atr, vpcd.BasicATR) || ev.EventCount() == 0 {
		t.Fatalf("initial state %#x ATR %X", ev, rs[0].Atr)
	}

	// Nothing changes: the wait times out, even though another client
	// connecting and disconnecting makes pcscd signal (spurious events).
	rs[0].CurrentState = ev &^ pcsc.StateChanged
	other := establish(t, srv)
	go func() {
		time.Sleep(100 * time.Millisecond)
		if c, err := other.Connect(srv.Readers[0], pcsc.ShareShared, pcsc.ProtocolAny); err == nil {
			time.Sleep(100 * time.Millisecond)
			c.Disconnect(pcsc.LeaveCard)
		}
	}()
	if d, err := waitChange(t, ctx, rs, 800*time.Millisecond); !errors.Is(err, pcsc.ErrTimeout) {
		t.Fatalf("wait without a change returned %v after %v (state %#x), want ErrTimeout", err, d, rs[0].EventState)
	}

	// Removal is seen within a second.
	fe.Remove()
	d, err := waitChange(t, ctx, rs, time.Second)
	if err != nil {
		t.Fatalf("removal not seen within 1s: %v", err)
	}
	ev = rs[0].EventState
	if ev&pcsc.StateEmpty == 0 || ev&pcsc.StateChanged == 0 || rs[0].Atr != nil {
		t.Fatalf("after removal: state %#x ATR %X", ev, rs[0].Atr)
	}
	t.Logf("removal seen after %v", d)

	// Insertion is seen within a second, with the ATR.
	rs[0].CurrentState = ev &^ pcsc.StateChanged
	fe.Insert()
	d, err = waitChange(t, ctx, rs, time.Second)
	if err != nil {
		t.Fatalf("insertion not seen within 1s: %v", err)
	}
	ev = rs[0].EventState
	if ev&pcsc.StatePresent == 0 || !bytes.Equal(rs[0].Atr, vpcd.BasicATR) {
		t.Fatalf("after insertion: state %#x ATR %X", ev, rs[0].Atr)
	}
	t.Logf("insertion seen after %v", d)

	// A handle from before the removal is dead.
	c, err := ctx.Connect(srv.Readers[0], pcsc.ShareShared, pcsc.ProtocolAny)
	if err != nil {
		t.Fatal(err)
	}
	fe.Remove()
	if err := srv.WaitPresent(context.Background(), 0, false); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Transmit(selectOpenPGP); !errors.Is(err, pcsc.ErrRemovedCard) {
		t.Fatalf("Transmit after removal = %v, want ErrRemovedCard", err)
	}
	if _, err := c.Status(); !errors.Is(err, pcsc.ErrRemovedCard) {
		t.Fatalf("Status after removal = %v, want ErrRemovedCard", err)
	}
}

func TestWaitUnknownReaderAndPnP(t *testing.T) {
	srv := pcsctest.Start(t)
	ctx := establish(t, srv)
	rs := []pcsc.ReaderState{{Reader: "No Such Reader"}}
	if err := ctx.GetStatusChange(rs, time.Second); !errors.Is(err, pcsc.ErrUnknownReader) {
		t.Fatalf("wait on an unknown reader = %v, want ErrUnknownReader", err)
	}
	rs = []pcsc.ReaderState{{Reader: pcsc.PnPNotification}}
	if err := ctx.GetStatusChange(rs, 300*time.Millisecond); !errors.Is(err, pcsc.ErrTimeout) {
		t.Fatalf("PnP wait without reader changes = %v, want ErrTimeout", err)
	}
	// The context is still usable after the timeout.
	if _, err := ctx.ListReaders(); err != nil {
		t.Fatal(err)
	}
	if err := ctx.GetStatusChange([]pcsc.ReaderState{{Reader: "x", CurrentState: pcsc.StateIgnore}}, -1); err != nil {
		t.Fatalf("all-ignored wait = %v, want nil at once", err)
	}
}

func TestWaitCancel(t *testing.T) {
	srv := pcsctest.Start(t)
	ctx := establish(t, srv)
	rs := []pcsc.ReaderState{{Reader: srv.Readers[0], CurrentState: pcsc.StateEmpty}}
	done := make(chan error, 1)
	go func() { done <- ctx.GetStatusChange(rs, -1) }()
	time.Sleep(200 * time.Millisecond)
	ctx.Cancel()
	select {
	case err := <-done:
		if !errors.Is(err, pcsc.ErrCancelled) {
			t.Fatalf("cancelled wait = %v, want ErrCancelled", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Cancel did not interrupt the wait")
	}
	cctx, cancel := context.WithCancel(context.Background())
	go func() { done <- ctx.GetStatusChangeContext(cctx, rs, -1) }()
	time.Sleep(200 * time.Millisecond)
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("wait with a cancelled context = %v, want context.Canceled", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("context cancel did not interrupt the wait")
	}
	// The socket is in step after both interruptions.
	if names, err := ctx.ListReaders(); err != nil || len(names) != 2 {
		t.Fatalf("ListReaders after cancel: %q %v", names, err)
	}
	// Release interrupts a wait instead of waiting for it.
	go func() { done <- ctx.GetStatusChange(rs, -1) }()
	time.Sleep(200 * time.Millisecond)
	if err := ctx.Release(); err != nil {
		t.Fatalf("Release during a wait: %v", err)
	}
	select {
	case err := <-done:
		if !errors.Is(err, pcsc.ErrCancelled) {
			t.Fatalf("wait interrupted by Release = %v, want ErrCancelled", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Release did not interrupt the wait")
	}
}

func TestPcscdKilled(t *testing.T) {
	srv := pcsctest.Start(t)
	srv.InsertCard(t, 0, &vpcd.BasicCard{})
	ctx := establish(t, srv, pcsc.WithCallTimeout(5*time.Second))
	c, err := ctx.Connect(srv.Readers[0], pcsc.ShareShared, pcsc.ProtocolAny)
	if err != nil {
		t.Fatal(err)
	}
	waiter := establish(t, srv)
	rs := []pcsc.ReaderState{{Reader: srv.Readers[1], CurrentState: pcsc.StateEmpty}}
	waitDone := make(chan error, 1)
	go func() { waitDone <- waiter.GetStatusChange(rs, -1) }()
	time.Sleep(200 * time.Millisecond)

	srv.Kill()
	start := time.Now()
	_, err = c.Transmit(selectOpenPGP)
	if !errors.Is(err, pcsc.ErrNoService) || !strings.Contains(err.Error(), srv.Socket) {
		t.Fatalf("Transmit after pcscd died = %v, want ErrNoService naming %s", err, srv.Socket)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("Transmit took %v to notice", d)
	}
	t.Logf("after kill: %v", err)
	select {
	case err := <-waitDone:
		if !errors.Is(err, pcsc.ErrNoService) {
			t.Fatalf("wait after pcscd died = %v, want ErrNoService", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("GetStatusChange hangs after pcscd died")
	}
	if _, err := ctx.ListReaders(); !errors.Is(err, pcsc.ErrNoService) {
		t.Fatalf("later call = %v, want the same ErrNoService", err)
	}
	_, err = pcsc.EstablishContext(pcsc.WithSocket(srv.Socket))
	if !errors.Is(err, pcsc.ErrNoService) || !strings.Contains(err.Error(), "pcscd is not running at "+srv.Socket) {
		t.Fatalf("EstablishContext with pcscd dead = %v", err)
	}
}

// BenchmarkTransmit measures one SELECT round trip through pcscd and vpcd to
// the virtual card.
func BenchmarkTransmit(b *testing.B) {
	srv := pcsctest.Start(b)
	srv.InsertCard(b, 0, &vpcd.BasicCard{})
	ctx, err := pcsc.EstablishContext(pcsc.WithSocket(srv.Socket))
	if err != nil {
		b.Fatal(err)
	}
	defer ctx.Release()
	c, err := ctx.Connect(srv.Readers[0], pcsc.ShareShared, pcsc.ProtocolAny)
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := c.Transmit(selectOpenPGP); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkEstablishAndList measures what "keyunlock readers" costs:
// connecting, negotiating, establishing a context and reading the states.
func BenchmarkEstablishAndList(b *testing.B) {
	srv := pcsctest.Start(b)
	for i := 0; i < b.N; i++ {
		ctx, err := pcsc.EstablishContext(pcsc.WithSocket(srv.Socket))
		if err != nil {
			b.Fatal(err)
		}
		if _, err := ctx.ReaderStatuses(); err != nil {
			b.Fatal(err)
		}
		ctx.Release()
	}
}
