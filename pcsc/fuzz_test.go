package pcsc

import (
	"bytes"
	"io"
	"net"
	"testing"
	"time"
)

// FuzzDecodeReaderStates feeds arbitrary reader-state arrays to the decoder:
// it must not panic, and whatever it accepts must re-encode to the same
// records.
func FuzzDecodeReaderStates(f *testing.F) {
	f.Add(stateArray(16, empty0, present0))
	f.Add(stateArray(2, present0))
	f.Add(encodeReaderState(ReaderStatus{Name: "x", ATR: bytes.Repeat([]byte{0xFF}, 33)}))
	f.Add([]byte{})
	f.Add(make([]byte, readerStateSize-1))
	f.Fuzz(func(t *testing.T, b []byte) {
		states, err := decodeReaderStates(b)
		if err != nil {
			return
		}
		if len(b)%readerStateSize != 0 || len(states) > len(b)/readerStateSize {
			t.Fatalf("accepted %d bytes as %d readers", len(b), len(states))
		}
		for _, s := range states {
			if s.Name == "" || len(s.ATR) > maxATRSize || bytes.IndexByte([]byte(s.Name), 0) >= 0 {
				t.Fatalf("bad record %+v", s)
			}
			again, err := decodeReaderStates(encodeReaderState(s))
			if err != nil || len(again) != 1 || again[0].Name != s.Name || !bytes.Equal(again[0].ATR, s.ATR) ||
				again[0].State != s.State || again[0].EventCounter != s.EventCounter || again[0].Sharing != s.Sharing {
				t.Fatalf("round trip of %+v gave %+v, %v", s, again, err)
			}
		}
	})
}

// FuzzServerReplies plays an arbitrary byte stream as pcscd's replies to a
// client that runs every operation (version negotiation, context, reader
// states, wait, connect, transmit, control, status, attributes,
// transactions). Every reply decoder sees the fuzz data; the client must
// neither panic nor hang.
func FuzzServerReplies(f *testing.F) {
	ok := func(parts ...[]byte) []byte { return concat(parts...) }
	f.Add(ok(fields(4, 4, 0), fields(2, hctx, 0), stateArray(16, present0)))
	f.Add(ok(fields(4, 5, uint32(ErrServiceStopped)), fields(4, 5, 0), fields(2, hctx, 0), fields(3, 0), stateArray(16, present0),
		stateArray(16, empty0), fields(0, 0), stateArray(16, present0), fields(0, 0),
		connectReply("Reader 0", ProtocolT1, 0), concat(fields(hcard, 2, 16, 4, 3, 16, 2, 0), []byte{0x90, 0x00})))
	f.Add(ok(fields(4, 6, 0), fields(2, hctx, 0), fields(1), stateArray(1, present0), fields(1), stateArray(1, present0)))
	f.Add(ok(fields(4, 4, 0), fields(2, hctx, 0), stateArray(16, present0), stateArray(16, present0), fields(0, 0),
		connectReply("Reader 0", ProtocolT1, 0), concat(fields(hcard, 2, 16, 4, 3, 16, 0xFFFFFFFF, 0))))
	atrSettle = time.Millisecond
	f.Fuzz(func(t *testing.T, replies []byte) {
		cli, srv := net.Pipe()
		defer cli.Close()
		go io.Copy(io.Discard, srv)
		go func() {
			srv.Write(replies)
			srv.Close()
		}()
		{
			ctx, err := EstablishContext(func(o *options) { o.dial = func() (conn, error) { return cli, nil } },
				WithCallTimeout(time.Second), WithTransmitTimeout(time.Second), WithSharingTimeout(0))
			if err != nil {
				return
			}
			ctx.ReaderEvents()
			ctx.ListReaders()
			rs := []ReaderState{{Reader: "Reader 0"}, {Reader: PnPNotification, CurrentState: StateEmpty}}
			ctx.GetStatusChange(rs, 20*time.Millisecond)
			card, err := ctx.Connect("Reader 0", ShareShared, ProtocolAny)
			if err != nil {
				return
			}
			card.Transmit([]byte{0x00, 0xA4, 0x04, 0x00})
			card.Control(FeatureRequest, nil)
			card.Status()
			card.GetAttrib(AttrAtrString)
			card.BeginTransaction()
			card.EndTransaction(LeaveCard)
			card.Reconnect(ShareShared, ProtocolAny, LeaveCard)
			card.Disconnect(LeaveCard)
			ctx.Release()
		}
	})
}
