package card

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/keyunlock/keyunlock/core"
	"github.com/keyunlock/keyunlock/pcsc/ccid"
	"github.com/keyunlock/keyunlock/pcsc/ccid/ccidtest"
)

// emuSource offers emulated CCID readers to the ccid connector.
type emuSource struct {
	readers map[string]*ccidtest.Reader // by port
	infos   []ccid.Info
	open    map[string]int // claims held, by port
	opens   int
	lists   int // sysfs scans
}

func newEmuSource() *emuSource {
	return &emuSource{readers: map[string]*ccidtest.Reader{}, open: map[string]int{}}
}

func (s *emuSource) add(port, product string, r *ccidtest.Reader) {
	s.readers[port] = r
	s.infos = append(s.infos, ccid.Info{Port: port, ProductName: product, Desc: r.Descriptor()})
}

func (s *emuSource) List() ([]ccid.Info, error) { s.lists++; return s.infos, nil }

func (s *emuSource) Open(i ccid.Info) (ccidDev, error) {
	if s.open[i.Port] > 0 {
		return nil, fmt.Errorf("%w: reader %s is in use by pcscd or scdaemon", ccid.ErrInUse, i.Name())
	}
	r, err := ccid.NewReader(i.Name(), s.readers[i.Port], i.Desc)
	if err != nil {
		return nil, err
	}
	s.open[i.Port]++
	s.opens++
	return &emuDev{Reader: r, release: func() { s.open[i.Port]-- }}, nil
}

type emuDev struct {
	*ccid.Reader
	release func()
}

func (d *emuDev) Close() error { d.release(); return nil }

func TestDecryptOverCCID(t *testing.T) {
	for _, c := range []struct {
		reader ccid.Descriptor
		kind   string
		quirks string
		algos  []string
	}{
		{ccidtest.QEMU, "QEMU (TPDU T=0)", "t0", []string{"cv25519", "rsa2048", "rsa4096", "nistp521"}},
		{ccidtest.YubiKey, "YubiKey (extended APDU)", "yubikey", []string{"cv25519", "rsa4096"}},
		{ccidtest.Gnuk, "Gnuk (64-byte messages)", "gnuk", []string{"cv25519", "rsa2048", "rsa4096"}},
		// A short-APDU reader with a card that offers extended length: the
		// 513-byte RSA-4096 command must be chained, not extended.
		{ccidtest.NitrokeyStart, "Nitrokey Start (short APDU)", "", []string{"cv25519", "rsa4096"}},
	} {
		for _, algo := range c.algos {
			t.Run(c.kind+"/"+algo, func(t *testing.T) {
				f := newFixture(t, algo, c.quirks)
				src := newEmuSource()
				emu := ccidtest.New(c.reader, f.card)
				src.add("1-2", "Emulated Reader", emu)
				conn := newCCIDConnector(src, "")
				f.conn = nil
				p := core.NewScriptedPrompter("123456")
				b := NewBackend(Options{Connector: conn, Certs: f.cert(t)})
				defer b.Close()
				m, err := core.DecryptMessage(context.Background(), core.NewKeystore(b), strings.NewReader(string(f.msg)), core.DecryptOptions{Prompter: p})
				if err != nil {
					t.Fatal(err)
				}
				if string(m.Plaintext) != plaintext {
					t.Fatalf("plaintext %q", m.Plaintext)
				}
				for _, e := range emu.Errors {
					t.Errorf("reader: %s", e)
				}
				// The reader is released once the backend closes.
				b.Close()
				if src.open["1-2"] != 0 {
					t.Errorf("the reader is still claimed after Close")
				}
			})
		}
	}
}

