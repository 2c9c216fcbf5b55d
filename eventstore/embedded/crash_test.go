package embedded_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"sync"

	"github.com/google/uuid"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/paystream/paystream/eventstore"
	"github.com/paystream/paystream/eventstore/embedded"
)

// crashChildEnv, when set to a directory, makes the test binary run crashChild instead of
// the specs.
const crashChildEnv = "EMBEDDED_CRASH_CHILD_DIR"

// crashChild appends from many goroutines until it is killed, printing one line per
// acknowledged append: "stream revision position id".
func crashChild(dir string) int {
	s, err := embedded.Open(dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for g := range 32 {
		wg.Go(func() {
			stream := fmt.Sprintf("payment-%d", g)
			for rev := eventstore.NoStream; ; rev++ {
				e := event()
				res, err := s.Append(context.Background(), stream, rev, []eventstore.Event{e})
				if err != nil {
					fmt.Fprintln(os.Stderr, err)
					os.Exit(1)
				}
				mu.Lock()
				fmt.Fprintf(os.Stdout, "%s %d %d %s\n", stream, res.Revision, res.Position, e.ID)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return 0
}

var _ = Describe("A data directory whose process is killed while appending", func() {
	It("holds every acknowledged append when opened again", func(ctx SpecContext) {
		dir := GinkgoT().TempDir()
		child := exec.CommandContext(ctx, os.Args[0])
		child.Env = append(os.Environ(), crashChildEnv+"="+dir)
		child.Stderr = GinkgoWriter
		out, err := child.StdoutPipe()
		Expect(err).NotTo(HaveOccurred())
		Expect(child.Start()).To(Succeed())

		type ack struct {
			stream   string
			revision eventstore.Revision
			position eventstore.Position
			id       uuid.UUID
		}
		var acks []ack
		lines := bufio.NewScanner(out)
		for lines.Scan() {
			var a ack
			var id string
			_, err := fmt.Sscanf(lines.Text(), "%s %d %d %s", &a.stream, &a.revision, &a.position, &id)
			Expect(err).NotTo(HaveOccurred())
			a.id, err = uuid.Parse(id)
			Expect(err).NotTo(HaveOccurred())
			acks = append(acks, a)
			if len(acks) == 3000 {
				Expect(child.Process.Kill()).To(Succeed()) // SIGKILL: no Close, no flush
			}
		}
		Expect(child.Wait()).To(MatchError(ContainSubstring("killed")))
		Expect(len(acks)).To(BeNumerically(">=", 3000))

		s, err := embedded.Open(dir)
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(s.Close)
		streams := map[string][]eventstore.RecordedEvent{}
		for _, a := range acks {
			if _, ok := streams[a.stream]; !ok {
				streams[a.stream], err = s.ReadStream(ctx, a.stream)
				Expect(err).NotTo(HaveOccurred())
			}
			events := streams[a.stream]
			Expect(len(events)).To(BeNumerically(">", a.revision), "%s@%d acknowledged but missing", a.stream, a.revision)
			got := events[a.revision]
			Expect(got.ID).To(Equal(a.id))
			Expect(got.Position).To(Equal(a.position))
		}
	})
})
