// Package unixsock is keyunlock's small AF_UNIX socket layer: listening,
// accepting and dialling stream sockets, reading the peer's credentials and
// address, and datagram sockets for the password agent protocol and
// sd_notify. It exists so that the binary does without package net (its
// resolver, DNS parser and initialisation cost size and start-up time, and
// pull in runtime/cgo when cgo is enabled) while keeping net's behaviour
// where keyunlock relies on it.
//
// Every socket is a non-blocking, close-on-exec descriptor wrapped in an
// os.File, so it is registered with the Go runtime's poller: reads, writes,
// accepts and connects park the goroutine instead of a thread, deadlines
// work (expired ones report os.ErrDeadlineExceeded), and Close unblocks an
// operation in progress on another goroutine (which then reports
// os.ErrClosed). A peer that closes its end cleanly reads as io.EOF; a
// reset connection reports an error matching syscall.ECONNRESET.
//
// Names starting with '@' are abstract addresses (Linux): "@x" is the
// address "\x00x". Other names are file system paths.
package unixsock