func TestCCIDConnectorReaders(t *testing.T) {
	f := newFixture(t, "cv25519", "t0")
	src := newEmuSource()
	src.add("1-2", "Empty Reader", ccidtest.New(ccidtest.QEMU, nil))
	full := ccidtest.New(ccidtest.QEMU, f.card)
	src.add("3-1.4", "Full Reader", full)
	unsupported := ccidtest.QEMU
	unsupported.Protocols = 2
	src.add("1-5", "T1 Reader", ccidtest.New(unsupported, f.card))
	src.infos[2].Err = fmt.Errorf("%w: T1 Reader (ccid:1-5) exchanges T=1 TPDUs; use pcscd", ccid.ErrUnsupported)

	ctx := context.Background()
	c := newCCIDConnector(src, "")
	names, err := c.Readers(ctx)
	if err != nil || len(names) != 1 || names[0] != "Full Reader (ccid:3-1.4)" {
		t.Fatalf("Readers = %q, %v", names, err)
	}
	// Listing claims nothing for good.
	for port, n := range src.open {
		if n != 0 {
			t.Errorf("reader %s still claimed after listing", port)
		}
	}
	// ccid:PORT picks one reader.
	if names, err := newCCIDConnector(src, "1-2").Readers(ctx); err != nil || len(names) != 0 {
		t.Errorf("port 1-2: %q, %v", names, err)
	}
	if _, err := newCCIDConnector(src, "1-5").Readers(ctx); !errors.Is(err, ccid.ErrUnsupported) {
		t.Errorf("port 1-5 (unsupported): %v", err)
	}
	// A reader claimed elsewhere gives the in-use error when nothing else works.
	src.open["3-1.4"] = 1
	if _, err := newCCIDConnector(src, "3-1.4").Readers(ctx); !errors.Is(err, ccid.ErrInUse) || !strings.Contains(err.Error(), "pcscd") {
		t.Errorf("reader in use: %v", err)
	}
	src.open["3-1.4"] = 0

	// Removal is seen by Check, and reinsertion too (the card is unpowered).
	// Connect opens the reader as Readers listed it, without a new scan.
	lists := src.lists
	conn, err := c.Connect(ctx, "Full Reader (ccid:3-1.4)")
	if err != nil {
		t.Fatal(err)
	}
	if src.lists != lists {
		t.Errorf("Connect after Readers scanned sysfs %d more times", src.lists-lists)
	}
	if !conn.T0() || len(conn.ATR()) < 2 {
		t.Errorf("T0 %v, ATR % X", conn.T0(), conn.ATR())
	}
	if err := conn.Check(); err != nil {
		t.Fatalf("Check: %v", err)
	}
	// Listing while connected goes through the open connection.
	if names, err := c.Readers(ctx); err != nil || len(names) != 1 {
		t.Fatalf("Readers while connected: %q, %v", names, err)
	}
	// After switch_root sysfs is gone, but the open reader still counts.
	saved := src.infos
	src.infos = nil
	if names, err := c.Readers(ctx); err != nil || len(names) != 1 || names[0] != "Full Reader (ccid:3-1.4)" {
		t.Fatalf("Readers without sysfs while connected: %q, %v", names, err)
	}
	src.infos = saved
	full.Insert(nil)
	if err := conn.Check(); !errors.Is(err, ErrRemoved) {
		t.Errorf("Check after removal: %v", err)
	}
	if _, err := conn.Transmit([]byte{0x00, 0xCA, 0x00, 0x6E, 0x00}); !errors.Is(err, ErrRemoved) {
		t.Errorf("Transmit after removal: %v", err)
	}
	full.Insert(f.card)
	if err := conn.Check(); !errors.Is(err, ErrRemoved) {
		t.Errorf("Check after reinsertion: %v", err)
	}
	conn.Close()
	if src.open["3-1.4"] != 0 {
		t.Errorf("reader still claimed after Close")
	}

	// A listed reader that does not open as listed is looked up again.
	src.open["3-1.4"] = 1
	lists = src.lists
	if _, err := c.Connect(ctx, "Full Reader (ccid:3-1.4)"); !errors.Is(err, ccid.ErrInUse) || src.lists != lists+1 {
		t.Errorf("Connect to a reader in use: %v after %d scans, want ErrInUse after 1", err, src.lists-lists)
	}
	src.open["3-1.4"] = 0
	// Without a listing, Connect looks the reader up; an unknown one is gone.
	fresh := newCCIDConnector(src, "")
	lists = src.lists
	k, err := fresh.Connect(ctx, "Full Reader (ccid:3-1.4)")
	if err != nil || src.lists != lists+1 {
		t.Fatalf("Connect without a listing: %v after %d scans", err, src.lists-lists)
	}
	k.Close()
	if _, err := fresh.Connect(ctx, "Gone Reader (ccid:9-9)"); !errors.Is(err, ErrRemoved) {
		t.Errorf("Connect to an unknown reader: %v, want ErrRemoved", err)
	}
}

