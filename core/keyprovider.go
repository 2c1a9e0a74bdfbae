package core

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/keyunlock/keyunlock/internal/unixsock"
)

// DefaultKeyfileDir holds the encrypted LUKS keyfiles, one <volume>.pgp per volume.
const DefaultKeyfileDir = "/etc/keyunlock/keys"

// KeyProvider serves LUKS keys to systemd-cryptsetup through crypttab's
// AF_UNIX key-file socket (crypttab(5), systemd ≥ 248). systemd-cryptsetup
// binds its end to the abstract address "\0<random hex>/cryptsetup/<volume>",
// connects, shuts down its write side and reads the key until EOF. The
// provider reads the volume name from the peer address, decrypts that
// volume's OpenPGP keyfile through the keystore (prompting through the
// daemon's prompter when a key is locked), writes the key and closes.
// Peers other than root, unknown volumes and malformed addresses get no
// key, just a closed connection and a log line.
type KeyProvider struct {
	// Keyfiles finds a volume's encrypted keyfile.
	Keyfiles *KeyfileStore
	// Decrypt decrypts an encrypted keyfile and returns the key. The
	// provider serialises calls so that one prompt serves volumes that
	// share a key.
	Decrypt func(ctx context.Context, volume string, encrypted []byte) ([]byte, error)
	// Timeout bounds one connection, prompt included (default 5 minutes).
	Timeout time.Duration
	// Logger receives one line per key given or refused; nil uses the standard logger.
	Logger *log.Logger

	decryptMu sync.Mutex
	mu        sync.Mutex
	listeners map[*unixsock.Listener]struct{}
	closing   bool
	wg        sync.WaitGroup
	ctx       context.Context
	cancel    context.CancelFunc
	once      sync.Once
}

func (p *KeyProvider) init() {
	p.once.Do(func() {
		p.listeners = map[*unixsock.Listener]struct{}{}
		p.ctx, p.cancel = context.WithCancel(context.Background())
	})
}

func (p *KeyProvider) logf(format string, args ...any) {
	if p.Logger != nil {
		p.Logger.Printf(format, args...)
	} else {
		log.Printf(format, args...)
	}
}

func (p *KeyProvider) timeout() time.Duration {
	if p.Timeout > 0 {
		return p.Timeout
	}
	return 5 * time.Minute
}

// Serve accepts systemd-cryptsetup connections on l until Shutdown.
func (p *KeyProvider) Serve(l *unixsock.Listener) error {
	p.init()
	p.mu.Lock()
	if p.closing {
		p.mu.Unlock()
		return ErrServerClosed
	}
	p.listeners[l] = struct{}{}
	p.mu.Unlock()
	for {
		c, err := l.Accept()
		if err != nil {
			p.mu.Lock()
			closing := p.closing
			p.mu.Unlock()
			if closing {
				return ErrServerClosed
			}
			if isTemporaryAccept(err) {
				time.Sleep(10 * time.Millisecond)
				continue
			}
			return err
		}
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			p.serveConn(c)
		}()
	}
}

// Shutdown stops accepting and waits for the connections in progress, or
// cancels them when ctx ends.
func (p *KeyProvider) Shutdown(ctx context.Context) error {
	p.init()
	p.mu.Lock()
	p.closing = true
	for l := range p.listeners {
		l.Close()
	}
	p.mu.Unlock()
	done := make(chan struct{})
	go func() { p.wg.Wait(); close(done) }()
	select {
	case <-done:
		p.cancel()
		return nil
	case <-ctx.Done():
		p.cancel()
		<-done
		return ctx.Err()
	}
}

func (p *KeyProvider) serveConn(c *unixsock.Conn) {
	defer c.Close()
	deadline := time.Now().Add(p.timeout())
	c.SetDeadline(deadline)
	peer, err := PeerCredOf(c)
	if err != nil {
		p.logf("keyunlock: key provider: refusing a connection: %v", err)
		return
	}
	if peer.UID != 0 && peer.UID != os.Geteuid() {
		p.logf("keyunlock: key provider: refusing peer %s: only root (systemd-cryptsetup) gets keys", peer)
		return
	}
	addr, err := c.PeerName()
	if err != nil {
		p.logf("keyunlock: key provider: peer %s: %v", peer, err)
		return
	}
	volume, err := ParseCryptsetupPeer(addr)
	if err != nil {
		p.logf("keyunlock: key provider: peer %s: %v", peer, err)
		return
	}
	enc, err := p.Keyfiles.Get(volume)
	if err != nil {
		p.logf("keyunlock: key provider: volume %q (peer %s): %v", volume, peer, err)
		return
	}
	ctx, cancel := context.WithDeadline(p.ctx, deadline)
	defer cancel()
	// Give up when systemd-cryptsetup goes away (it timed out, or the user
	// typed the passphrase at its own prompt).
	go watchHangup(ctx, c, cancel)
	p.decryptMu.Lock()
	key, err := p.Decrypt(ctx, volume, enc)
	p.decryptMu.Unlock()
	if err != nil {
		p.logf("keyunlock: key provider: volume %q: %v", volume, err)
		return
	}
	defer Wipe(key)
	if _, err := c.Write(key); err != nil {
		p.logf("keyunlock: key provider: volume %q: sending the key to %s: %v", volume, peer, err)
		return
	}
	p.logf("keyunlock: key provider: sent the key of volume %q to %s", volume, peer)
}

