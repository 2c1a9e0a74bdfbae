package core

import "github.com/keyunlock/keyunlock/internal/pgp"

// Names of the varlink interfaces served by the daemon.
const (
	// VarlinkInterface is keyunlock's own interface.
	VarlinkInterface = "io.keyunlock.Keystore"
	// VarlinkServiceInterface is the introspection interface every varlink service implements.
	VarlinkServiceInterface = "org.varlink.service"
)

// Qualified varlink error names sent by the daemon.
const (
	ErrNameKeyLocked        = VarlinkInterface + ".KeyLocked"
	ErrNameNoKey            = VarlinkInterface + ".NoKey"
	ErrNameBadSecret        = VarlinkInterface + ".BadSecret"
	ErrNamePINBlocked       = VarlinkInterface + ".PINBlocked"
	ErrNameInvalidParameter = VarlinkInterface + ".InvalidParameter"
	ErrNameFailed           = VarlinkInterface + ".Failed"
	ErrNameBusy             = VarlinkInterface + ".Busy"

	ErrNameInterfaceNotFound = VarlinkServiceInterface + ".InterfaceNotFound"
	ErrNameMethodNotFound    = VarlinkServiceInterface + ".MethodNotFound"
	ErrNameServiceInvalid    = VarlinkServiceInterface + ".InvalidParameter"
	ErrNamePermissionDenied  = VarlinkServiceInterface + ".PermissionDenied"
)

// keystoreDescription is the varlink interface definition of
// io.keyunlock.Keystore, returned by GetInterfaceDescription. Binary values
// (secrets, PKESK bodies, session keys, messages) travel as standard base64.
const keystoreDescription = `# keyunlock's private key store: soft keys and OpenPGP cards.
# A client lists keys, unlocks them with a passphrase or PIN, and has
# session keys decrypted. The daemon never prompts on behalf of a
# client: when only locked keys could decrypt, the call fails with
# KeyLocked and the client prompts, calls Unlock and tries again.
# Binary values are standard base64 strings.
interface io.keyunlock.Keystore

# One private key, without its secret.
type Key (
  fingerprint: string,
  keyid: string,
  algorithm: string,
  capabilities: []string,
  source: string,
  lock: string,
  locked: bool,
  available: bool,
  reason: ?string,
  tries_left: int,
  primary: ?string,
  uid: ?string
)

# A key that matched a PKESK, and why it was not used.
type Candidate (
  key: Key,
  reason: string
)

# Lists every key of every backend.
# problem names the devices that could not be read, if any.
method ListKeys() -> (keys: []Key, problem: ?string)

# Unlocks the key selected by a fingerprint or key ID in hex (or the only
# locked key when key is absent) with a passphrase or PIN (base64).
# force allows a PIN VERIFY when only one try is left.
method Unlock(key: ?string, secret: string, force: ?bool) -> ()

# Locks the selected key, or every key when key is absent.
method Lock(key: ?string) -> ()

# Decrypts a session key. pkesks are the bodies of the message's PKESK
# packets (tag 1, without packet header), base64. The reply names the
# PKESK used, the key, and the session key with its symmetric algorithm
# (0 for a v6 PKESK, whose SEIPDv2 packet names it).
method Decrypt(pkesks: []string) -> (
  index: int,
  fingerprint: string,
  source: string,
  algorithm: int,
  session_key: string
)

# Decrypts a small complete OpenPGP message (base64, binary or armored)
# and returns its plaintext (base64) once it is authenticated.
method DecryptMessage(message: string) -> (
  plaintext: string,
  filename: ?string,
  index: int,
  fingerprint: string,
  source: string
)

# Describes the daemon.
method Status() -> (
  version: string,
  pid: int,
  uptime_seconds: int,
  keys: int,
  unlocked: int,
  connections: int,
  cache_ttl_seconds: int,
  key_provider: bool,
  initrd: bool
)

# Only locked keys could decrypt: unlock one of the candidates and retry.
error KeyLocked (message: string, candidates: []Candidate)

# No key can decrypt any PKESK.
error NoKey (message: string, recipients: []string, candidates: []Candidate)

# The passphrase or PIN was wrong.
error BadSecret (message: string)

# The card's PIN is blocked, or (last_try) only one try is left and
# Unlock was not forced.
error PINBlocked (message: string, last_try: bool)

# A parameter is malformed (bad base64, not a PKESK, not OpenPGP...).
error InvalidParameter (parameter: string, message: string)

# Anything else; message says what failed and what to do.
error Failed (message: string)

# The daemon serves its maximum number of connections; retry later.
error Busy (message: string)
`

