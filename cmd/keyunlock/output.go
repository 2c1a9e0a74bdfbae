package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// writeOutput writes data, which has been fully verified, to path, or to
// stdout when path is "" or "-". A regular file (or a new one) is written
// as a temporary file in the same directory, synced and renamed into place,
// so that OUT is either complete or untouched. Anything else (a pipe, a
// device, /dev/stdout) is written directly: data is complete already.
//
// ctx is only armed (see signalContext) before the temporary file is made,
// so that Ctrl-C cannot leave it behind.
func writeOutput(ctx context.Context, path string, data []byte, stdout io.Writer, mode os.FileMode) error {
	if path == "" || path == "-" {
		_, err := stdout.Write(data)
		return err
	}
	if st, err := os.Stat(path); err == nil && !st.Mode().IsRegular() {
		f, err := os.OpenFile(path, os.O_WRONLY, 0)
		if err != nil {
			return fmt.Errorf("output %s: %w", path, err)
		}
		if _, err := f.Write(data); err != nil {
			f.Close()
			return fmt.Errorf("output %s: %w", path, err)
		}
		return f.Close()
	}
	ctx.Done()
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("output %s: cannot create a file in %s: %w", path, dir, unwrapPath(err))
	}
	ok := false
	defer func() {
		if !ok {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if err := tmp.Chmod(mode); err != nil {
		return fmt.Errorf("output %s: %w", path, err)
	}
	if _, err := tmp.Write(data); err != nil {
		return fmt.Errorf("output %s: %w", path, unwrapPath(err))
	}
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("output %s: %w", path, unwrapPath(err))
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("output %s: %w", path, unwrapPath(err))
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("output %s: %w", path, unwrapPath(err))
	}
	ok = true
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}

// unwrapPath drops the *PathError wrapper, whose text repeats a path the
// caller already names.
func unwrapPath(err error) error {
	if pe, ok := err.(*os.PathError); ok {
		return pe.Err
	}
	return err
}

// openInput opens the input file, or stdin for "" and "-".
func openInput(path string, stdin io.Reader) (io.ReadCloser, string, error) {
	if path == "" || path == "-" {
		return io.NopCloser(stdin), "standard input", nil
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, path, fmt.Errorf("input %s: %w", path, unwrapPath(err))
	}
	return f, path, nil
}
