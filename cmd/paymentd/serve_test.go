package main

import (
	"io"
	"net"
	"net/http"
	"strconv"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

var _ = Describe("paymentd's listener", func() {
	var (
		addr    string
		reached chan struct{}
	)
	BeforeEach(func() {
		reached = make(chan struct{}, 8)
		h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, err := io.ReadAll(r.Body)
			reached <- struct{}{}
			if err != nil {
				http.Error(w, err.Error(), http.StatusRequestTimeout)
				return
			}
			w.WriteHeader(http.StatusNoContent)
		})
		srv, a, err := serve(h, "127.0.0.1:0", timeouts{header: 300 * time.Millisecond, read: 600 * time.Millisecond,
			write: time.Second, idle: time.Second})
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(srv.Close)
		addr = a
	})

	// trickle writes s a byte at a time every interval until the server closes the
	// connection, and returns how long that took.
	trickle := func(conn net.Conn, s string, interval time.Duration) time.Duration {
		start := time.Now()
		for i := 0; i < len(s); i++ {
			if _, err := conn.Write([]byte{s[i]}); err != nil {
				return time.Since(start)
			}
			time.Sleep(interval)
		}
		_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		_, _ = io.ReadAll(conn) // until the server hangs up
		return time.Since(start)
	}

	It("cuts off a client that sends its headers a byte at a time", func() {
		conn, err := net.Dial("tcp", addr)
		Expect(err).NotTo(HaveOccurred())
		defer conn.Close()
		took := trickle(conn, "POST /v1/checkout HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nX-Padding: "+
			"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\n", 50*time.Millisecond)
		Expect(took).To(BeNumerically("<", 3*time.Second))
		Expect(reached).NotTo(Receive(), "the handler never ran")
	})

	It("cuts off a client that sends its body a byte at a time", func() {
		conn, err := net.Dial("tcp", addr)
		Expect(err).NotTo(HaveOccurred())
		defer conn.Close()
		body := `{"buyerId":"buyer-1","items":[{"productId":"book-kia","quantity":1}],"padding":"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"}`
		_, err = io.WriteString(conn, "POST /v1/checkout HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: "+
			strconv.Itoa(len(body))+"\r\n\r\n")
		Expect(err).NotTo(HaveOccurred())
		took := trickle(conn, body, 50*time.Millisecond)
		Expect(took).To(BeNumerically("<", 3*time.Second), "a %d-byte body at 20 bytes/s would take %s", len(body), 50*time.Millisecond*time.Duration(len(body)))
		Eventually(reached).Should(Receive())
	})

	It("serves a client that sends promptly", func() {
		resp, err := http.Post("http://"+addr+"/v1/checkout", "application/json", nil)
		Expect(err).NotTo(HaveOccurred())
		resp.Body.Close()
		Expect(resp.StatusCode).To(Equal(http.StatusNoContent))
	})

	It("bounds every listener paymentd opens", func() {
		t := serverTimeouts(Config{ConfirmTimeout: 15 * time.Second})
		Expect([]time.Duration{t.header, t.read, t.write, t.idle}).NotTo(ContainElement(BeZero()))
		Expect(t.write).To(BeNumerically(">", 15*time.Second), "a confirm has time to finish before its answer is due")
		op := operatorTimeouts(Config{ConfirmTimeout: 15 * time.Second})
		Expect([]time.Duration{op.header, op.read, op.write, op.idle}).NotTo(ContainElement(BeZero()))
		Expect(op.write).To(BeNumerically(">", 30*time.Second), "pprof's default 30 s CPU profile can be written")
	})
})
