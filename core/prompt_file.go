package core

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// maxSecret bounds a passphrase or PIN line.
const maxSecret = 4096

// aLongTimeAgo is a deadline that makes blocked reads return at once.
var aLongTimeAgo = time.Unix(1, 0)

// FilePrompter answers with the first line of a file or file descriptor,
// without its trailing newline. It holds one secret: asked again (because
// the secret was wrong) it returns an error wrapping ErrNoMoreSecrets.
type FilePrompter struct {
	mu   sync.Mutex
	name string
	open func() (io.ReadCloser, error)
	// regular reports whether the secret comes from a regular file, which
	// Prefetch may read without waiting for anyone.
	regular func() bool
	// file is set for a file path: more than the first line may be read
	// from a regular file, in one read instead of one per byte (not from
	// a pipe, whose writer may wait after the line).
	file bool
	used bool
	// fetched is set by Prefetch, which leaves the secret or the error
	// for Ask.
	fetched bool
	secret  []byte
	err     error
}

// NewFilePrompter answers with the first line of the file at path.
func NewFilePrompter(path string) *FilePrompter {
	return &FilePrompter{
		name: "passphrase file " + path,
		open: func() (io.ReadCloser, error) { return os.Open(path) },
		regular: func() bool {
			st, err := os.Stat(path)
			return err == nil && st.Mode().IsRegular()
		},
		file: true,
	}
}

// NewFDPrompter answers with the first line read from file descriptor fd,
// which is read once and closed.
func NewFDPrompter(fd int) *FilePrompter {
	return &FilePrompter{
		name: fmt.Sprintf("passphrase fd %d", fd),
		open: func() (io.ReadCloser, error) {
			f := os.NewFile(uintptr(fd), fmt.Sprintf("fd %d", fd))
			if f == nil {
				return nil, fmt.Errorf("fd %d is not open", fd)
			}
			return f, nil
		},
		regular: func() bool {
			var st unix.Stat_t
			return unix.Fstat(fd, &st) == nil && st.Mode&unix.S_IFMT == unix.S_IFREG
		},
	}
}

// Ask returns the secret once; later calls wrap ErrNoMoreSecrets.
func (p *FilePrompter) Ask(ctx context.Context, req PromptRequest) ([]byte, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.used {
		return nil, fmt.Errorf("%w: %s was tried", ErrNoMoreSecrets, p.name)
	}
	p.used = true
	if p.fetched {
		secret, err := p.secret, p.err
		p.secret, p.err = nil, nil
		return secret, err
	}
	return p.read()
}

// errNotRegular is returned by Prefetch for a secret that does not come
// from a regular file.
var errNotRegular = errors.New("not a regular file")

// Prefetch reads the secret now and returns a copy (see SecretPrefetcher),
// but only from a regular file: a pipe or terminal may not have the line
// yet, and the secret may not even be needed (an unprotected key), so it
// is left for Ask. After Ask it returns the error Ask would.
func (p *FilePrompter) Prefetch(ctx context.Context) ([]byte, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.used {
		return nil, fmt.Errorf("%w: %s was tried", ErrNoMoreSecrets, p.name)
	}
	if !p.fetched && (p.regular == nil || !p.regular()) {
		return nil, fmt.Errorf("%s: %w", p.name, errNotRegular)
	}
	if !p.fetched {
		p.fetched = true
		p.secret, p.err = p.read()
	}
	return bytes.Clone(p.secret), p.err
}

// isRegular reports whether r is a regular file.
func isRegular(r io.Reader) bool {
	f, ok := r.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode().IsRegular()
}

// dropFetched wipes a prefetched secret that Ask did not take; a later Ask
// reads it again.
func (p *FilePrompter) dropFetched() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.fetched && !p.used {
		Wipe(p.secret)
		p.fetched, p.secret, p.err = false, nil, nil
	}
}

// read reads the secret's line.
func (p *FilePrompter) read() ([]byte, error) {
	f, err := p.open()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", p.name, err)
	}
	defer f.Close()
	var r io.Reader = f
	if p.file && isRegular(f) {
		// The first line, its newline and one byte more tell all that
		// readLine needs to know.
		buf := make([]byte, maxSecret+3)
		defer Wipe(buf)
		n, err := io.ReadFull(f, buf)
		if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, fmt.Errorf("%s: %w", p.name, err)
		}
		r = bytes.NewReader(buf[:n])
	}
	secret, err := readLine(r, maxSecret)
	if err != nil && !errors.Is(err, io.EOF) {
		Wipe(secret)
		return nil, fmt.Errorf("%s: %w", p.name, err)
	}
	if len(secret) == 0 {
		return nil, fmt.Errorf("%s is empty: put the passphrase on its first line", p.name)
	}
	return secret, nil
}

// Notify does nothing: there is nobody to tell.
func (p *FilePrompter) Notify(ctx context.Context, msg string) {}

// readLine reads one line of at most max bytes, byte by byte so that nothing
// after the newline is consumed, and strips "\n" or "\r\n". It returns
// io.EOF (with what was read) when the input ends without a newline.
func readLine(r io.Reader, max int) ([]byte, error) {
	buf := make([]byte, 0, 128)
	var b [1]byte
	for {
		n, err := r.Read(b[:])
		if n == 1 {
			if b[0] == '\n' {
				if l := len(buf); l > 0 && buf[l-1] == '\r' {
					buf[l-1] = 0
					buf = buf[:l-1]
				}
				return buf, nil
			}
			if len(buf) >= max {
				Wipe(buf)
				return nil, fmt.Errorf("line longer than %d bytes", max)
			}
			if len(buf) == cap(buf) {
				nb := make([]byte, len(buf), 2*cap(buf))
				copy(nb, buf)
				Wipe(buf)
				buf = nb
			}
			buf = append(buf, b[0])
		}
		if err != nil {
			if errors.Is(err, io.EOF) {
				if l := len(buf); l > 0 && buf[l-1] == '\r' {
					buf = buf[:l-1]
				}
			}
			return buf, err
		}
	}
}
