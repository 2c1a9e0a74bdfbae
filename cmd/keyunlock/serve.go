package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	cardpkg "github.com/keyunlock/keyunlock/card"
	"github.com/keyunlock/keyunlock/core"
	"github.com/keyunlock/keyunlock/internal/unixsock"
)

const serveExamples = `  # The daemon with a soft key, its varlink socket and the crypttab key socket:
  keyunlock serve --key /etc/keyunlock/keys.d --luks-socket /run/keyunlock/luks.sock

  # Let members of group "disk" use it, and forget unlocked keys after 10 minutes:
  keyunlock serve --allow-group disk --cache-ttl 10m

  # In the initrd (also implied by /etc/initrd-release): survive switch_root.
  keyunlock serve --initrd --luks-socket /run/keyunlock/luks.sock

crypttab names the key socket as the key file of a volume, e.g.
  cryptroot UUID=... /run/keyunlock/luks.sock luks
and the daemon answers with the decrypted /etc/keyunlock/keys/cryptroot.pgp.
Under systemd, sockets passed by socket activation are used instead of
--socket (any name) and --luks-socket (FileDescriptorName=luks).
`

func init() {
	register(&command{
		name:    "serve",
		summary: "run the key daemon (varlink socket and crypttab key socket)",
		run:     runServe,
	})
}

