package pcsc

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"testing"
	"time"
)

// A scripted pcscd: each step reads exactly the expected request bytes and
// answers with the given reply bytes. The expected bytes are built from the
// struct layouts of pcsc-lite's winscard_msg.h (REFERENCE.md §1.3).
type step struct {
	expect []byte
	reply  []byte
	pause  time.Duration // before replying; negative: never reply, keep the connection open
}

type fakeServer struct {
	t     *testing.T
	steps []step
	errc  chan error
}

// req is a request as the client must send it: rxHeader{size, cmd}, body,
// payload.
func req(cmd uint32, body []byte, payload ...byte) []byte {
	out := append(header(len(body), cmd), body...)
	return append(out, payload...)
}

func concat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

// startFake returns options that connect EstablishContext to the script.
func startFake(t *testing.T, steps ...step) (*fakeServer, []Option) {
	f := &fakeServer{t: t, steps: steps, errc: make(chan error, 1)}
	cli, srv := net.Pipe()
	go f.run(srv)
	t.Cleanup(func() { cli.Close(); srv.Close() })
	return f, []Option{
		func(o *options) { o.dial = func() (conn, error) { return cli, nil } },
		WithSocket("/fake/pcscd.comm"),
		WithCallTimeout(2 * time.Second),
	}
}

func (f *fakeServer) run(conn net.Conn) {
	for i, s := range f.steps {
		got := make([]byte, len(s.expect))
		if _, err := io.ReadFull(conn, got); err != nil {
			f.errc <- fmt.Errorf("step %d: reading request: %v", i, err)
			return
		}
		if !bytes.Equal(got, s.expect) {
			f.errc <- fmt.Errorf("step %d: request\n got %x\nwant %x", i, got, s.expect)
			conn.Close()
			return
		}
		if s.pause < 0 {
			f.errc <- nil
			return // the test's cleanup closes the connection
		}
		if s.pause > 0 {
			time.Sleep(s.pause)
		}
		if len(s.reply) > 0 {
			if _, err := conn.Write(s.reply); err != nil {
				f.errc <- fmt.Errorf("step %d: writing reply: %v", i, err)
				return
			}
		}
	}
	conn.Close()
	f.errc <- nil
}

