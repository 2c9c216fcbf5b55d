package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/paystream/paystream/access"
)

// accessConfig validates the API key variables for LoadConfig. Errors name the variable
// and the line, never echo a key.
func accessConfig(cfg Config, keys, file, rate string, bad func(name, format string, args ...any)) AccessConfig {
	ac := AccessConfig{KeysFile: file}
	var err error
	if ac.Keys, err = access.ParseKeys(strings.NewReader(keys)); err != nil {
		bad("PAYSTREAM_API_KEYS", "%v", err)
	}
	if file != "" {
		if _, err := readKeysFile(file); err != nil {
			bad("PAYSTREAM_API_KEYS_FILE", "%v", err)
		}
	}
	if ac.WriteRate, err = access.ParseRate(rate); err != nil {
		bad("PAYSTREAM_RATE_LIMIT", "%v", err)
	}
	if keys == "" && file == "" {
		if cfg.TossAPIURL == "" || strings.HasPrefix(string(cfg.TossSecretKey), "test_") {
			ac.DevKeys = true
		} else {
			bad("PAYSTREAM_API_KEYS", "no API key is configured (set it or PAYSTREAM_API_KEYS_FILE); development keys are made only with the simulator or a Toss test key")
		}
	}
	return ac
}

func readKeysFile(path string) ([]access.Key, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	keys, err := access.ParseKeys(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return keys, nil
}

// configuredKeys are the keys of PAYSTREAM_API_KEYS and PAYSTREAM_API_KEYS_FILE as they
// are now (the file is read again: this is also the reload on SIGHUP).
func configuredKeys(ac AccessConfig) ([]access.Key, error) {
	keys := append([]access.Key(nil), ac.Keys...)
	if ac.KeysFile != "" {
		more, err := readKeysFile(ac.KeysFile)
		if err != nil {
			return nil, fmt.Errorf("PAYSTREAM_API_KEYS_FILE: %w", err)
		}
		keys = append(keys, more...)
	}
	return keys, nil
}

// devKeysFile is where the embedded default keeps its development keys in a data
// directory, so that they survive restarts.
const devKeysFile = "dev-keys.env"

// devRoles are the development keys' names and the variables that hold their tokens.
var devRoles = []struct {
	name, variable string
	role           access.Role
}{
	{"dev-merchant", "PAYSTREAM_MERCHANT_KEY", access.Merchant},
	{"dev-operator", "PAYSTREAM_OPERATOR_KEY", access.Operator},
	{"dev-auditor", "PAYSTREAM_AUDITOR_KEY", access.Auditor},
}

// developmentKeys makes one key per role (or reads them back from dataDir), prints them to
// stdout as shell assignments, and writes them to dataDir/dev-keys.env (mode 0600) when
// there is a data directory. Only the embedded default calls it: tokens are printed here
// and nowhere else.
func developmentKeys(dataDir string, stdout io.Writer) ([]access.Key, error) {
	tokens := map[string]access.Token{}
	path := ""
	if dataDir != "" {
		path = filepath.Join(dataDir, devKeysFile)
		if f, err := os.Open(path); err == nil {
			sc := bufio.NewScanner(f)
			for sc.Scan() {
				if k, v, ok := strings.Cut(strings.TrimPrefix(sc.Text(), "export "), "="); ok {
					tokens[k] = access.Token(v)
				}
			}
			f.Close()
		} else if !errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("PAYSTREAM_DATA_DIR: %w", err)
		}
	}
	var (
		keys  []access.Key
		lines strings.Builder
	)
	lines.WriteString("# paystream development API keys (embedded default; never with real money)\n")
	for _, d := range devRoles {
		t := tokens[d.variable]
		if !strings.HasPrefix(string(t), "psk_") {
			t = access.NewToken()
		}
		keys = append(keys, access.Key{Name: d.name, Role: d.role, Hash: access.HashOf(t)})
		fmt.Fprintf(&lines, "export %s=%s\n", d.variable, t.Reveal())
	}
	if path != "" {
		if err := os.MkdirAll(dataDir, 0o700); err != nil {
			return nil, fmt.Errorf("PAYSTREAM_DATA_DIR: %w", err)
		}
		if err := os.WriteFile(path, []byte(lines.String()), 0o600); err != nil {
			return nil, fmt.Errorf("PAYSTREAM_DATA_DIR: %w", err)
		}
		fmt.Fprintf(stdout, "development API keys written to %s\n", path)
	}
	fmt.Fprint(stdout, lines.String())
	return keys, nil
}

// startKeys is the keyring paymentd authenticates with: the configured keys, re-read on
// SIGHUP when they come from a file, or the embedded default's development keys.
func startKeys(ctx context.Context, cfg Config, stdout io.Writer, log *slog.Logger) (*access.Keyring, error) {
	if cfg.Access.DevKeys {
		keys, err := developmentKeys(cfg.DataDir, stdout)
		if err != nil {
			return nil, err
		}
		return access.NewKeyring(keys), nil
	}
	keys, err := configuredKeys(cfg.Access)
	if err != nil {
		return nil, err
	}
	ring := access.NewKeyring(keys)
	log.Info("api keys loaded", "keys", ring.Len())
	if cfg.Access.KeysFile != "" {
		hup := make(chan os.Signal, 1)
		signal.Notify(hup, syscall.SIGHUP)
		go func() {
			defer signal.Stop(hup)
			for {
				select {
				case <-ctx.Done():
					return
				case <-hup:
					keys, err := configuredKeys(cfg.Access)
					if err != nil {
						log.Error("api keys not reloaded; the previous keys stay in force", "err", err)
						continue
					}
					ring.Replace(keys)
					log.Info("api keys reloaded", "keys", len(keys))
				}
			}
		}()
	}
	return ring, nil
}
