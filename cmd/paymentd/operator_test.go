package main

import (
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

// listeningPorts returns the TCP ports this process listens on (Linux: its socket inodes in
// /proc/self/fd matched against the LISTEN rows of /proc/self/net/tcp and tcp6).
func listeningPorts() []int {
	GinkgoHelper()
	fds, err := filepath.Glob("/proc/self/fd/*")
	Expect(err).NotTo(HaveOccurred())
	mine := map[string]bool{}
	for _, fd := range fds {
		if l, err := os.Readlink(fd); err == nil && strings.HasPrefix(l, "socket:[") {
			mine[strings.TrimSuffix(strings.TrimPrefix(l, "socket:["), "]")] = true
		}
	}
	var ports []int
	for _, table := range []string{"/proc/self/net/tcp", "/proc/self/net/tcp6"} {
		data, err := os.ReadFile(table)
		Expect(err).NotTo(HaveOccurred())
		for _, row := range strings.Split(string(data), "\n")[1:] {
			f := strings.Fields(row) // sl local_address rem_address st … inode
			if len(f) < 10 || f[3] != "0A" || !mine[f[9]] {
				continue
			}
			_, hexPort, _ := strings.Cut(f[1], ":")
			p, err := strconv.ParseInt(hexPort, 16, 32)
			Expect(err).NotTo(HaveOccurred())
			ports = append(ports, int(p))
		}
	}
	return ports
}

// announcedPorts are the ports of the listeners paymentd's stdout names.
func announcedPorts(out string) []int {
	GinkgoHelper()
	var ports []int
	for _, m := range regexp.MustCompile(`(?:listening on|listener on) (?:http://)?(\S+)`).FindAllStringSubmatch(out, -1) {
		_, p, err := net.SplitHostPort(m[1])
		Expect(err).NotTo(HaveOccurred())
		n, _ := strconv.Atoi(p)
		ports = append(ports, n)
	}
	return ports
}

func get(url string, header ...string) (int, string) {
	GinkgoHelper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	Expect(err).NotTo(HaveOccurred())
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	Expect(err).NotTo(HaveOccurred())
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	Expect(err).NotTo(HaveOccurred())
	return resp.StatusCode, string(body)
}

var _ = Describe("the operator listener (PAYSTREAM_OPERATOR_ADDR)", func() {
	var before []int
	BeforeEach(func() { before = listeningPorts() })

	// opened is what paymentd listens on beyond what this process did before it started.
	opened := func() []int {
		var ports []int
		for _, p := range listeningPorts() {
			if !slices.Contains(before, p) {
				ports = append(ports, p)
			}
		}
		return ports
	}

	It("serves pprof and metrics there, and neither on the API address, even to an operator", func() {
		inst, out := startPaymentdOut(map[string]string{"PAYSTREAM_OPERATOR_ADDR": "127.0.0.1:0"})
		DeferCleanup(inst.stop)
		m := regexp.MustCompile(`operator listener on (http://\S+)`).FindStringSubmatch(out.String())
		Expect(m).NotTo(BeNil(), "announced on stdout")
		operator := m[1]

		status, body := get(operator + "/debug/pprof/")
		Expect(status).To(Equal(http.StatusOK))
		Expect(body).To(ContainSubstring("goroutine"))
		status, body = get(operator + "/debug/pprof/heap?debug=1")
		Expect(status).To(Equal(http.StatusOK))
		Expect(body).To(ContainSubstring("heap profile"))
		status, body = get(operator + "/metrics")
		Expect(status).To(Equal(http.StatusOK))
		Expect(body).To(ContainSubstring("go_goroutines"))

		asOperator := []string{"Authorization", "Bearer " + operatorToken.Reveal()}
		for _, path := range []string{"/debug/pprof/", "/debug/pprof/heap", "/debug/pprof/profile?seconds=1", "/debug/pprof/cmdline"} {
			status, _ := get(inst.url+path, asOperator...)
			Expect(status).To(Equal(http.StatusNotFound), path)
		}
		Expect(opened()).To(ConsistOf(announcedPorts(out.String())), "the API, the simulator, Kafka and the operator listener")
	})

	It("opens no operator listener when the variable is unset", func() {
		inst, out := startPaymentdOut(nil)
		DeferCleanup(inst.stop)
		Expect(out.String()).NotTo(ContainSubstring("operator listener"))
		Expect(announcedPorts(out.String())).To(HaveLen(3), "the API, the simulator and Kafka")
		Expect(opened()).To(ConsistOf(announcedPorts(out.String())), "nothing listens beyond them")
	})
})