func runServe(ctx context.Context, env *cliEnv, args []string) error {
	ctx.Done() // SIGTERM stops the daemon cleanly from the start (see signalContext)
	fs := newFlagSet("serve", "keyunlock serve [--socket PATH] [--key PATH]... [--card [--card-wait D] [--card-reader R]] [--allow-group G] [--cache-ttl D] [--luks-socket PATH] [--luks-keys DIR] [--initrd] [--prompt auto|tty|agent]", serveExamples)
	socket := fs.String("socket", core.DefaultSocket, "listen for varlink clients on `PATH`")
	var keys multiFlag
	fs.Var(&keys, "key", "secret key `PATH` (file or directory); repeat for several (default $KEYUNLOCK_KEYS, else /etc/keyunlock/keys.d)")
	card := fs.Bool("card", false, "also use OpenPGP cards (through pcscd, or USB readers directly when pcscd is not running)")
	cardWait := fs.Duration("card-wait", 0, "with --card, wait up to `DURATION` for a card at the first request (in an initrd, the USB reader may still be appearing)")
	cardReader := fs.String("card-reader", "", "with --card, only readers whose name contains `NAME`; pcsc:NAME only through pcscd; ccid: or ccid:BUS-PORT directly over USB")
	group := fs.String("allow-group", "", "also admit members of `GROUP` (socket mode 0660)")
	ttl := fs.Duration("cache-ttl", 0, "lock unlocked keys again after `DURATION` (default: keep them until 'keyunlock lock' or exit)")
	luksSocket := fs.String("luks-socket", "", "serve LUKS keys to systemd-cryptsetup on `PATH` (crypttab key file)")
	luksKeys := fs.String("luks-keys", core.DefaultKeyfileDir, "encrypted LUKS keyfiles, `DIR`/<volume>.pgp")
	luksTimeout := fs.Duration("luks-timeout", 5*time.Minute, "give up on one key request after `DURATION`, prompt included")
	initrd := fs.Bool("initrd", false, "run as a root storage daemon that survives switch_root (implied by "+core.InitrdReleaseFile+")")
	promptMode := fs.String("prompt", "auto", "ask for passphrases and PINs on the `MODE`: tty, agent (systemd password agents, plymouth) or auto")
	askDir := fs.String("ask-password-dir", core.DefaultAskPasswordDir, "password agent `DIR`")
	maxConns := fs.Int("max-connections", 64, "serve at most `N` varlink clients at once")
	pos, err := parseArgs(fs, args, env.stdout)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usageError("serve", "unexpected arguments: %q", pos)
	}
	switch *promptMode {
	case "auto", "tty", "agent":
	default:
		return usageError("serve", "--prompt must be auto, tty or agent, not %q", *promptMode)
	}
	if !*card && (*cardWait != 0 || *cardReader != "") {
		return usageError("serve", "--card-wait and --card-reader need --card")
	}
	if *ttl < 0 {
		return usageError("serve", "--cache-ttl must not be negative")
	}
	if !*initrd && core.InInitrd() {
		*initrd = true
	}
	if *initrd {
		// Returns only on failure or once argv[0] is "@keyunlock".
		if err := core.BecomeRootStorageDaemon(); err != nil {
			return err
		}
	}
	logger := log.New(env.stderr, "", 0)

	access := core.AccessPolicy{}
	listen := core.ListenOptions{}
	if *group != "" {
		gid, err := core.LookupGroup(*group)
		if err != nil {
			return err
		}
		access = core.AccessPolicy{AllowGroup: true, GID: gid}
		listen = core.ListenOptions{Group: true, GID: gid}
	}

	// Load every key and keyfile into memory now: in the initrd, nothing
	// may be read after switch_root.
	var extra []core.Backend
	var cards *cardpkg.Backend
	if *card {
		cards = cardpkg.NewBackend(cardpkg.Options{Wait: *cardWait, Reader: *cardReader})
		defer cards.Close()
		extra = append(extra, cards)
	}
	// Absolute paths, so that sources name the files wherever the daemon runs.
	for i, k := range keys {
		if abs, err := filepath.Abs(k); err == nil {
			keys[i] = abs
		}
	}
	ks, notes, err := openKeystore(keys, extra...)
	if err != nil {
		return err
	}
	for _, n := range notes {
		logger.Printf("keyunlock: %s", n)
	}
	svc := core.NewCacheTTL(ks, *ttl)
	defer svc.Close()

	var prompter core.Prompter
	agent := &core.AgentPrompter{Dir: *askDir, Logger: logger, Icon: "drive-harddisk"}
	switch *promptMode {
	case "agent":
		prompter = agent
	case "tty":
		p, err := core.NewTerminalPrompter()
		if err != nil {
			return fmt.Errorf("--prompt tty: %w", err)
		}
		prompter = p
	default:
		prompter = agent
		if !*initrd {
			if p, err := core.NewTerminalPrompter(); err == nil {
				prompter = p
			}
		}
	}

	if cards != nil {
		cards.SetPrompter(prompter)
	}

	activated, err := core.ActivatedListeners()
	if err != nil {
		return err
	}
	var mainLs, luksLs []*unixsock.Listener
	// An activated socket is the key socket when it is named "luks"
	// (FileDescriptorName=luks) or listens on --luks-socket; the shipped
	// keyunlock.socket carries both paths in one unit.
	luksActivated := false
	for name, ls := range activated {
		for _, l := range ls {
			if name == "luks" || *luksSocket != "" && l.Addr() == *luksSocket {
				luksLs = append(luksLs, l)
				luksActivated = true
			} else {
				mainLs = append(mainLs, l)
			}
		}
	}
	closeAll := func() {
		for _, l := range append(mainLs, luksLs...) {
			l.Close()
		}
	}
	if len(mainLs) == 0 {
		l, err := core.Listen(*socket, listen)
		if err != nil {
			closeAll()
			return fmt.Errorf("--socket %s: %w", *socket, err)
		}
		mainLs = append(mainLs, l)
	}
	var kp *core.KeyProvider
	if !luksActivated && *luksSocket != "" {
		l, err := core.Listen(*luksSocket, core.ListenOptions{})
		if err != nil {
			closeAll()
			return fmt.Errorf("--luks-socket %s: %w", *luksSocket, err)
		}
		luksLs = append(luksLs, l)
	}
	if len(luksLs) > 0 {
		store, err := core.NewKeyfileStore(*luksKeys, *initrd)
		if err != nil {
			closeAll()
			return fmt.Errorf("--luks-keys %s: %w", *luksKeys, err)
		}
		kp = &core.KeyProvider{
			Keyfiles: store,
			Timeout:  *luksTimeout,
			Logger:   logger,
			Decrypt: func(ctx context.Context, volume string, enc []byte) ([]byte, error) {
				msg, err := core.DecryptMessage(ctx, svc, bytes.NewReader(enc), core.DecryptOptions{Prompter: prompter})
				if err != nil {
					return nil, err
				}
				key := bytes.Clone(msg.Plaintext)
				msg.Wipe()
				return key, nil
			},
		}
	}
	if *initrd {
		// Hold nothing of the initrd, not even as the working directory:
		// work from /run, which systemd carries into the real root. After
		// switch_root the daemon's root is still the (emptied) initrd, so
		// what it opens by path after that (password agent files, pcscd's
		// socket) is reached relative to /run.
		if err := os.Chdir("/run"); err != nil {
			if err := os.Chdir("/"); err != nil {
				closeAll()
				return err
			}
		} else {
			if rel, ok := strings.CutPrefix(*askDir, "/run/"); ok {
				agent.FileDir = rel
			}
			if os.Getenv("PCSCLITE_CSOCK_NAME") == "" {
				os.Setenv("PCSCLITE_CSOCK_NAME", "pcscd/pcscd.comm")
			}
		}
	}

	srv := &core.Server{
		Service:  svc,
		Access:   access,
		Logger:   logger,
		MaxConns: *maxConns,
		DecryptMessage: func(ctx context.Context, s core.Service, msg []byte) (*core.RemoteMessage, error) {
			m, err := core.DecryptMessage(ctx, s, bytes.NewReader(msg), core.DecryptOptions{})
			if err != nil {
				return nil, err
			}
			return &core.RemoteMessage{Plaintext: m.Plaintext, FileName: m.FileName, Result: *m.Result}, nil
		},
		Status: func(ctx context.Context, st *core.DaemonStatus) {
			st.Version = Version
			st.CacheTTLSeconds = int64(ttl.Seconds())
			st.KeyProvider = kp != nil
			st.Initrd = *initrd
		},
	}

	var wg sync.WaitGroup
	errc := make(chan error, len(mainLs)+len(luksLs))
	for _, l := range mainLs {
		wg.Add(1)
		go func() { defer wg.Done(); errc <- srv.Serve(l) }()
		logger.Printf("keyunlock: serving %s on %s", core.VarlinkInterface, l.Addr())
	}
	for _, l := range luksLs {
		wg.Add(1)
		go func() { defer wg.Done(); errc <- kp.Serve(l) }()
		logger.Printf("keyunlock: serving LUKS keys from %s on %s", *luksKeys, l.Addr())
	}
	if err := core.NotifyReady("serving"); err != nil {
		logger.Printf("keyunlock: %v", err)
	}

	var serveErr error
	select {
	case <-ctx.Done():
	case serveErr = <-errc:
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	srv.Shutdown(sctx)
	if kp != nil {
		kp.Shutdown(sctx)
	}
	wg.Wait()
	lctx, lcancel := context.WithTimeout(context.Background(), 5*time.Second)
	svc.Lock(lctx, "")
	lcancel()
	if serveErr != nil && !errors.Is(serveErr, core.ErrServerClosed) {
		return serveErr
	}
	logger.Printf("keyunlock: stopped")
	return nil
}
