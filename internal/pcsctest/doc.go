// Package pcsctest starts an isolated pcscd with vsmartcard's vpcd driver for
// tests, and plugs virtual cards into it.
//
// Every Server is a private pcscd: it runs in its own mount namespace with a
// fresh directory bind-mounted over /run/pcscd (so its socket and pid file
// never clash with the system's pcscd or another test's), and its vpcd slots
// listen on TCP ports picked at random (a reader.conf.d of its own passed
// with --config, CHANNELID = the port). The namespace is needed because
// pcscd 1.9.9 has /run/pcscd compiled in: it ignores PCSCLITE_CSOCK_NAME
// (checked: the socket stays at /run/pcscd/pcscd.comm) and refuses to start
// while the pid file there names a live pcscd. Several test binaries can therefore
// run at once on one machine. pcscd runs in the foreground; its log is kept
// and printed when a test fails, and it is stopped when the test ends.
//
// In a test:
//
//	srv := pcsctest.Start(t)                       // pcscd with two empty vpcd readers
//	fe := srv.InsertCard(t, 0, &vpcd.BasicCard{})  // waits until pcscd sees the card
//	ctx, err := pcsc.EstablishContext(pcsc.WithSocket(srv.Socket))
//	...
//	fe.Remove() // pull the card; fe.Insert() puts it back
//
// A client reaches the server either by passing srv.Socket to the PC/SC
// client (pcsc.WithSocket), or through the environment: srv.Env() returns
// PCSCLITE_CSOCK_NAME=<socket>, which libpcsclite, opensc-tool, pcsc_scan and
// pcsc.EstablishContext all honour. Tests that run many cases against one
// pcscd can start it in TestMain with StartServer and stop it with Close.
//
// Starting a server needs root (or unprivileged user namespaces), unshare
// from util-linux, pcscd and the vpcd driver (Debian packages pcscd and
// vsmartcard-vpcd). When they are missing, Start reports it through
// internal/testenv: a failure under make test, a skip otherwise.
package pcsctest
