package softkeys

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"

	"github.com/keyunlock/keyunlock/core"
)

// Backend is a set of soft key files. It implements core.Backend.
type Backend struct {
	files   []*File
	skipped []Skipped
}

// Skipped is a file of a key directory that was not loaded, or a key
// directory without any key, with the reason.
type Skipped struct {
	Path   string
	Reason string
	// EmptyDir is set when Path is a directory without any key file, which
	// a card-only setup may have on purpose.
	EmptyDir bool
}

// New loads the secret key files at paths. A path is a key file or a
// directory whose regular files are loaded (not recursively); files in a
// directory that are not OpenPGP secret keys are skipped, and so is a
// directory without any key (see Skipped). A file that cannot be read or
// parsed, or a path given directly that is not a secret key file, is an error
// naming the file.
func New(paths []string) (*Backend, error) {
	b := &Backend{}
	for _, p := range paths {
		st, err := os.Stat(p)
		if err != nil {
			return nil, fmt.Errorf("key path %s: %w (check the --key argument)", p, unwrapPath(err))
		}
		if !st.IsDir() {
			f, err := loadFile(p)
			if err != nil {
				return nil, err
			}
			b.files = append(b.files, f)
			continue
		}
		ents, err := os.ReadDir(p)
		if err != nil {
			return nil, fmt.Errorf("key directory %s: %w (check its permissions)", p, unwrapPath(err))
		}
		names := make([]string, 0, len(ents))
		for _, e := range ents {
			names = append(names, e.Name())
		}
		sort.Strings(names)
		found := 0
		for _, n := range names {
			fp := filepath.Join(p, n)
			st, err := os.Stat(fp)
			if err != nil {
				return nil, fmt.Errorf("key file %s: %w (fix or remove it)", fp, unwrapPath(err))
			}
			if !st.Mode().IsRegular() {
				b.skipped = append(b.skipped, Skipped{Path: fp, Reason: "not a regular file"})
				continue
			}
			f, err := loadFile(fp)
			var nk *notKeyError
			if errors.As(err, &nk) {
				b.skipped = append(b.skipped, Skipped{Path: fp, Reason: nk.reason})
				continue
			}
			if err != nil {
				return nil, err
			}
			b.files = append(b.files, f)
			found++
		}
		if found == 0 {
			// Not an error: a card-only setup may have an empty key directory.
			b.skipped = append(b.skipped, Skipped{Path: p, Reason: "the directory holds no OpenPGP secret key file (put exported secret keys there, or use a card)", EmptyDir: true})
		}
	}
	return b, nil
}

// unwrapPath drops the *PathError wrapper whose text repeats the path.
func unwrapPath(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// Name returns "softkeys".
func (b *Backend) Name() string { return "softkeys" }

// Devices returns one device per loaded key file.
func (b *Backend) Devices(ctx context.Context) ([]core.Device, error) {
	ds := make([]core.Device, len(b.files))
	for i, f := range b.files {
		ds[i] = f
	}
	return ds, nil
}

// Files returns the loaded key files.
func (b *Backend) Files() []*File { return b.files }

// Skipped lists the files of key directories that were not loaded, and why.
func (b *Backend) Skipped() []Skipped { return b.skipped }

// Lock locks every key of every file.
func (b *Backend) Lock() {
	for _, f := range b.files {
		for _, k := range f.keys {
			k.Lock()
		}
	}
}
