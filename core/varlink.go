package core

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"sync"
)

// Varlink framing: every message is one JSON object followed by a NUL byte
// (https://varlink.org/Method-Call). A call names the method as
// "interface.Method" and carries "parameters" and the optional "oneway",
// "more" and "upgrade" flags; a reply carries "parameters", or "error" with
// the qualified error name and the error's parameters, and "continues" while
// more replies to the same call follow.

// varlinkCall is one method call as read from the wire.
type varlinkCall struct {
	Method     string  `json:"method"`
	Parameters rawJSON `json:"parameters,omitempty"`
	Oneway     bool    `json:"oneway,omitempty"`
	More       bool    `json:"more,omitempty"`
	Upgrade    bool    `json:"upgrade,omitempty"`
}

// varlinkReply is one reply as written to the wire.
type varlinkReply struct {
	Parameters any    `json:"parameters"`
	Continues  bool   `json:"continues,omitempty"`
	Error      string `json:"error,omitempty"`

	// wipe, when set, zeroes the secrets the parameters hold once the
	// reply is written (or dropped).
	wipe func()
}

// VarlinkError is a varlink error reply: a qualified name such as
// "io.keyunlock.Keystore.KeyLocked" and the error's parameters.
type VarlinkError struct {
	Name       string
	Parameters map[string]any
}

// Error returns the error's message parameter when it has one, else its
// name and parameters.
func (e *VarlinkError) Error() string {
	if m, ok := e.Parameters["message"].(string); ok && m != "" {
		return m
	}
	if len(e.Parameters) == 0 {
		return "varlink error " + e.Name
	}
	p, _ := marshalJSON(e.Parameters)
	return fmt.Sprintf("varlink error %s %s", e.Name, p)
}

// errMessageTooLarge is returned by readMessage when a message exceeds the cap.
var errMessageTooLarge = errors.New("varlink message too large")

// errUnterminated is returned by readMessage when the stream ends inside a message.
var errUnterminated = errors.New("varlink message not terminated by NUL before end of stream")

// readMessage reads one NUL-terminated message of at most max bytes (the NUL
// excluded) and returns it without the NUL, in a buffer of its own. io.EOF
// means a clean end of stream between messages.
func readMessage(r *bufio.Reader, max int) ([]byte, error) {
	var buf []byte
	msg, err := readMessageInto(r, &buf, max)
	if err != nil {
		return nil, err
	}
	return append(make([]byte, 0, len(msg)), msg...), nil
}

// readMessageInto is readMessage without a copy per message: a message that
// fits in r's buffer is returned in place, a longer one is assembled in
// *buf, which keeps its capacity for the next call unless it grew past
// maxPooledBuffer. The message is valid until the next read from r; the
// caller wipes it when it may hold a secret.
func readMessageInto(r *bufio.Reader, buf *[]byte, max int) ([]byte, error) {
	chunk, err := r.ReadSlice(0)
	if err == nil {
		if len(chunk) > max+1 {
			return nil, errMessageTooLarge
		}
		return chunk[:len(chunk)-1], nil
	}
	msg := (*buf)[:0]
	defer func() {
		if cap(msg) <= maxPooledBuffer {
			*buf = msg[:0]
		} else {
			*buf = nil
		}
	}()
	for {
		if len(msg)+len(chunk) > max+1 {
			Wipe(msg)
			return nil, errMessageTooLarge
		}
		msg = append(msg, chunk...)
		switch {
		case err == nil:
			return msg[:len(msg)-1], nil
		case errors.Is(err, bufio.ErrBufferFull):
		case errors.Is(err, io.EOF):
			if len(msg) == 0 {
				return nil, io.EOF
			}
			Wipe(msg)
			return nil, errUnterminated
		default:
			Wipe(msg)
			return nil, err
		}
		chunk, err = r.ReadSlice(0)
	}
}

// encoders recycles the buffers of writeMessage: a call or reply is encoded
// on every request. Buffers are wiped before they go back.
var encoders = sync.Pool{New: func() any { return new(jsonWriter) }}

// maxPooledBuffer is the largest buffer kept for reuse; larger ones (a big
// DecryptMessage reply) are left to the garbage collector.
const maxPooledBuffer = 64 << 10

// writeWiped writes b, an encoded message that may carry a secret, to w in
// one write, zeroes it, and keeps it in *buf for the next message unless it
// grew past maxPooledBuffer.
func writeWiped(w io.Writer, b []byte, buf *[]byte) error {
	_, err := w.Write(b)
	Wipe(b)
	if cap(b) <= maxPooledBuffer {
		*buf = b[:0]
	}
	return err
}

// writeMessage writes v as JSON followed by NUL in one write.
func writeMessage(w io.Writer, v any) error {
	e := encoders.Get().(*jsonWriter)
	defer func() {
		// The message may carry a secret (a passphrase, a session key, a
		// plaintext) in base64: zero the encoding.
		Wipe(e.b)
		e.b = e.b[:0]
		if cap(e.b) <= maxPooledBuffer {
			encoders.Put(e)
		}
	}()
	if err := e.value(v); err != nil {
		return err
	}
	e.b = append(e.b, 0)
	_, err := w.Write(e.b)
	return err
}
