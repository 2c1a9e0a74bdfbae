package core

import (
	"context"
	"fmt"
	"sync"
	"testing"
)

// BenchmarkDaemonDecrypt measures one Decrypt call through the daemon's
// socket (client and server in this process) with an unlocked v6 X25519
// key, for 1 and 16 clients each on its own connection, next to the same
// decryption called in-process. The difference is the cost of the round
// trip; allocs/op counts both sides.
func BenchmarkDaemonDecrypt(b *testing.B) {
	e := testEntity(b, "bench", true)
	ks := NewKeystore(backendOf(keyOf(b, e, "file bench.pgp")))
	p := pkesksOf(b, encryptTo(b, []byte("bench"), nil, e))[0]
	ctx := context.Background()
	b.Run("in-process", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			res, err := ks.DecryptPKESKs(ctx, []*PKESK{p})
			if err != nil {
				b.Fatal(err)
			}
			res.SessionKey.Wipe()
		}
	})
	path, _, _ := startServer(b, ks, nil)
	for _, n := range []int{1, 16} {
		b.Run(fmt.Sprintf("clients=%d", n), func(b *testing.B) {
			clients := make([]*Client, n)
			for i := range clients {
				clients[i] = dial(b, path)
			}
			b.ReportAllocs()
			b.ResetTimer()
			var wg sync.WaitGroup
			var mu sync.Mutex
			next := 0
			for _, c := range clients {
				wg.Add(1)
				go func(c *Client) {
					defer wg.Done()
					for {
						mu.Lock()
						if next >= b.N {
							mu.Unlock()
							return
						}
						next++
						mu.Unlock()
						res, err := c.DecryptPKESKs(ctx, []*PKESK{p})
						if err != nil {
							b.Error(err)
							return
						}
						res.SessionKey.Wipe()
					}
				}(c)
			}
			wg.Wait()
		})
	}
}
