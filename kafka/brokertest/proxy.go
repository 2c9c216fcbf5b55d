package brokertest

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// Verdict is what a control function decides about a request.
type Verdict int

const (
	// Pass sends the request on to the broker.
	Pass Verdict = iota
	// Drop closes the client's connection without sending the request, as a client that
	// died before the broker read it.
	Drop
)

// ControlFunc sees each client request of the api key it was installed for, decoded. It
// runs on the connection's goroutine: while it blocks, the request (and any request the
// client pipelined after it on that connection) is held.
type ControlFunc func(req kmsg.Request) Verdict

// proxy forwards client connections to the broker's listener, letting control functions
// hold or drop requests. Safe for concurrent use.
type proxy struct {
	ln     net.Listener
	target string

	mu       sync.Mutex
	controls map[int16][]ControlFunc
	conns    map[net.Conn]struct{}
}

func newProxy(ln net.Listener, target string) *proxy {
	p := &proxy{ln: ln, target: target, controls: map[int16][]ControlFunc{}, conns: map[net.Conn]struct{}{}}
	go p.accept()
	return p
}

func (p *proxy) control(key int16, fn ControlFunc) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.controls[key] = append(p.controls[key], fn)
}

func (p *proxy) controlsOf(key int16) []ControlFunc {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.controls[key]
}

// dropAll closes every proxied connection (the broker died under them).
func (p *proxy) dropAll() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for c := range p.conns {
		_ = c.Close()
	}
}

func (p *proxy) track(c net.Conn, add bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if add {
		p.conns[c] = struct{}{}
	} else {
		delete(p.conns, c)
	}
}

func (p *proxy) close() {
	_ = p.ln.Close()
	p.dropAll()
}

func (p *proxy) accept() {
	for {
		client, err := p.ln.Accept()
		if err != nil {
			return
		}
		go p.serve(client)
	}
}

func (p *proxy) serve(client net.Conn) {
	p.track(client, true)
	defer p.track(client, false)
	defer client.Close()
	broker, err := net.Dial("tcp", p.target)
	if err != nil {
		return
	}
	p.track(broker, true)
	defer p.track(broker, false)
	defer broker.Close()
	go func() {
		_, _ = io.Copy(client, broker)
		_ = client.Close()
	}()
	var size [4]byte
	for {
		if _, err := io.ReadFull(client, size[:]); err != nil {
			return
		}
		n := binary.BigEndian.Uint32(size[:])
		if n > 256<<20 {
			return
		}
		frame := make([]byte, 4+n)
		copy(frame, size[:])
		if _, err := io.ReadFull(client, frame[4:]); err != nil {
			return
		}
		if len(frame) >= 8 {
			if fns := p.controlsOf(int16(binary.BigEndian.Uint16(frame[4:]))); len(fns) > 0 {
				req, err := decodeRequest(frame[4:])
				for _, fn := range fns {
					if err == nil && fn(req) == Drop {
						return
					}
				}
			}
		}
		if _, err := broker.Write(frame); err != nil {
			return
		}
	}
}

// decodeRequest decodes a request (its header, then its body) from a frame without its
// size.
func decodeRequest(b []byte) (kmsg.Request, error) {
	if len(b) < 10 {
		return nil, errors.New("short request")
	}
	key, version := int16(binary.BigEndian.Uint16(b)), int16(binary.BigEndian.Uint16(b[2:]))
	req := kmsg.RequestForKey(key)
	if req == nil {
		return nil, fmt.Errorf("unknown api key %d", key)
	}
	req.SetVersion(version)
	b = b[8:] // key, version, correlation id
	clientID := int16(binary.BigEndian.Uint16(b))
	b = b[2:]
	if clientID > 0 {
		if int(clientID) > len(b) {
			return nil, errors.New("short client id")
		}
		b = b[clientID:]
	}
	if req.IsFlexible() { // request header v2: tagged fields
		tags, n := binary.Uvarint(b)
		if n <= 0 {
			return nil, errors.New("bad tagged fields")
		}
		b = b[n:]
		for range tags {
			_, n := binary.Uvarint(b)
			if n <= 0 {
				return nil, errors.New("bad tag")
			}
			b = b[n:]
			size, n := binary.Uvarint(b)
			if n <= 0 || int(size) > len(b)-n {
				return nil, errors.New("bad tag size")
			}
			b = b[n+int(size):]
		}
	}
	if err := req.ReadFrom(b); err != nil {
		return nil, err
	}
	return req, nil
}