// done checks that the client went through the whole script.
func (f *fakeServer) done() {
	f.t.Helper()
	select {
	case err := <-f.errc:
		if err != nil {
			f.t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		f.t.Fatal("the client did not complete the script")
	}
}

const hctx, hcard = 0x1234ABCD, 0x0BADF00D

func versionStep(offer, serverMinor uint32, rv Error) step {
	return step{req(cmdVersion, fields(4, offer, 0)), fields(4, serverMinor, uint32(rv)), 0}
}

var establishStep = step{req(cmdEstablishContext, fields(uint32(ScopeSystem), 0, 0)), fields(uint32(ScopeSystem), hctx, 0), 0}

// stateArray encodes readers into n READER_STATE slots.
func stateArray(n int, readers ...ReaderStatus) []byte {
	out := make([]byte, 0, n*readerStateSize)
	for _, r := range readers {
		out = append(out, encodeReaderState(r)...)
	}
	return append(out, make([]byte, (n-len(readers))*readerStateSize)...)
}

var (
	atr      = []byte{0x3B, 0x80, 0x80, 0x01, 0x01}
	empty0   = ReaderStatus{Name: "Reader 0", EventCounter: 0, State: Absent}
	present0 = ReaderStatus{Name: "Reader 0", EventCounter: 1, State: Present | Powered | Negotiable, ATR: atr, Protocol: ProtocolT1}
)

func connectReq(reader string, mode ShareMode, proto Protocol) []byte {
	name, _ := readerNameField(reader)
	return req(cmdConnect, concat(fields(hctx), name, fields(uint32(mode), uint32(proto), 0, 0, 0)))
}

func connectReply(reader string, active Protocol, rv Error) []byte {
	name, _ := readerNameField(reader)
	return concat(fields(hctx), name, fields(uint32(ShareShared), uint32(ProtocolAny), hcard, uint32(active), uint32(rv)))
}

func TestProtocol45(t *testing.T) {
	apdu := []byte{0x00, 0xA4, 0x04, 0x00}
	f, opts := startFake(t,
		// pcsc-lite 2.3: only 4.5; the client retries on the same socket.
		versionStep(4, 5, ErrServiceStopped),
		versionStep(5, 5, 0),
		establishStep,
		step{req(cmdGetReaderEvents, nil), fields(7, 0), 0},
		step{req(cmdGetReadersState, nil), stateArray(16, empty0), 0},
		// Wait: the array comes with the registration; then an event;
		// re-register; the card is there: unregister.
		step{req(cmdWaitReaderStateChange, nil), stateArray(16, empty0), 0},
		step{nil, fields(0, 0), 50 * time.Millisecond},
		step{req(cmdWaitReaderStateChange, nil), stateArray(16, present0), 0},
		step{req(cmdStopWaiting, nil), fields(0, 0), 0},
		step{connectReq("Reader 0", ShareShared, ProtocolAny), connectReply("Reader 0", ProtocolT1, 0), 0},
		step{req(cmdTransmit, fields(hcard, 2, 16, 4, 3, 16, 65548, 0), apdu...), concat(fields(hcard, 2, 16, 4, 3, 16, 2, 0), []byte{0x90, 0x00}), 0},
		step{req(cmdDisconnect, fields(hcard, uint32(ResetCard), 0)), fields(hcard, uint32(ResetCard), 0), 0},
		step{req(cmdReleaseContext, fields(hctx, 0)), fields(hctx, 0), 0},
	)
	ctx, err := EstablishContext(opts...)
	if err != nil {
		t.Fatal(err)
	}
	if _, minor := ctx.Version(); minor != 5 {
		t.Fatalf("negotiated 4.%d, want 4.5", minor)
	}
	if ev, err := ctx.ReaderEvents(); err != nil || ev != 7 {
		t.Fatalf("ReaderEvents = %d, %v", ev, err)
	}
	if names, err := ctx.ListReaders(); err != nil || len(names) != 1 || names[0] != "Reader 0" {
		t.Fatalf("ListReaders = %q, %v", names, err)
	}
	rs := []ReaderState{{Reader: "Reader 0", CurrentState: StateEmpty}}
	if err := ctx.GetStatusChange(rs, 2*time.Second); err != nil {
		t.Fatal(err)
	}
	if want := StatePresent | StateChanged | 1<<16; rs[0].EventState != want || !bytes.Equal(rs[0].Atr, atr) {
		t.Fatalf("EventState %#x ATR %x, want %#x %x", rs[0].EventState, rs[0].Atr, want, atr)
	}
	card, err := ctx.Connect("Reader 0", ShareShared, ProtocolAny)
	if err != nil {
		t.Fatal(err)
	}
	if resp, err := card.Transmit(apdu); err != nil || !bytes.Equal(resp, []byte{0x90, 0x00}) {
		t.Fatalf("Transmit = %x, %v", resp, err)
	}
	if err := card.Disconnect(ResetCard); err != nil {
		t.Fatal(err)
	}
	if err := ctx.Release(); err != nil {
		t.Fatal(err)
	}
	f.done()
}

func TestProtocol46(t *testing.T) {
	// pcsc-lite 2.5 with 20 readers: more than the fixed array holds.
	var many []ReaderStatus
	for i := 0; i < 20; i++ {
		many = append(many, ReaderStatus{Name: fmt.Sprintf("Reader %d", i), State: Absent})
	}
	after := append([]ReaderStatus(nil), many...)
	after[17] = ReaderStatus{Name: "Reader 17", EventCounter: 1, State: Present | Powered, ATR: atr, Protocol: ProtocolT1}
	arr := func(rs []ReaderStatus) []byte { return stateArray(len(rs), rs...) }
	f, opts := startFake(t,
		versionStep(6, 6, 0),
		establishStep,
		step{req(cmdGetReadersStateSize, nil), fields(20), 0},
		step{req(cmdGetReadersStateArray, nil), arr(many), 0},
		// Wait in 4.6: fetch size and array, then register (no reply);
		// the event; fetch again, register again, changed: unregister.
		step{req(cmdGetReadersStateSize, nil), fields(20), 0},
		step{req(cmdGetReadersStateArray, nil), arr(many), 0},
		step{req(cmdWaitReaderStateChange, nil), fields(0, 0), 50 * time.Millisecond},
		step{req(cmdGetReadersStateSize, nil), fields(20), 0},
		step{req(cmdGetReadersStateArray, nil), arr(after), 0},
		step{req(cmdWaitReaderStateChange, nil), nil, 0},
		step{req(cmdStopWaiting, nil), fields(0, 0), 0},
		step{connectReq("Reader 17", ShareExclusive, ProtocolT1), connectReply("Reader 17", ProtocolT1, 0), 0},
		step{req(cmdStatus, fields(hcard, 0)), fields(hcard, 0), 0},
		step{req(cmdGetReadersStateSize, nil), fields(20), 0},
		step{req(cmdGetReadersStateArray, nil), arr(after), 0},
	)
	ctx, err := EstablishContext(append(opts, WithVersion(6))...)
	if err != nil {
		t.Fatal(err)
	}
	names, err := ctx.ListReaders()
	if err != nil || len(names) != 20 || names[19] != "Reader 19" {
		t.Fatalf("ListReaders = %q, %v", names, err)
	}
	rs := []ReaderState{{Reader: "Reader 17", CurrentState: StateEmpty}, {Reader: "Reader 3", CurrentState: StateEmpty}}
	if err := ctx.GetStatusChange(rs, 2*time.Second); err != nil {
		t.Fatal(err)
	}
	if rs[0].EventState&StateChanged == 0 || rs[0].EventState&StatePresent == 0 || rs[1].EventState&StateChanged != 0 {
		t.Fatalf("EventStates %#x %#x", rs[0].EventState, rs[1].EventState)
	}
	card, err := ctx.Connect("Reader 17", ShareExclusive, ProtocolT1)
	if err != nil {
		t.Fatal(err)
	}
	st, err := card.Status()
	if err != nil || st.Reader != "Reader 17" || !bytes.Equal(st.Atr, atr) || st.ActiveProtocol != ProtocolT1 {
		t.Fatalf("Status = %+v, %v", st, err)
	}
	f.done()
}

func TestNegotiation(t *testing.T) {
	t.Run("offer 4.6 to pcscd 1.9.9", func(t *testing.T) {
		f, opts := startFake(t, versionStep(6, 4, ErrServiceStopped), versionStep(4, 4, 0), establishStep,
			step{req(cmdGetReadersState, nil), stateArray(16, present0), 0})
		ctx, err := EstablishContext(append(opts, WithVersion(6))...)
		if err != nil {
			t.Fatal(err)
		}
		if _, minor := ctx.Version(); minor != 4 {
			t.Fatalf("negotiated 4.%d", minor)
		}
		if _, err := ctx.ReaderEvents(); !errors.Is(err, ErrUnsupportedFeature) {
			t.Fatalf("ReaderEvents on 4.4 = %v", err)
		}
		if _, err := ctx.ListReaders(); err != nil {
			t.Fatal(err)
		}
		f.done()
	})
	t.Run("backward-compatible server reports its own version", func(t *testing.T) {
		// pcsc-lite 2.4.1+ accepts 4.4 but answers with 4.6 and rv 0: the
		// client keeps the 4.4 framing (CMD_GET_READERS_STATE).
		f, opts := startFake(t, versionStep(4, 6, 0), establishStep,
			step{req(cmdGetReadersState, nil), stateArray(16, present0), 0})
		ctx, err := EstablishContext(opts...)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := ctx.ListReaders(); err != nil {
			t.Fatal(err)
		}
		f.done()
	})
	t.Run("incompatible server", func(t *testing.T) {
		_, opts := startFake(t, step{req(cmdVersion, fields(4, 4, 0)), fields(5, 0, uint32(ErrServiceStopped)), 0})
		if _, err := EstablishContext(opts...); err == nil || !bytes.Contains([]byte(err.Error()), []byte("speaks protocol 5.0")) {
			t.Fatalf("EstablishContext = %v", err)
		}
	})
}

func TestDeadlinesAndBrokenStreams(t *testing.T) {
	t.Run("hung pcscd", func(t *testing.T) {
		_, opts := startFake(t, step{req(cmdVersion, fields(4, 4, 0)), nil, -1})
		start := time.Now()
		_, err := EstablishContext(append(opts, WithCallTimeout(100*time.Millisecond))...)
		var se *ServiceError
		if !errors.As(err, &se) || !errors.Is(err, ErrNoService) || !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("EstablishContext against a silent server = %v", err)
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Fatalf("took %v", d)
		}
		t.Log(err)
	})
	t.Run("connection closed mid-reply", func(t *testing.T) {
		_, opts := startFake(t, versionStep(4, 4, 0), establishStep,
			step{req(cmdGetReadersState, nil), stateArray(3), 0})
		ctx, err := EstablishContext(opts...)
		if err != nil {
			t.Fatal(err)
		}
		_, err = ctx.ListReaders()
		if !errors.Is(err, ErrNoService) || !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Fatalf("ListReaders on a cut reply = %v", err)
		}
		if _, err2 := ctx.ReaderStatuses(); err2 != err {
			t.Fatalf("later call = %v, want the first failure again", err2)
		}
	})
	t.Run("transmit error carries no payload", func(t *testing.T) {
		apdu := []byte{0x00, 0xB0, 0x00, 0x00, 0x00}
		f, opts := startFake(t, versionStep(4, 4, 0), establishStep,
			step{connectReq("R", ShareShared, ProtocolT0), connectReply("R", ProtocolT0, 0), 0},
			// T=0 card: the send PCI is T=0.
			step{req(cmdTransmit, fields(hcard, 1, 16, 5, 3, 16, 65548, 0), apdu...), fields(hcard, 1, 16, 5, 3, 16, 0, uint32(ErrInsufficientBuffer)), 0},
			step{req(cmdControl, fields(hcard, FeatureRequest, 2, 65548, 0, 0), 0xAA, 0xBB), concat(fields(hcard, FeatureRequest, 2, 65548, 3, 0), []byte{1, 2, 3}), 0},
			step{req(cmdBeginTransaction, fields(hcard, 0)), fields(hcard, uint32(ErrRemovedCard)), 0},
		)
		ctx, err := EstablishContext(append(opts, WithSharingTimeout(0))...)
		if err != nil {
			t.Fatal(err)
		}
		card, err := ctx.Connect("R", ShareShared, ProtocolT0)
		if err != nil || card.ActiveProtocol() != ProtocolT0 {
			t.Fatalf("Connect: %v %v", card, err)
		}
		if _, err := card.Transmit(apdu); !errors.Is(err, ErrInsufficientBuffer) {
			t.Fatalf("Transmit = %v", err)
		}
		if out, err := card.Control(FeatureRequest, []byte{0xAA, 0xBB}); err != nil || !bytes.Equal(out, []byte{1, 2, 3}) {
			t.Fatalf("Control = %x %v", out, err)
		}
		if err := card.BeginTransaction(); !errors.Is(err, ErrRemovedCard) || err.Error() != ErrRemovedCard.Error() {
			t.Fatalf("BeginTransaction = %v", err)
		}
		f.done()
	})
	t.Run("wait timeout unregisters", func(t *testing.T) {
		// On timeout the client sends CMD_STOP_WAITING and reads exactly
		// one 8-byte message (the acknowledgement, or an event that
		// crossed it: both are wait_reader_state_change).
		f, opts := startFake(t, versionStep(4, 4, 0), establishStep,
			step{req(cmdWaitReaderStateChange, nil), stateArray(16, empty0), 0},
			step{req(cmdStopWaiting, nil), fields(0, 0), 0},
			step{req(cmdGetReadersState, nil), stateArray(16, empty0), 0},
		)
		ctx, err := EstablishContext(opts...)
		if err != nil {
			t.Fatal(err)
		}
		rs := []ReaderState{{Reader: "Reader 0", CurrentState: StateEmpty}}
		if err := ctx.GetStatusChange(rs, 100*time.Millisecond); !errors.Is(err, ErrTimeout) {
			t.Fatalf("GetStatusChange = %v, want ErrTimeout", err)
		}
		if _, err := ctx.ListReaders(); err != nil {
			t.Fatalf("stream out of step after the wait: %v", err)
		}
		f.done()
	})
}

