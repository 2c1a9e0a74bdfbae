package main

import (
	"context"
	"fmt"
	"io"
	"log"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/keyunlock/keyunlock/core"
	"github.com/keyunlock/keyunlock/internal/fixtures"
	"github.com/keyunlock/keyunlock/softkeys"
)

// firstPKESK returns the first packet of a binary OpenPGP message, which
// must be a PKESK (tag 1), parsed by core.
func firstPKESK(msg []byte) (*core.PKESK, error) {
	if len(msg) < 2 || msg[0]&0xc0 != 0xc0 {
		return nil, fmt.Errorf("not a new-format OpenPGP packet")
	}
	if tag := msg[0] & 0x3f; tag != 1 {
		return nil, fmt.Errorf("first packet has tag %d, not a PKESK", tag)
	}
	var n, hdr int
	switch l := int(msg[1]); {
	case l < 192:
		n, hdr = l, 2
	case l < 224:
		if len(msg) < 3 {
			return nil, io.ErrUnexpectedEOF
		}
		n, hdr = (l-192)<<8+int(msg[2])+192, 3
	case l == 255:
		if len(msg) < 6 {
			return nil, io.ErrUnexpectedEOF
		}
		n, hdr = int(msg[2])<<24|int(msg[3])<<16|int(msg[4])<<8|int(msg[5]), 6
	default:
		return nil, fmt.Errorf("partial length PKESK")
	}
	if len(msg) < hdr+n {
		return nil, io.ErrUnexpectedEOF
	}
	return core.ParsePKESK(msg[hdr : hdr+n])
}

// latencies summarises the decrypt calls of one load level.
type latencies struct {
	clients  int
	rate     float64 // decrypts per second
	p50, p99 time.Duration
}

// load runs clients goroutines calling decrypt for the duration and
// measures throughput and per-call latency.
func load(clients int, dur time.Duration, decrypt func(i int) error) (latencies, error) {
	var mu sync.Mutex
	var all []time.Duration
	var firstErr error
	var wg sync.WaitGroup
	start := time.Now()
	deadline := start.Add(dur)
	for c := 0; c < clients; c++ {
		wg.Add(1)
		go func(c int) {
			defer wg.Done()
			var mine []time.Duration
			for time.Now().Before(deadline) {
				t0 := time.Now()
				if err := decrypt(c); err != nil {
					mu.Lock()
					firstErr = err
					mu.Unlock()
					return
				}
				mine = append(mine, time.Since(t0))
			}
			mu.Lock()
			all = append(all, mine...)
			mu.Unlock()
		}(c)
	}
	wg.Wait()
	elapsed := time.Since(start)
	if firstErr != nil {
		return latencies{}, firstErr
	}
	if len(all) == 0 {
		return latencies{}, fmt.Errorf("no call completed")
	}
	sortDur(all)
	return latencies{
		clients: clients,
		rate:    float64(len(all)) / elapsed.Seconds(),
		p50:     all[len(all)*50/100],
		p99:     all[len(all)*99/100],
	}, nil
}

func writeDaemon(r *report, set *fixtures.Set, smoke bool) error {
	fk := set.Key(&tb{}, "gocrypto-v6-x25519-clear")
	msg, err := os.ReadFile(fk.Messages[0].File)
	if err != nil {
		return err
	}
	p, err := firstPKESK(msg)
	if err != nil {
		return fmt.Errorf("%s: %v", fk.Messages[0].File, err)
	}
	be, err := softkeys.New([]string{fk.KeyFile})
	if err != nil {
		return err
	}
	ks := core.NewKeystore(be)
	ctx := context.Background()
	dur := 3 * time.Second
	if smoke {
		dur = 200 * time.Millisecond
	}
	decryptIn := func(int) error {
		res, err := ks.DecryptPKESKs(ctx, []*core.PKESK{p})
		if err != nil {
			return err
		}
		res.SessionKey.Wipe()
		return nil
	}
	dir, err := os.MkdirTemp("", "keyunlock-bench-daemon-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	sock := filepath.Join(dir, "s", "keyunlock.sock")
	l, err := core.Listen(sock, core.ListenOptions{})
	if err != nil {
		return err
	}
	srv := &core.Server{Service: ks, Logger: log.New(io.Discard, "", 0)}
	go srv.Serve(l)
	defer srv.Shutdown(ctx)

	r.printf("## 5. Daemon\n\n")
	r.printf("An unlocked v6 X25519 key (%s), one PKESK decrypted per call, for %s per level. In-process: `Keystore.DecryptPKESKs` called by N goroutines. "+
		"Daemon: `core.Server` on a UNIX socket, N `core.Client`s each on its own connection calling `DecryptPKESKs`. Latency is per call as the client sees it.\n\n", fk.Name, dur)
	r.printf("| clients | in-process decrypts/s | daemon decrypts/s | daemon / in-process | daemon p50 ms | daemon p99 ms |\n|---|---|---|---|---|---|\n")
	var first float64
	for _, n := range []int{1, 4, 16} {
		in, err := load(n, dur, decryptIn)
		if err != nil {
			return fmt.Errorf("in-process: %v", err)
		}
		clients := make([]*core.Client, n)
		for i := range clients {
			if clients[i], err = core.Dial(ctx, sock); err != nil {
				return err
			}
			defer clients[i].Close()
		}
		d, err := load(n, dur, func(i int) error {
			res, err := clients[i].DecryptPKESKs(ctx, []*core.PKESK{p})
			if err != nil {
				return err
			}
			res.SessionKey.Wipe()
			return nil
		})
		if err != nil {
			return fmt.Errorf("daemon: %v", err)
		}
		frac := d.rate / in.rate
		if n == 1 {
			first = frac
		}
		r.printf("| %d | %.0f | %.0f | %.0f%% | %s | %s |\n", n, in.rate, d.rate, 100*frac, ms(d.p50), ms(d.p99))
		if n == 16 {
			r.check("daemon ≥ 70% of the in-process rate (16 clients)", frac >= 0.7, fmt.Sprintf("%.0f%%", 100*frac),
				fmt.Sprintf("%.0f points under (already %.0f%% with 1 client): each call is a varlink JSON round trip over the socket — encode, write, wake the server, decode, and back — which costs about as much as the X25519 operation itself (about %s ms of CPU)", 100*(0.7-frac), 100*first, ms(time.Duration(float64(time.Second)/in.rate*2))))
			r.check("daemon p99 < 2 ms (16 clients)", d.p99 < 2*time.Millisecond, ms(d.p99)+" ms",
				fmt.Sprintf("%s ms over (p50 %s ms): 16 clients and the server's 16 connection goroutines share 2 cores, so a call waits behind others' socket round trips", ms(d.p99-2*time.Millisecond), ms(d.p50)))
		}
	}
	r.printf("\n")
	return nil
}