func TestReaderSpec(t *testing.T) {
	for _, c := range []struct{ in, transport, filter, port string }{
		{"", "", "", ""},
		{"Yubico", "", "Yubico", ""},
		{"pcsc:Virtual PCD", "pcsc", "Virtual PCD", ""},
		{"ccid:", "ccid", "", ""},
		{"ccid:1-2.3", "ccid", "", "1-2.3"},
	} {
		tr, f, p := readerSpec(c.in)
		if tr != c.transport || f != c.filter || p != c.port {
			t.Errorf("readerSpec(%q) = %q %q %q", c.in, tr, f, p)
		}
	}
	t.Setenv("PCSCLITE_CSOCK_NAME", t.TempDir()+"/none")
	if !UsesCCID("") || !UsesCCID("Yubico") || UsesCCID("pcsc:") || !UsesCCID("ccid:") {
		t.Error("without pcscd's socket, automatic selection must use CCID")
	}
	sock := t.TempDir() + "/pcscd.comm"
	t.Setenv("PCSCLITE_CSOCK_NAME", sock)
	if err := writeEmpty(sock); err != nil {
		t.Fatal(err)
	}
	if UsesCCID("") || UsesCCID("Yubico") || !UsesCCID("ccid:1-2") {
		t.Error("with pcscd's socket, automatic selection must use pcscd")
	}
}

func writeEmpty(path string) error { return os.WriteFile(path, nil, 0o600) }

func TestListCCIDReaders(t *testing.T) {
	f := newFixture(t, "cv25519", "t0")
	src := newEmuSource()
	src.add("1-2", "Empty", ccidtest.New(ccidtest.QEMU, nil))
	src.add("1-3", "Full", ccidtest.New(ccidtest.YubiKey, f.card))
	src.add("1-4", "Busy", ccidtest.New(ccidtest.YubiKey, f.card))
	src.open["1-4"] = 1
	rs, err := listCCID(src)
	if err != nil || len(rs) != 3 {
		t.Fatalf("%+v, %v", rs, err)
	}
	if rs[0].Card || rs[0].Level != "TPDU" || rs[0].Problem != nil || !rs[1].Card || rs[1].Level != "extended APDU" || !rs[2].InUse {
		t.Errorf("%+v", rs)
	}
	if src.open["1-2"] != 0 || src.open["1-3"] != 0 {
		t.Error("listing left a reader claimed")
	}
}

// BenchmarkColdUnlockCCID measures a cold unlock through the direct CCID
// driver against emulated readers: QEMU's T=0 TPDU reader (GET RESPONSE
// round trips) and a YubiKey-like extended-APDU reader. It reports the
// APDUs the card sees, the CCID messages on the bus and, of those, the
// presence checks (GetSlotStatus) per unlock.
func BenchmarkColdUnlockCCID(b *testing.B) {
	for _, tc := range []struct {
		name   string
		reader ccid.Descriptor
		quirks string
	}{
		{"qemu-t0", ccidtest.QEMU, "t0"},
		{"yubikey", ccidtest.YubiKey, "yubikey"},
	} {
		b.Run(tc.name, func(b *testing.B) {
			f := newFixture(b, "cv25519", tc.quirks)
			certs := f.cert(b)
			emu := ccidtest.New(tc.reader, f.card)
			src := newEmuSource()
			src.add("1-2", "Emulated Reader", emu)
			ctx := context.Background()
			f.card.ResetCount()
			msgs0 := emu.Counts()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				bk := NewBackend(Options{Connector: newCCIDConnector(src, ""), Certs: certs})
				m, err := core.DecryptMessage(ctx, core.NewKeystore(bk), strings.NewReader(string(f.msg)), core.DecryptOptions{Prompter: core.NewScriptedPrompter("123456")})
				if err != nil {
					b.Fatal(err)
				}
				m.Wipe()
				bk.Close()
			}
			b.ReportMetric(float64(f.card.APDUCount())/float64(b.N), "apdus/op")
			n := emu.Counts().Sub(msgs0)
			b.ReportMetric(float64(n.Total())/float64(b.N), "ccid-msgs/op")
			b.ReportMetric(float64(n.SlotStatus)/float64(b.N), "status-msgs/op")
		})
	}
}
