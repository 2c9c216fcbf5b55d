package main

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/paystream/paystream/audit"
)

func readAnchorKey(path string) (ed25519.PrivateKey, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	k, err := audit.ParseKey(string(b))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err) // never the key itself
	}
	return k, nil
}

// anchorKey is the anchors' signing key: PAYSTREAM_ANCHOR_KEY_FILE's; in the embedded
// default one made once and kept in the data directory (anchor.key, 0600) or, in memory,
// for this run; otherwise none (anchors off).
func anchorKey(cfg Config) (ed25519.PrivateKey, error) {
	if cfg.Access.AnchorKeyFile != "" {
		k, err := readAnchorKey(cfg.Access.AnchorKeyFile)
		if err != nil {
			return nil, fmt.Errorf("PAYSTREAM_ANCHOR_KEY_FILE: %w", err)
		}
		return k, nil
	}
	if !cfg.Access.DevKeys {
		return nil, nil
	}
	if cfg.DataDir == "" {
		_, k, err := ed25519.GenerateKey(rand.Reader)
		return k, err
	}
	path := filepath.Join(cfg.DataDir, "anchor.key")
	k, err := readAnchorKey(path)
	if errors.Is(err, fs.ErrNotExist) {
		_, k, _ = ed25519.GenerateKey(rand.Reader)
		if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
			return nil, fmt.Errorf("PAYSTREAM_DATA_DIR: %w", err)
		}
		err = os.WriteFile(path, []byte(audit.FormatKey(k)+"\n"), 0o600)
	}
	if err != nil {
		return nil, fmt.Errorf("PAYSTREAM_DATA_DIR: %w", err)
	}
	return k, nil
}

// startAnchors records anchors every PAYSTREAM_ANCHOR_INTERVAL until ctx ends; nil when
// anchors are off.
func startAnchors(ctx context.Context, cfg Config, store audit.AnchorStore, log *slog.Logger) (*audit.Anchorer, error) {
	key, err := anchorKey(cfg)
	if err != nil {
		return nil, err
	}
	if key == nil || cfg.Access.AnchorInterval == 0 {
		log.Warn("anchors off: set PAYSTREAM_ANCHOR_KEY_FILE and PAYSTREAM_ANCHOR_INTERVAL to record signed anchors")
		return nil, nil
	}
	an := audit.NewAnchorer(store, key, log)
	go func() {
		if err := an.Run(ctx, cfg.Access.AnchorInterval); err != nil && !errors.Is(err, context.Canceled) {
			log.Error("anchorer stopped", "err", err)
		}
	}()
	return an, nil
}