// serviceDescription is the standard org.varlink.service interface.
const serviceDescription = `# The Varlink Service Interface is provided by every varlink service. It
# describes the service and the interfaces it implements.
interface org.varlink.service

# Get a list of all the interfaces a service provides and information
# about the implementation.
method GetInfo() -> (
  vendor: string,
  product: string,
  version: string,
  url: string,
  interfaces: []string
)

# Get the description of an interface that is implemented by this service.
method GetInterfaceDescription(interface: string) -> (description: string)

# The requested interface was not found.
error InterfaceNotFound (interface: string)

# The requested method was not found
error MethodNotFound (method: string)

# The interface defines the requested method, but the service does not
# implement it.
error MethodNotImplemented (method: string)

# One of the passed parameters is invalid.
error InvalidParameter (parameter: string)

# Client is denied access
error PermissionDenied ()

# Method is expected to be called with 'more' set to true, but wasn't
error ExpectedMore ()
`

// Wire parameters of io.keyunlock.Keystore.

type vlListKeysReply struct {
	Keys    []KeyInfo `json:"keys"`
	Problem string    `json:"problem,omitempty"`
}

type vlUnlockArgs struct {
	Key    string `json:"key,omitempty"`
	Secret []byte `json:"secret"`
	Force  bool   `json:"force,omitempty"`
}

type vlLockArgs struct {
	Key string `json:"key,omitempty"`
}

type vlDecryptArgs struct {
	PKESKs [][]byte `json:"pkesks"`
}

type vlDecryptReply struct {
	Index       int    `json:"index"`
	Fingerprint string `json:"fingerprint"`
	Source      string `json:"source"`
	Algorithm   int    `json:"algorithm"`
	SessionKey  []byte `json:"session_key"`
}

type vlDecryptMessageArgs struct {
	Message []byte `json:"message"`
}

type vlDecryptMessageReply struct {
	Plaintext   []byte `json:"plaintext"`
	FileName    string `json:"filename,omitempty"`
	Index       int    `json:"index"`
	Fingerprint string `json:"fingerprint"`
	Source      string `json:"source"`
}

// DaemonStatus is the reply of io.keyunlock.Keystore.Status.
type DaemonStatus struct {
	Version         string `json:"version"`
	PID             int    `json:"pid"`
	UptimeSeconds   int64  `json:"uptime_seconds"`
	Keys            int    `json:"keys"`
	Unlocked        int    `json:"unlocked"`
	Connections     int    `json:"connections"`
	CacheTTLSeconds int64  `json:"cache_ttl_seconds"`
	KeyProvider     bool   `json:"key_provider"`
	Initrd          bool   `json:"initrd"`
}

type vlGetInfoReply struct {
	Vendor     string   `json:"vendor"`
	Product    string   `json:"product"`
	Version    string   `json:"version"`
	URL        string   `json:"url"`
	Interfaces []string `json:"interfaces"`
}

type vlGetInterfaceDescriptionArgs struct {
	Interface string `json:"interface"`
}

type vlGetInterfaceDescriptionReply struct {
	Description string `json:"description"`
}

func cipherFunction(n int) pgp.CipherFunction { return pgp.CipherFunction(n) }