func TestErrorMessages(t *testing.T) {
	if got := ErrSharingViolation.Error(); !bytes.Contains([]byte(got), []byte("SCARD_E_SHARING_VIOLATION (0x8010000B)")) {
		t.Fatalf("message %q", got)
	}
	if got := Error(0x80100099).Error(); got != "PC/SC error 0x80100099" {
		t.Fatalf("unknown code message %q", got)
	}
	for code, name := range errorName {
		if errorText[code] == "" {
			t.Errorf("%s has no text", name)
		}
	}
}

func TestWaitReaderAdded(t *testing.T) {
	reader1 := ReaderStatus{Name: "Reader 1", State: Absent}
	f, opts := startFake(t, versionStep(4, 4, 0), establishStep,
		step{req(cmdWaitReaderStateChange, nil), stateArray(16, empty0), 0},
		// A spurious event (nothing changed), then a reader is plugged in.
		step{nil, fields(0, 0), 30 * time.Millisecond},
		step{req(cmdWaitReaderStateChange, nil), stateArray(16, empty0), 0},
		step{nil, fields(0, 0), 30 * time.Millisecond},
		step{req(cmdWaitReaderStateChange, nil), stateArray(16, empty0, reader1), 0},
		step{req(cmdStopWaiting, nil), fields(0, 0), 0},
	)
	ctx, err := EstablishContext(opts...)
	if err != nil {
		t.Fatal(err)
	}
	rs := []ReaderState{{Reader: PnPNotification}, {Reader: "Reader 0", CurrentState: StateEmpty}}
	if err := ctx.GetStatusChange(rs, 2*time.Second); err != nil {
		t.Fatal(err)
	}
	if rs[0].EventState != StateChanged || rs[1].EventState&StateChanged != 0 {
		t.Fatalf("EventStates %#x %#x, want the PnP entry changed only", rs[0].EventState, rs[1].EventState)
	}
	f.done()
}
