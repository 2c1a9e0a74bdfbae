module github.com/keyunlock/keyunlock

go 1.26.0

require (
	github.com/ProtonMail/go-crypto v1.5.2
	github.com/ebfe/scard v0.0.0-20241214075232-7af069cabc25 // test-only: differential test behind -tags scard (cgo)
	golang.org/x/crypto v0.41.0
	golang.org/x/sys v0.50.0
)

require github.com/cloudflare/circl v1.6.3
