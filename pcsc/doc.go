// Package pcsc is a pure-Go client of pcsc-lite's daemon, pcscd. It speaks
// pcscd's UNIX-socket protocol directly, so keyunlock reaches smart cards
// without libpcsclite and without cgo, in a static binary and in an initrd.
//
// The API follows the PC/SC model as github.com/ebfe/scard exposes it:
// EstablishContext, Context.ListReaders, Context.GetStatusChange,
// Context.Connect, Card.Transmit, Card.BeginTransaction and so on, with the
// same constant names.
//
// # Finding pcscd
//
// The socket is $PCSCLITE_CSOCK_NAME if set, otherwise
// /run/pcscd/pcscd.comm; WithSocket overrides both. If nothing listens there,
// EstablishContext fails at once with an error that matches ErrNoService and
// says "pcscd is not running at <path>".
//
// # Protocol versions
//
// The client offers protocol 4.4 (pcsc-lite 1.9 to 2.2) and, when the server
// answers SCARD_E_SERVICE_STOPPED with a proposal of its own (4.5 for
// pcsc-lite 2.3 to 2.4.0, 4.6 for 2.5), retries with the proposal on the same
// socket. WithVersion offers 4.6 first, which lifts the 16-reader limit on
// pcsc-lite 2.5. The wire formats of 4.4, 4.5 and 4.6 are all supported.
//
// # Deadlines
//
// Every exchange with pcscd has a deadline (WithCallTimeout, 20 s by
// default), so a hung or killed pcscd produces an error, never a hang.
// Transmit and Control have their own, longer deadline (WithTransmitTimeout,
// 60 s by default) because a card may legitimately wait for a touch. After a
// deadline expires or the connection breaks, the Context is unusable and
// every call reports the original failure; establish a new one.
//
// # Concurrency
//
// A Context owns one socket, and pcscd's protocol is strictly one request,
// one reply. A Context and its Cards are safe for concurrent use: a mutex
// serializes the exchanges. A GetStatusChange in progress therefore blocks
// the other calls on the same Context until it returns; wait on a Context of
// its own, and interrupt it with Cancel or its context.Context.
//
// # Sharing violations
//
// Connect, BeginTransaction, Transmit and Status are retried every 100 ms
// while pcscd answers SCARD_E_SHARING_VIOLATION (another process holds the
// card), up to WithSharingTimeout (10 s by default).
package pcsc
