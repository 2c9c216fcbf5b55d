package brokertest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
)

// Classpath returns the directory of the broker's jars, kafka/broker/.cache/lib under the
// module root, resolving it with Maven first when it is not there yet. KAFKA_CLASSPATH_DIR
// names another directory of jars (nothing is resolved then).
func Classpath(ctx context.Context) (string, error) {
	if dir := os.Getenv("KAFKA_CLASSPATH_DIR"); dir != "" {
		return dir, checkJars(dir)
	}
	root, err := moduleRoot()
	if err != nil {
		return "", err
	}
	project := filepath.Join(root, "kafka", "broker")
	lib := filepath.Join(project, ".cache", "lib")
	if checkJars(lib) == nil {
		return lib, nil
	}
	if err := os.MkdirAll(filepath.Join(project, ".cache"), 0o755); err != nil {
		return "", fmt.Errorf("brokertest: %w", err)
	}
	lock, err := os.OpenFile(filepath.Join(project, ".cache", "lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return "", fmt.Errorf("brokertest: %w", err)
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		return "", fmt.Errorf("brokertest: lock %s: %w", lock.Name(), err)
	}
	defer syscall.Flock(int(lock.Fd()), syscall.LOCK_UN) //nolint:errcheck
	if checkJars(lib) == nil {                           // another test process resolved it while this one waited
		return lib, nil
	}
	mvn, err := exec.LookPath("mvn")
	if err != nil {
		return "", errors.New("brokertest: the Kafka broker's classpath is not resolved and mvn is not installed (apt-get install -y maven), or set KAFKA_BROKERS")
	}
	tmp, err := os.MkdirTemp(filepath.Join(project, ".cache"), "lib-")
	if err != nil {
		return "", fmt.Errorf("brokertest: %w", err)
	}
	defer os.RemoveAll(tmp)
	cmd := exec.CommandContext(ctx, mvn, "-q", "-B", "-f", filepath.Join(project, "pom.xml"),
		"dependency:copy-dependencies", "-DoutputDirectory="+tmp, "-DincludeScope=runtime")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("brokertest: resolving the broker's classpath (%s): %w\n%s", cmd, err, out)
	}
	if err := checkJars(tmp); err != nil {
		return "", err
	}
	_ = os.RemoveAll(lib)
	if err := os.Rename(tmp, lib); err != nil {
		return "", fmt.Errorf("brokertest: %w", err)
	}
	return lib, nil
}

// checkJars reports whether dir holds the broker's jar.
func checkJars(dir string) error {
	m, _ := filepath.Glob(filepath.Join(dir, "kafka_2.13-*.jar"))
	if len(m) == 0 {
		return fmt.Errorf("brokertest: no kafka_2.13 jar in %s", dir)
	}
	return nil
}

// moduleRoot is the directory of go.mod above the working directory (a test runs in its
// package's directory).
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("brokertest: %w", err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("brokertest: no go.mod above the working directory; set KAFKA_CLASSPATH_DIR")
		}
		dir = parent
	}
}