// watchHangup cancels when the peer closes its end. systemd-cryptsetup has
// shut down its write side, so the read returns EOF at once; what we wait
// for is POLLHUP/POLLRDHUP on the socket.
func watchHangup(ctx context.Context, c *unixsock.Conn, cancel context.CancelFunc) {
	for ctx.Err() == nil {
		if c.HungUp() {
			cancel()
			return
		}
		select {
		case <-ctx.Done():
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// ParseCryptsetupPeer extracts the volume name from the abstract address
// systemd-cryptsetup binds before it connects: "\0<hex>/cryptsetup/<volume>"
// (written "@<hex>/cryptsetup/<volume>" too). Addresses asking for token
// material (/cryptsetup-pkcs11/, -fido2/, -tpm2/), unbound peers and volume
// names that are not plain file names are refused.
func ParseCryptsetupPeer(addr string) (string, error) {
	if addr == "" {
		return "", errors.New("the peer's socket is not bound (not systemd-cryptsetup?)")
	}
	rest := addr
	switch rest[0] {
	case 0, '@':
		rest = rest[1:]
	default:
		return "", fmt.Errorf("peer address %q is not abstract (not systemd-cryptsetup?)", addr)
	}
	i := strings.IndexByte(rest, '/')
	if i < 1 || i > 16 {
		return "", fmt.Errorf("peer address %q does not start with a random hex number (not systemd-cryptsetup?)", safeName(addr))
	}
	for _, c := range rest[:i] {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return "", fmt.Errorf("peer address %q does not start with a random hex number (not systemd-cryptsetup?)", safeName(addr))
		}
	}
	rest = rest[i+1:]
	kind, volume, ok := strings.Cut(rest, "/")
	if !ok {
		return "", fmt.Errorf("peer address %q names no volume (not systemd-cryptsetup?)", safeName(addr))
	}
	switch kind {
	case "cryptsetup":
	case "cryptsetup-pkcs11", "cryptsetup-fido2", "cryptsetup-tpm2":
		return "", fmt.Errorf("systemd-cryptsetup asks for %s token material for volume %q; keyunlock supplies keys only: drop the token option from crypttab", strings.TrimPrefix(kind, "cryptsetup-"), safeName(volume))
	default:
		return "", fmt.Errorf("peer address %q is not a cryptsetup key request", safeName(addr))
	}
	if err := checkVolumeName(volume); err != nil {
		return "", err
	}
	return volume, nil
}

// checkVolumeName accepts what can safely name <volume>.pgp in one directory.
func checkVolumeName(v string) error {
	if v == "" || v == "." || v == ".." || len(v) > 127 {
		return fmt.Errorf("invalid volume name %q", safeName(v))
	}
	for _, c := range []byte(v) {
		if c < 0x20 || c == 0x7f || c == '/' {
			return fmt.Errorf("invalid volume name %q", safeName(v))
		}
	}
	return nil
}

// safeName quotes untrusted names for logs, cut to a sane length.
func safeName(s string) string {
	if len(s) > 160 {
		s = s[:160] + "…"
	}
	return s
}

// KeyfileStore finds the encrypted keyfile of a volume: <Dir>/<volume>.pgp.
// Preloaded, it holds every keyfile in memory so that the daemon keeps no
// file of the initrd open and needs none after switch_root.
type KeyfileStore struct {
	dir       string
	preloaded map[string][]byte
}

// NewKeyfileStore returns a store over dir. With preload, every *.pgp file
// is read now and the directory is never read again.
func NewKeyfileStore(dir string, preload bool) (*KeyfileStore, error) {
	s := &KeyfileStore{dir: dir}
	if !preload {
		return s, nil
	}
	s.preloaded = map[string][]byte{}
	ents, err := os.ReadDir(dir)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return s, nil
		}
		return nil, fmt.Errorf("reading the keyfile directory: %w", err)
	}
	for _, e := range ents {
		name, ok := strings.CutSuffix(e.Name(), ".pgp")
		if !ok || checkVolumeName(name) != nil || !e.Type().IsRegular() {
			continue
		}
		data, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			return nil, fmt.Errorf("reading keyfile: %w", err)
		}
		s.preloaded[name] = data
	}
	return s, nil
}

// Volumes lists the preloaded volumes (nil when not preloaded).
func (s *KeyfileStore) Volumes() []string {
	var v []string
	for k := range s.preloaded {
		v = append(v, k)
	}
	return v
}

// Get returns the encrypted keyfile of volume.
func (s *KeyfileStore) Get(volume string) ([]byte, error) {
	if err := checkVolumeName(volume); err != nil {
		return nil, err
	}
	if s.preloaded != nil {
		if data, ok := s.preloaded[volume]; ok {
			return data, nil
		}
		return nil, fmt.Errorf("unknown volume: no %s.pgp was in %s when the daemon started (add it and restart the daemon, or rebuild the initrd)", volume, s.dir)
	}
	path := filepath.Join(s.dir, volume+".pgp")
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("unknown volume: no keyfile %s (encrypt one with: keyunlock encrypt -r KEY -o %s)", path, path)
	}
	return data, err
}
