package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp/armor"

	"github.com/keyunlock/keyunlock/core"
	"github.com/keyunlock/keyunlock/internal/pgp"
)

const encryptExamples = `  # Enrol a new LUKS key: 64 random bytes, encrypted to your key and a backup key.
  keyunlock encrypt --recipient me.asc --recipient backup.asc -o /etc/keyunlock/root.pgp
  # then add the random bytes to a key slot: decrypt them to a file in RAM (/run is a
  # tmpfs; -o writes mode 0600), give that file to cryptsetup, which asks for an
  # existing passphrase, and remove it:
  keyunlock decrypt --key me-secret.asc -o /run/keyunlock-new.key /etc/keyunlock/root.pgp &&
      cryptsetup luksAddKey /dev/sda2 /run/keyunlock-new.key; rm -f /run/keyunlock-new.key

  # Encrypt an existing keyfile, ASCII-armored:
  keyunlock encrypt --armor --recipient me.asc -o keyfile.asc keyfile
  keyunlock encrypt -a -r me.asc keyfile > keyfile.asc          # the same, gpg-style

The message is encrypted to every valid encryption subkey of each
certificate (binary or armored, as written by gpg --export or sq). Expired or
revoked certificates are refused. v6 (RFC 9580) recipients only: SEIPDv2
(AES-256, OCB); otherwise SEIPDv1 (AES-256, MDC), which gpg reads.
`

// newKeyfileSize is the size of a generated LUKS keyfile.
const newKeyfileSize = 64

func init() {
	register(&command{
		name:    "encrypt",
		summary: "encrypt a keyfile (or 64 new random bytes) to OpenPGP certificates",
		run:     runEncrypt,
	})
}

func runEncrypt(ctx context.Context, env *cliEnv, args []string) error {
	fs := newFlagSet("encrypt", "keyunlock encrypt --recipient CERTFILE... [--armor] [-o OUT] [IN]", encryptExamples)
	var certs multiFlag
	fs.Var(&certs, "recipient", "encrypt to the certificate in `CERTFILE`; repeat for several")
	fs.Var(&certs, "r", "short for --recipient `CERTFILE`")
	out := fs.String("o", "", "write the encrypted keyfile to `OUT` (default stdout)")
	arm := fs.Bool("armor", false, "write ASCII armor instead of binary")
	fs.BoolVar(arm, "a", false, "short for --armor")
	pos, err := parseArgs(fs, args, env.stdout)
	if err != nil {
		return err
	}
	if len(certs) == 0 {
		return usageError("encrypt", "no --recipient given")
	}
	if len(pos) > 1 {
		return usageError("encrypt", "too many arguments: %q", pos[1:])
	}

	var recips []*pgp.PublicKey
	now := time.Now()
	for _, c := range certs {
		data, err := readCertFile(c)
		if err != nil {
			return fmt.Errorf("recipient %s: %w", c, err)
		}
		keys, err := core.RecipientKeys(data, c, now)
		if err != nil {
			return fmt.Errorf("recipient %w", err)
		}
		recips = append(recips, keys...)
	}

	var plain []byte
	generated := len(pos) == 0
	if generated {
		plain = make([]byte, newKeyfileSize)
		if _, err := io.ReadFull(rand.Reader, plain); err != nil {
			return err
		}
	} else {
		r, name, err := openInput(pos[0], env.stdin)
		if err != nil {
			return err
		}
		plain, err = io.ReadAll(io.LimitReader(r, core.DefaultMaxSize+1))
		r.Close()
		if err != nil {
			return fmt.Errorf("input %s: %w", name, err)
		}
		if len(plain) > core.DefaultMaxSize {
			return fmt.Errorf("input %s is larger than 16 MiB; keyfiles are small", name)
		}
	}
	defer core.Wipe(plain)

	var buf bytes.Buffer
	var w io.Writer = &buf
	var aw io.WriteCloser
	if *arm {
		if aw, err = armor.Encode(&buf, "PGP MESSAGE", nil); err != nil {
			return err
		}
		w = aw
	}
	if err := core.Encrypt(w, recips, plain); err != nil {
		return err
	}
	if aw != nil {
		if err := aw.Close(); err != nil {
			return err
		}
		buf.WriteByte('\n')
	}
	if err := writeOutput(ctx, *out, buf.Bytes(), env.stdout, 0o600); err != nil {
		return err
	}

	var fprs []string
	for _, k := range recips {
		fprs = append(fprs, fmt.Sprintf("%X", k.Fingerprint))
	}
	dest := *out
	if dest == "" || dest == "-" {
		dest = "KEYFILE.pgp"
	}
	what := "the input"
	if generated {
		what = fmt.Sprintf("%d new random bytes", newKeyfileSize)
	}
	fmt.Fprintf(env.stderr, "keyunlock: encrypted %s to %s\n", what, strings.Join(fprs, ", "))
	if generated {
		fmt.Fprintf(env.stderr, "keyunlock: to add them to a LUKS key slot (cryptsetup asks for an existing passphrase of DEVICE):\n")
		fmt.Fprintf(env.stderr, "keyunlock:   keyunlock decrypt --key SECRETKEY -o /run/keyunlock-new.key %s && cryptsetup luksAddKey DEVICE /run/keyunlock-new.key; rm -f /run/keyunlock-new.key\n", dest)
	}
	return nil
}

// readCertFile reads a certificate file of at most pgp.MaxCertBytes, so
// that a wrong path (a device, a disk image) fails fast instead of filling
// memory.
func readCertFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, unwrapPath(err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, pgp.MaxCertBytes+1))
	if err != nil {
		return nil, unwrapPath(err)
	}
	if len(data) > pgp.MaxCertBytes {
		return nil, fmt.Errorf("larger than %d MiB: not a certificate", pgp.MaxCertBytes>>20)
	}
	return data, nil
}
